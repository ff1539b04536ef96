"""Route dependencies of work, and what its event handlers receive (``Context``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from taskflow_chassis.deps import without_transaction
from taskflow_chassis.handlers import EventContext
from taskflow_chassis.security import TokenClaims, bearer_token

from taskflow_work.replica.service import Departures
from taskflow_work.tasks.queries import TaskPages


@dataclass(frozen=True)
class Caller:
    """Who is asking, with their own token: a membership teams is asked about is theirs."""

    user_id: uuid.UUID
    token: str
    # A personal API token's scopes (None: a session's, all the member may) and the one
    # team it is restricted to (None: any of the caller's).
    scopes: frozenset[str] | None = None
    team_id: uuid.UUID | None = None


async def current_caller(request: Request, claims: TokenClaims) -> Caller:
    """The caller of a request whose token ``claims`` came from (``access.get_guard``)."""
    return Caller(
        user_id=claims.user_id,
        token=await bearer_token(request),
        scopes=claims.scopes,
        team_id=claims.team_id,
    )


async def get_task_pages(request: Request) -> TaskPages:
    pages: TaskPages = request.app.state.task_pages
    return pages


TaskPagesDep = Annotated[TaskPages, Depends(get_task_pages)]


async def one_statement_write(request: Request) -> None:
    """A task's create and a comment's are one statement on PostgreSQL
    (tasks.queries.write_at_once; a create's fails as a whole when an assignee is
    refused): there they need no transaction."""
    if request.app.state.database.dialect == "postgresql":
        without_transaction(request)


@dataclass(frozen=True)
class WorkDeps:
    departures: Departures


Context = EventContext[WorkDeps]

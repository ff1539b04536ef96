"""Entity tags: a strong ``ETag`` on every answer that is one resource, ``If-None-Match``
on its GET (304), and ``If-Match`` on the writes that change or delete it (412, 428).

The tag is a hash of the resource's representation (its read model, as canonical JSON),
not of a version column: what a client sees of a task or a member also comes from
replicas (names beside ids), which change without the row's ``updated_at`` moving. A
hash of what is answered is a strong validator by definition (RFC 9110, 8.8.1): two
answers share a tag exactly when their JSON is the same.

A write compares the tag atomically: the service function locks the row in its unit of
work (``lock``: ``SELECT ... FOR UPDATE``, refreshing what the access check loaded), builds
the representation from it and calls ``Precondition.check``; a concurrent write with the
same tag waits for the lock, then sees the new representation and answers 412.

``TASKFLOW_REQUIRE_IF_MATCH=true`` (or a service's own prefix) makes a missing
``If-Match`` on those writes answer 428.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy import Table, update
from sqlalchemy import inspect as inspect_row
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession

from taskflow_chassis.problems import ProblemError, problem_responses

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

ETAG = "ETag"
IF_MATCH = "If-Match"
IF_NONE_MATCH = "If-None-Match"
READ_METHODS = frozenset({"GET", "HEAD"})

IF_MATCH_DESCRIPTION = (
    "The resource's `ETag` as last read: the change is made only if it is still current "
    "(412 otherwise); `*` matches the resource as it is. Required (428 without it) where "
    "the deployment sets `TASKFLOW_REQUIRE_IF_MATCH`."
)
IF_NONE_MATCH_DESCRIPTION = "The `ETag` a client holds: 304 with no body while it is current."
ETAG_HEADER_DOC = {
    "description": "Strong entity tag of the resource as answered (a hash of its JSON).",
    "schema": {"type": "string"},
}


def etag_of(representation: BaseModel | Mapping[str, Any]) -> str:
    """The strong tag of a representation: a hash of its canonical JSON."""
    if isinstance(representation, BaseModel):
        data: Any = representation.model_dump(mode="json", by_alias=True)
    else:
        data = representation
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def parse_tags(header: str | None) -> tuple[str, ...] | None:
    """An If-Match or If-None-Match header as its list of tags (``("*",)``); None: absent."""
    if header is None:
        return None
    tags = tuple(part.strip() for part in header.split(",") if part.strip())
    return tags


def strong_match(tags: tuple[str, ...], current: str) -> bool:
    """If-Match's comparison (strong): a weak tag never matches."""
    return "*" in tags or current in tags


def weak_match(tags: tuple[str, ...], current: str) -> bool:
    """If-None-Match's comparison (weak): ``W/"x"`` matches ``"x"``."""
    return "*" in tags or current in {tag.removeprefix("W/") for tag in tags}


class NotModified(Exception):
    """Answered 304 with the current tag: the client's copy is current."""

    def __init__(self, etag: str) -> None:
        super().__init__(etag)
        self.etag = etag


def precondition_failed(current: str) -> ProblemError:
    return ProblemError(
        412,
        "Precondition failed",
        "The resource changed since the version If-Match names; read it again "
        "(its current tag is `etag`) and retry the change on that version.",
        type="precondition-failed",
        headers={ETAG: current},
        etag=current,
    )


def precondition_required() -> ProblemError:
    return ProblemError(
        428,
        "Precondition required",
        "This deployment changes or deletes a resource only with If-Match: send the ETag "
        "of the version you read (or `*`).",
        type="precondition-required",
    )


@dataclass(frozen=True)
class Precondition:
    """The request's If-Match; ``check`` it against the current tag, under the row's lock."""

    tags: tuple[str, ...] | None

    def check(self, current: BaseModel | Mapping[str, Any] | str) -> None:
        """412 (with the current tag) unless If-Match is absent or names ``current``."""
        if self.tags is None:
            return
        tag = current if isinstance(current, str) else etag_of(current)
        if not strong_match(self.tags, tag):
            raise precondition_failed(tag)


async def if_match(
    request: Request,
    header: Annotated[str | None, Header(alias=IF_MATCH, description=IF_MATCH_DESCRIPTION)] = None,
) -> Precondition:
    """The route's If-Match; 428 when the deployment requires one and it is absent."""
    tags = parse_tags(header)
    if tags is None and getattr(request.app.state.settings, "require_if_match", False):
        raise precondition_required()
    return Precondition(tags)


IfMatchDep = Annotated[Precondition, Depends(if_match)]


@dataclass(frozen=True)
class Tagger:
    """Sets ``ETag`` on the answer; on a GET or HEAD whose If-None-Match names it, 304."""

    response: Response
    if_none_match: tuple[str, ...] | None
    reading: bool

    def __call__(self, representation: M) -> M:
        tag = etag_of(representation)
        if self.reading and self.if_none_match and weak_match(self.if_none_match, tag):
            raise NotModified(tag)
        self.response.headers[ETAG] = tag
        return representation


async def tagger(
    request: Request,
    response: Response,
    header: Annotated[
        str | None, Header(alias=IF_NONE_MATCH, description=IF_NONE_MATCH_DESCRIPTION)
    ] = None,
) -> Tagger:
    reading = request.method in READ_METHODS
    return Tagger(response, parse_tags(header) if reading else None, reading)


ETagDep = Annotated[Tagger, Depends(tagger)]


async def lock(session: AsyncSession, instance: object) -> None:
    """Hold ``instance``'s row until the unit of work commits, and reload it as it is now.

    ``SELECT ... FOR UPDATE`` on PostgreSQL and MariaDB. SQLite ignores that clause and
    reads outside a transaction until the first write, so there a write that changes
    nothing (``SET id = id``) takes the database's one write lock first: a concurrent
    writer waits for it, then reads the row as the first one left it.
    """
    if session.get_bind().dialect.name == "sqlite":
        state = inspect_row(instance)
        key = state.mapper.primary_key
        table = state.mapper.local_table
        if state.identity is not None and isinstance(table, Table):
            match = [column == value for column, value in zip(key, state.identity, strict=True)]
            await session.execute(update(table).where(*match).values({key[0].name: key[0]}))
    try:
        await session.refresh(instance, with_for_update=True)
    except InvalidRequestError as gone:  # deleted by a write that committed meanwhile
        raise ProblemError(
            412,
            "Precondition failed",
            "The resource no longer exists: it was deleted while this request waited.",
            type="precondition-failed",
        ) from gone


async def hold(
    session: AsyncSession,
    instance: T,
    precondition: Precondition,
    represent: Callable[[T], BaseModel | Awaitable[BaseModel]],
) -> None:
    """Lock ``instance``'s row, then 412 unless If-Match names ``represent(instance)`` (the
    resource as its GET shows it) as it is now: a view calls it first, and the write that
    follows is on that version. Without If-Match, nothing (the write runs as it always did).
    """
    if precondition.tags is None:
        return
    await lock(session, instance)
    shown = represent(instance)
    precondition.check(await shown if inspect.isawaitable(shown) else shown)


async def _not_modified(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotModified)
    return Response(status_code=304, headers={ETAG: exc.etag})


def install_etags(app: FastAPI) -> None:
    """Answer ``NotModified`` with 304 (the routes tag through ``ETagDep``)."""
    app.add_exception_handler(NotModified, _not_modified)


def _header_names(operation: Mapping[str, Any]) -> set[str]:
    return {
        str(p.get("name", "")).lower()
        for p in operation.get("parameters", [])
        if isinstance(p, dict) and p.get("in") == "header"
    }


def document_preconditions(operation: dict[str, Any]) -> None:
    """An operation taking If-Match documents 412 and 428; one taking If-None-Match, 304;
    either documents the ETag header of its success answer."""
    headers = _header_names(operation)
    responses = operation.setdefault("responses", {})
    if IF_MATCH.lower() in headers:
        for status, doc in problem_responses(412, 428).items():
            responses.setdefault(str(status), doc)
    if IF_NONE_MATCH.lower() in headers:
        responses.setdefault(
            "304",
            {
                "description": "Not modified: the tag If-None-Match names is current.",
                "headers": {ETAG: ETAG_HEADER_DOC},
            },
        )
    if headers & {IF_MATCH.lower(), IF_NONE_MATCH.lower()}:
        for status, doc in responses.items():
            if status.startswith("2") and status != "204" and isinstance(doc, dict):
                doc.setdefault("headers", {})[ETAG] = ETAG_HEADER_DOC

"""The one authorization dependency of work: who may do what to a project, task or comment.

A route declares what it needs (``access: CanDeleteTask``): the dependency loads the
object its path names together with the caller's replica row in the object's team,
in one statement, and answers 404 to a caller who is not a member of that team (as
for an object that does not exist) and 403 to a member whose role lacks the
permission. A team named in a body or a query string goes through ``Guard`` at the
top of the route. What depends on the request body (moving a task into or out of
done needs ``tasks.review``) is decided by tasks.rules and comments.rules and
checked by the route with ``require_all``.

Answers come from the local replica of teams' memberships (kept from events).
When the replica does not know the caller in a team yet (they joined a moment
ago and the event is on its way), teams is asked once over HTTP with the
caller's own token, and the answer is cached in the replica until the event
lands. While a team's events came with a gap (``resync_needed``, on each of its
rows), no row of that team is trusted and nothing is cached for it: every access
asks teams, until the reconciler has resynced the team.

A personal API token acts with the member's permissions within its scopes, and a token
restricted to one team is a non-member (404) of every other (``Authorizer.access_from``).

A write that is one statement on PostgreSQL (a task's create) can carry its access check
inside it instead of a read before it (``Guard.in_one_statement``): the statement then
writes only if the replica shows the project live and open in the team this process saw
it in, and the caller's row there confirmed by an event, not waiting for a resync, with
every permission the write needs. Anything less writes nothing, and the route asks the
guard as above, which answers 404, 403, 409 or reads through to teams: the same answers,
one round trip fewer when all is well.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import ColumnElement, Text, and_, bindparam, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.db import Database
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.problems import ProblemError, forbidden, not_found
from taskflow_chassis.security import CurrentClaims
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork
from taskflow_contracts import permissions as P

from taskflow_work.comments.models import Comment
from taskflow_work.deps import Caller, current_caller
from taskflow_work.projects.models import Project
from taskflow_work.replica.models import MemberReplica, TeamReplica
from taskflow_work.tasks.models import Task
from taskflow_work.tasks.queries import (
    TASK_COLUMNS,
    Precondition,
    TaskRow,
    task_read,
    task_row,
)
from taskflow_work.tasks.schemas import TaskRead

logger = logging.getLogger("taskflow.work.access")

_tasks = table_of(Task)
_members = table_of(MemberReplica)
_projects = table_of(Project)


@dataclass(frozen=True)
class MemberAccess:
    team_id: uuid.UUID
    user_id: uuid.UUID
    role_name: str
    permissions: frozenset[str]

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise forbidden(permission)

    def require_all(self, permissions: Iterable[str]) -> None:
        """403 naming the first of ``permissions`` the caller's role lacks."""
        for permission in permissions:
            self.require(permission)


@dataclass(frozen=True)
class ReplicaGrant:
    """The caller's replica row in a team, as read along with the object it guards."""

    role_name: str
    permissions: frozenset[str]
    from_event: bool
    resync_needed: bool
    updated_at: datetime

    @classmethod
    def of(cls, row: MemberReplica | None) -> ReplicaGrant | None:
        if row is None:
            return None
        return cls(
            row.role_name, row.permissions, row.from_event, row.resync_needed, row.updated_at
        )


def _membership_unavailable(detail: str, headers: dict[str, str] | None = None) -> ProblemError:
    return ProblemError(
        503, "Membership unavailable", detail, type="membership-unavailable", headers=headers
    )


class ProjectTeams:
    """The team of each project this process has read, the latest ``max_size`` of them. A
    project never changes team, and a write that relies on this checks it again
    (``MAY_WRITE_IN_OPEN_PROJECT``), so a project since deleted only costs that write its
    one-statement way."""

    def __init__(self, max_size: int = 10_000) -> None:
        self.max_size = max_size
        self._teams: dict[uuid.UUID, uuid.UUID] = {}

    def get(self, project_id: uuid.UUID) -> uuid.UUID | None:
        return self._teams.get(project_id)

    def remember(self, project_id: uuid.UUID, team_id: uuid.UUID) -> None:
        if project_id in self._teams:
            return
        if len(self._teams) >= self.max_size:
            del self._teams[next(iter(self._teams))]  # the oldest first
        self._teams[project_id] = team_id


class Authorizer:
    """Looks memberships up in the replica, reading through to teams when it has none."""

    def __init__(
        self,
        database: Database,
        teams: httpx.AsyncClient | None,
        publisher: Publisher,
        *,
        cache_seconds: float = 60.0,
    ) -> None:
        self.database = database
        self.teams = teams
        self.publisher = publisher
        self.cache_seconds = cache_seconds
        self.project_teams = ProjectTeams()

    async def access_from(
        self, grant: ReplicaGrant | None, team_id: uuid.UUID, caller: Caller
    ) -> MemberAccess | None:
        """The caller's access given their replica row, read along with the resource:
        none in a team their API token is not restricted to, and no permission beyond
        its scopes."""
        if caller.team_id is not None and caller.team_id != team_id:
            return None
        if grant is not None and self._trusted(grant):
            access = MemberAccess(team_id, caller.user_id, grant.role_name, grant.permissions)
        else:
            found = await self._read_through(team_id, caller)
            if found is None:
                return None
            access = found
        if caller.scopes is None:
            return access
        return replace(access, permissions=access.permissions & caller.scopes)

    def _trusted(self, grant: ReplicaGrant) -> bool:
        # A read-through answer is only trusted briefly: had the removal event been
        # handled before the answer was cached, nothing else would ever clear it.
        fresh = (utcnow() - grant.updated_at).total_seconds() <= self.cache_seconds
        return not grant.resync_needed and (grant.from_event or fresh)

    async def _read_through(self, team_id: uuid.UUID, caller: Caller) -> MemberAccess | None:
        if self.teams is None:
            return None
        seq_before = await self._team_seq(team_id)
        try:
            response = await self.teams.get(
                f"/api/v1/teams/{team_id}/members/me",
                headers={"Authorization": f"Bearer {caller.token}"},
            )
        except httpx.HTTPError as exc:
            logger.warning("membership read-through to teams failed: %s", exc)
            raise _membership_unavailable(
                "Your team membership could not be checked just now; try again shortly.",
                {"Retry-After": "2"},
            ) from exc
        if response.status_code in {401, 403, 404}:
            await self._forget(team_id, caller.user_id)
            return None
        if response.status_code != 200:
            raise _membership_unavailable("The teams service did not answer.")
        body = response.json()
        access = MemberAccess(
            team_id, caller.user_id, str(body["role_name"]), frozenset(body["permissions"])
        )
        if caller.scopes is None:
            # A personal API token's answer is its scopes' share of the role, not the
            # member's permissions: kept, it would narrow the member's session too.
            await self._remember(access, uuid.UUID(str(body["role_id"])), seq_before)
        return access

    async def _team_seq(self, team_id: uuid.UUID) -> int | None:
        async with self.database.read_sessionmaker() as session:
            seq: int | None = (
                await session.execute(
                    select(col(TeamReplica.membership_seq)).where(
                        col(TeamReplica.team_id) == team_id
                    )
                )
            ).scalar_one_or_none()
            return seq

    async def _remember(
        self, access: MemberAccess, role_id: uuid.UUID, seq_before: int | None
    ) -> None:
        """Cache the answer in its own transaction; the teams event, when it lands, wins."""
        async with self.database.session() as session:
            uow = UnitOfWork(session, self.publisher)
            team = (
                await session.execute(
                    select(TeamReplica)
                    .where(col(TeamReplica.team_id) == access.team_id)
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if team is not None and team.resync_needed:
                return  # nothing of this team is trusted until its resync: ask every time
            if (team.membership_seq if team is not None else None) != seq_before:
                # A membership event landed while teams answered: the answer may be older
                # than a removal now applied, so it is not kept (the next request asks again).
                return
            row = await session.get(MemberReplica, (access.team_id, access.user_id))
            if row is not None and row.from_event:
                return
            row = row or MemberReplica(
                team_id=access.team_id, user_id=access.user_id, role_id=role_id, role_name=""
            )
            row.role_id, row.role_name = role_id, access.role_name
            row.permission_list = " ".join(sorted(access.permissions))
            row.from_event, row.updated_at = False, utcnow()
            session.add(row)
            try:
                await uow.commit()
            except IntegrityError:
                await uow.rollback()  # the event landed meanwhile: keep its row

    async def _forget(self, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Drop a stale read-through answer that teams no longer confirms."""
        async with self.database.session() as session:
            uow = UnitOfWork(session, self.publisher)
            await session.execute(
                delete(MemberReplica).where(
                    col(MemberReplica.team_id) == team_id,
                    col(MemberReplica.user_id) == user_id,
                    col(MemberReplica.from_event).is_(False),
                )
            )
            await uow.commit()

    async def member_from(
        self, grant: ReplicaGrant | None, team_id: uuid.UUID, caller: Caller, what: str
    ) -> MemberAccess:
        """The caller's access to a team, or 404 naming the resource they asked for."""
        access = await self.access_from(grant, team_id, caller)
        if access is None:
            raise not_found(what)
        return access

    async def my_team_ids(self, session: AsyncSession, caller: Caller) -> list[uuid.UUID]:
        """The teams the caller is a member of; one waiting for a resync is asked of teams."""
        query = select(MemberReplica).where(col(MemberReplica.user_id) == caller.user_id)
        if caller.team_id is not None:
            query = query.where(col(MemberReplica.team_id) == caller.team_id)
        rows = await session.execute(query)
        team_ids = []
        for row in rows.scalars().all():
            # A row of a team waiting for its resync, or an old read-through answer, is
            # asked of teams again, as a direct request for one of the team's resources is.
            grant = ReplicaGrant.of(row)
            trusted = grant is not None and self._trusted(grant)
            if trusted or await self._read_through(row.team_id, caller) is not None:
                team_ids.append(row.team_id)
        return team_ids


@dataclass(frozen=True)
class ProjectAccess:
    member: MemberAccess
    project: Project


@dataclass(frozen=True)
class ProjectInStatement:
    """A project a write in one statement names, with the access check it carries."""

    id: uuid.UUID
    team_id: uuid.UUID
    precondition: Precondition


@dataclass(frozen=True)
class TaskAccess:
    member: MemberAccess
    task: Task
    # The task's row is held for the request's transaction and ``task`` read as it stands
    # (``task_access(hold=True)`` on PostgreSQL): the route's write needs no lock of its own.
    held: bool = False


@dataclass(frozen=True)
class CommentAccess:
    member: MemberAccess
    comment: Comment
    task: Task


def _caller_in_team(team_id: Any) -> ColumnElement[bool]:
    """Joins the caller's replica row (``caller_id``) in the object's team."""
    return and_(_members.c.team_id == team_id, _members.c.user_id == bindparam("caller_id"))


# Each object with the caller's replica row in its team: one round trip answers both "may
# they see it" and what to show (a task carries its assignee list).
# A deleted project (``deleted_at``) hides itself and everything in it, except to restore it.
ANY_PROJECT_WITH_MEMBER = (
    select(Project, MemberReplica)
    .outerjoin(MemberReplica, _caller_in_team(col(Project.team_id)))
    .where(col(Project.id) == bindparam("project_id"))
)
PROJECT_WITH_MEMBER = ANY_PROJECT_WITH_MEMBER.where(col(Project.deleted_at).is_(None))
_LIVE_PROJECT = and_(_projects.c.id == _tasks.c.project_id, _projects.c.deleted_at.is_(None))
TASK_WITH_MEMBER = (
    select(Task, MemberReplica)
    .join(_projects, _LIVE_PROJECT)
    .outerjoin(MemberReplica, _caller_in_team(col(Task.team_id)))
    .where(col(Task.id) == bindparam("task_id"))
)
# The same, holding the task's row (the latest committed version is read after a wait).
HELD_TASK_WITH_MEMBER = TASK_WITH_MEMBER.with_for_update(of=_tasks).execution_options(
    populate_existing=True
)
COMMENT_WITH_MEMBER = (
    select(Comment, Task, MemberReplica)
    .join(Task, col(Task.id) == col(Comment.task_id))
    .join(_projects, _LIVE_PROJECT)
    .outerjoin(MemberReplica, _caller_in_team(col(Task.team_id)))
    .where(col(Comment.id) == bindparam("comment_id"))
)
# A task to show, as plain rows: no ORM objects to build for an answer only shown.
_TASK_ROWS_WITH_MEMBER = select(
    *TASK_COLUMNS,
    _members.c.user_id.label("member_id"),
    _members.c.role_name,
    _members.c.permissions,
    _members.c.from_event,
    _members.c.resync_needed.label("member_resync_needed"),
    _members.c.updated_at.label("member_updated_at"),
).select_from(
    _tasks.join(_projects, _LIVE_PROJECT).outerjoin(_members, _caller_in_team(_tasks.c.team_id))
)
TASK_ROW_WITH_MEMBER = _TASK_ROWS_WITH_MEMBER.where(_tasks.c.id == bindparam("task_id"))


# Tasks named by a bulk change, each with the caller's replica row in its team, in id
# order: on PostgreSQL held (``FOR UPDATE OF``) in that order, so two bulk changes of
# overlapping tasks wait for each other instead of deadlocking.
TASK_ROWS_WITH_MEMBER = _TASK_ROWS_WITH_MEMBER.where(
    _tasks.c.id.in_(bindparam("task_ids", expanding=True))
).order_by(_tasks.c.id)
HELD_TASK_ROWS_WITH_MEMBER = TASK_ROWS_WITH_MEMBER.with_for_update(of=_tasks)

# What a write in one statement checks in it (PostgreSQL): the live, open project in the
# team it was seen in, and the caller's trusted row there with every permission needed
# (the replica's permissions are one space-separated list).
MAY_WRITE_IN_OPEN_PROJECT = exists().where(
    _projects.c.id == bindparam("guard_project_id", type_=_projects.c.id.type),
    _projects.c.team_id == bindparam("guard_team_id", type_=_projects.c.team_id.type),
    _projects.c.deleted_at.is_(None),
    _projects.c.archived.is_(False),
    _members.c.team_id == _projects.c.team_id,
    _members.c.user_id == bindparam("guard_caller_id", type_=_members.c.user_id.type),
    _members.c.from_event.is_(True),
    _members.c.resync_needed.is_(False),
    func.string_to_array(_members.c.permissions, " ", type_=ARRAY(Text)).contains(
        bindparam("guard_permissions", type_=ARRAY(Text))
    ),
)


@dataclass(frozen=True)
class TaskGrant:
    """A task a bulk change names, as it stands, and the caller's access to its team
    (None: not a member, so the task is not visible to them)."""

    task: TaskRow
    member: MemberAccess | None


def _grant_of(row: Any) -> ReplicaGrant | None:
    if row.member_id is None:
        return None
    return ReplicaGrant(
        row.role_name,
        frozenset(row.permissions.split()),
        row.from_event,
        row.member_resync_needed,
        row.member_updated_at,
    )


@dataclass(frozen=True)
class Guard:
    """The caller's access to what a request names: the object, then its team."""

    caller: Caller
    authorizer: Authorizer
    session: AsyncSession

    async def _member(
        self, grant: ReplicaGrant | None, team_id: uuid.UUID, what: str, permission: str | None
    ) -> MemberAccess:
        member = await self.authorizer.member_from(grant, team_id, self.caller, what)
        if permission is not None:
            member.require(permission)
        return member

    async def team(self, team_id: uuid.UUID, permission: str | None = None) -> MemberAccess:
        row = await self.session.get(MemberReplica, (team_id, self.caller.user_id))
        return await self._member(ReplicaGrant.of(row), team_id, "Team", permission)

    async def visible_team_ids(self, team_id: uuid.UUID | None) -> list[uuid.UUID]:
        """The team asked for (404 unless a member), or else every team of the caller's."""
        if team_id is not None:
            await self.team(team_id)
            return [team_id]
        return await self.authorizer.my_team_ids(self.session, self.caller)

    async def project(
        self, project_id: uuid.UUID, permission: str | None = None, *, deleted: bool = False
    ) -> ProjectAccess:
        """``deleted``: a deleted project is found too (to restore it)."""
        params = {"project_id": project_id, "caller_id": self.caller.user_id}
        query = ANY_PROJECT_WITH_MEMBER if deleted else PROJECT_WITH_MEMBER
        row = (await self.session.execute(query, params)).first()
        if row is None:
            raise not_found("Project")
        project, membership = row
        self.authorizer.project_teams.remember(project.id, project.team_id)
        grant = ReplicaGrant.of(membership)
        return ProjectAccess(
            await self._member(grant, project.team_id, "Project", permission), project
        )

    def in_one_statement(
        self, project_id: uuid.UUID, permissions: Sequence[str]
    ) -> ProjectInStatement | None:
        """The project, with the caller's access to it (``permissions``, all of them) as a
        check its write makes in its one statement; None where the write must ask
        ``project`` first: a project this process has not read yet, or a personal API
        token that rules it out (restricted to another team, or without the scopes)."""
        team_id = self.authorizer.project_teams.get(project_id)
        if team_id is None:
            return None
        caller = self.caller
        if caller.team_id is not None and caller.team_id != team_id:
            return None
        if caller.scopes is not None and not caller.scopes.issuperset(permissions):
            return None
        values = {
            "guard_project_id": project_id,
            "guard_team_id": team_id,
            "guard_caller_id": caller.user_id,
            "guard_permissions": sorted(set(permissions)),
        }
        return ProjectInStatement(
            project_id, team_id, Precondition(MAY_WRITE_IN_OPEN_PROJECT, values)
        )

    async def task(
        self, task_id: uuid.UUID, permission: str | None = None, *, hold: bool = False
    ) -> TaskAccess:
        """``hold``: hold the task's row for the transaction, in the same statement, where
        the database locks one table of a join (PostgreSQL's ``FOR UPDATE OF``)."""
        params = {"task_id": task_id, "caller_id": self.caller.user_id}
        held = hold and self.session.get_bind().dialect.name == "postgresql"
        query = HELD_TASK_WITH_MEMBER if held else TASK_WITH_MEMBER
        row = (await self.session.execute(query, params)).first()
        if row is None:
            raise not_found("Task")
        task, membership = row
        grant = ReplicaGrant.of(membership)
        member = await self._member(grant, task.team_id, "Task", permission)
        return TaskAccess(member, task, held)

    async def task_read(self, task_id: uuid.UUID) -> TaskRead:
        """A task as the caller may see it (404 when they may not), in one round trip."""
        params = {"task_id": task_id, "caller_id": self.caller.user_id}
        row = (await self.session.execute(TASK_ROW_WITH_MEMBER, params)).first()
        if row is None:
            raise not_found("Task")
        await self._member(_grant_of(row), row.team_id, "Task", None)
        return task_read(task_row(row))

    async def held_tasks(self, task_ids: list[uuid.UUID]) -> list[TaskGrant]:
        """The tasks of ``task_ids`` that exist (in a live project), in id order, held for
        the transaction, each with the caller's access to its team. Held before read, in
        id order: PostgreSQL in the read itself; MariaDB by a locking read of the ids
        first, by the primary key (a scan would lock other rows, out of order); SQLite by
        a write that changes nothing (its one write lock)."""
        dialect = self.session.get_bind().dialect.name
        ids = sorted(task_ids)
        if dialect == "sqlite":
            await self.session.execute(
                update(_tasks).where(_tasks.c.id.in_(ids)).values(id=_tasks.c.id)
            )
        elif dialect != "postgresql":
            await self.session.execute(
                select(_tasks.c.id)
                .with_hint(_tasks, "FORCE INDEX (PRIMARY)", dialect_name="mysql")
                .where(_tasks.c.id.in_(ids))
                .order_by(_tasks.c.id)
                .with_for_update()
            )
        query = HELD_TASK_ROWS_WITH_MEMBER if dialect == "postgresql" else TASK_ROWS_WITH_MEMBER
        params = {"task_ids": ids, "caller_id": self.caller.user_id}
        rows = (await self.session.execute(query, params)).all()
        accesses: dict[uuid.UUID, MemberAccess | None] = {}
        grants = []
        for row in rows:
            if row.team_id not in accesses:
                accesses[row.team_id] = await self.authorizer.access_from(
                    _grant_of(row), row.team_id, self.caller
                )
            grants.append(TaskGrant(task_row(row), accesses[row.team_id]))
        return grants

    async def comment(self, comment_id: uuid.UUID) -> CommentAccess:
        params = {"comment_id": comment_id, "caller_id": self.caller.user_id}
        row = (await self.session.execute(COMMENT_WITH_MEMBER, params)).first()
        if row is None:
            raise not_found("Comment")
        comment, task, membership = row
        grant = ReplicaGrant.of(membership)
        return CommentAccess(
            await self._member(grant, task.team_id, "Comment", None), comment, task
        )


async def get_guard(request: Request, claims: CurrentClaims, session: SessionDep) -> Guard:
    """The caller, this process's authorizer and the request's session: one dependency, not
    one each (FastAPI's solving of a dependency costs more than building any of these)."""
    authorizer: Authorizer = request.app.state.authorizer
    return Guard(await current_caller(request, claims), authorizer, session)


GuardDep = Annotated[Guard, Depends(get_guard)]


async def create_task_guard(project_id: uuid.UUID, guard: GuardDep) -> AsyncIterator[Guard]:
    """The guard of a task's create, whose access its write checks (tasks.service's
    ``create_task_at_once``) or the route does. A body FastAPI refuses is refused only
    after the access check, as on every route: a stranger hears 404 and a member without
    ``tasks.create`` 403, never what was wrong with the body."""
    try:
        yield guard
    except RequestValidationError:
        await guard.project(project_id, P.TASKS_CREATE)
        raise


def project_access(permission: str | None = None) -> Any:
    """``Depends`` giving the ProjectAccess of ``{project_id}``, checked for ``permission``."""

    async def dependency(project_id: uuid.UUID, guard: GuardDep) -> ProjectAccess:
        return await guard.project(project_id, permission)

    return Depends(dependency)


def task_access(permission: str | None = None, *, hold: bool = False) -> Any:
    """``Depends`` giving the TaskAccess of ``{task_id}``, checked for ``permission``;
    ``hold``: its row held where the database can in the same statement (``Guard.task``)."""

    async def dependency(task_id: uuid.UUID, guard: GuardDep) -> TaskAccess:
        return await guard.task(task_id, permission, hold=hold)

    return Depends(dependency)


async def readable_task(task_id: uuid.UUID, guard: GuardDep) -> TaskRead:
    return await guard.task_read(task_id)


async def comment_access(comment_id: uuid.UUID, guard: GuardDep) -> CommentAccess:
    return await guard.comment(comment_id)


ProjectMember = Annotated[ProjectAccess, project_access()]
CanUpdateProject = Annotated[ProjectAccess, project_access(P.PROJECTS_UPDATE)]
CanDeleteProject = Annotated[ProjectAccess, project_access(P.PROJECTS_DELETE)]
TaskCreateGuard = Annotated[Guard, Depends(create_task_guard)]
ReadableTask = Annotated[TaskRead, Depends(readable_task)]
# Changing a task needs what tasks.rules says of the change: the route checks it.
TaskMember = Annotated[TaskAccess, task_access()]
CanDeleteTask = Annotated[TaskAccess, task_access(P.TASKS_DELETE)]
# An assignment reads the assignee list as it stands and writes it: the row is held.
CanAssignTask = Annotated[TaskAccess, task_access(P.TASKS_ASSIGN, hold=True)]
CanComment = Annotated[TaskAccess, task_access(P.COMMENTS_CREATE)]
# Who may edit or delete a comment is comments.rules': the route checks it.
CommentMember = Annotated[CommentAccess, Depends(comment_access)]

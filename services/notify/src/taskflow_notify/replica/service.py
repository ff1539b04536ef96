"""Keeping notify's replicas (people, teams, memberships, projects, tasks) in step."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    or_,
    select,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.db import dialect_of_session, insert_or_ignore, upsert
from taskflow_chassis.types import table_of
from taskflow_chassis.unit_of_work import UnitOfWork

from taskflow_notify.replica.models import (
    InvitationReplica,
    MemberReplica,
    ProjectReplica,
    RoleReplica,
    TaskAssigneeReplica,
    TaskReplica,
    TeamReplica,
    UserReplica,
)

logger = logging.getLogger("taskflow.notify.replica")

T = TypeVar("T")


async def upsert_user(
    session: AsyncSession,
    user_id: uuid.UUID,
    username: str,
    email: str,
    display_name: str | None = None,
    email_verified: bool | None = None,
) -> None:
    """``email_verified`` None keeps what is known, except that a new email without word of
    its verification is unverified (participant events do not carry it)."""
    email = email.lower()
    row = await session.get(UserReplica, user_id) or UserReplica(
        user_id=user_id, username=username, email=email
    )
    if row.email != email and email_verified is None:
        row.email_verified = False
    row.username, row.email = username, email
    if email_verified is not None:
        row.email_verified = email_verified
    if display_name is not None:
        row.display_name = display_name
    session.add(row)


async def forget_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(delete(UserReplica).where(col(UserReplica.user_id) == user_id))
    await session.execute(delete(MemberReplica).where(col(MemberReplica.user_id) == user_id))
    await session.execute(
        delete(TaskAssigneeReplica).where(col(TaskAssigneeReplica.user_id) == user_id)
    )


async def upsert_team(session: AsyncSession, team_id: uuid.UUID, name: str) -> None:
    row = await session.get(TeamReplica, team_id) or TeamReplica(team_id=team_id, name=name)
    row.name = name
    session.add(row)


async def forget_team(session: AsyncSession, team_id: uuid.UUID) -> None:
    await _forget_tasks(
        session, select(col(TaskReplica.task_id)).where(col(TaskReplica.team_id) == team_id)
    )
    await session.execute(delete(ProjectReplica).where(col(ProjectReplica.team_id) == team_id))
    await session.execute(delete(MemberReplica).where(col(MemberReplica.team_id) == team_id))
    await session.execute(delete(RoleReplica).where(col(RoleReplica.team_id) == team_id))
    await session.execute(delete(TeamReplica).where(col(TeamReplica.team_id) == team_id))


async def team_deleted(session: AsyncSession, team_id: uuid.UUID, deleted_at: datetime) -> None:
    """Hidden, kept: a team deleted softly may be restored (a team unknown here gets a row,
    unnamed until its restoration, so its tasks are hidden too)."""
    row = await session.get(TeamReplica, team_id) or TeamReplica(team_id=team_id, name="")
    _mark_deleted(row, deleted_at)
    session.add(row)


async def team_restored(
    session: AsyncSession, team_id: uuid.UUID, name: str, restored_at: datetime
) -> None:
    row = await session.get(TeamReplica, team_id) or TeamReplica(team_id=team_id, name=name)
    row.name = name
    _mark_restored(row, restored_at)
    session.add(row)


def _mark_deleted(row: TeamReplica | ProjectReplica, deleted_at: datetime) -> None:
    """Applied unless a later restoration was (the two may arrive in either order)."""
    if row.restored_at is not None and row.restored_at >= deleted_at:
        return
    if row.deleted_at is None or row.deleted_at < deleted_at:
        row.deleted_at = deleted_at


def _mark_restored(row: TeamReplica | ProjectReplica, restored_at: datetime) -> None:
    """Visible again, unless it was deleted again after ``restored_at``."""
    if row.restored_at is None or row.restored_at < restored_at:
        row.restored_at = restored_at
    if row.deleted_at is not None and row.deleted_at <= row.restored_at:
        row.deleted_at = None


def tasks_shown() -> ColumnElement[bool]:
    """A condition on TaskReplica: its project and its team are not deleted (one this
    replica does not know counts as not deleted)."""
    return and_(
        ~exists().where(
            col(ProjectReplica.project_id) == col(TaskReplica.project_id),
            col(ProjectReplica.deleted_at).is_not(None),
        ),
        ~exists().where(
            col(TeamReplica.team_id) == col(TaskReplica.team_id),
            col(TeamReplica.deleted_at).is_not(None),
        ),
    )


class KeptReads:
    """What a batch's handlers read of teams, members, projects, people, preferences and
    webhook endpoints, kept from one event to the next while none of those changes: task
    and comment events change none of them, and every other event forgets what was kept
    before it runs (``handlers.py``). Kept until the unit of work ends with its commit,
    so the live events written then (``live.service.LiveWrites``) find the people the
    handlers read, as they still are."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._found: dict[tuple[Any, ...], Any] = {}
        # People by id, None for an id the replica does not know.
        self._people: dict[uuid.UUID, UserReplica | None] = {}

    async def kept(self, key: tuple[Any, ...], read: Callable[[], Awaitable[T]]) -> T:
        """``read()``'s answer, read once while it is kept (its callers only look at it)."""
        if key not in self._found:
            self._found[key] = await read()
        return cast(T, self._found[key])

    def remember_people(self, asked: Iterable[uuid.UUID], found: Iterable[UserReplica]) -> None:
        """The people a read asked for by id, and those it found (the rest are unknown)."""
        self._people.update(dict.fromkeys(asked))
        self._people.update((user.user_id, user) for user in found)

    def people(self, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, UserReplica] | None:
        """The known ones of these people by id, if all were read while kept; else None."""
        ids = set(user_ids)
        if not ids <= self._people.keys():
            return None
        return {i: user for i in ids if (user := self._people[i]) is not None}

    def forget(self) -> None:
        self._found.clear()
        self._people.clear()

    async def write(self) -> None:
        """Nothing to write: what is kept is only read."""


def kept_reads(uow: UnitOfWork) -> KeptReads:
    return uow.gathered(KeptReads)


# Built once, their values bound (taskflow_chassis.bound's reason: every task event reads
# them, and building and keying a statement costs more than running it). Hidden: the
# task's team or project is deleted (restorable), and nobody hears of its tasks until it
# is restored.
_HIDDEN = or_(
    exists().where(
        col(ProjectReplica.project_id) == bindparam("project_id"),
        col(ProjectReplica.deleted_at).is_not(None),
    ),
    exists().where(
        col(TeamReplica.team_id) == bindparam("team_id"),
        col(TeamReplica.deleted_at).is_not(None),
    ),
)
_TASK_HIDDEN = select(_HIDDEN)
_ACTIVE_MEMBERS = select(col(MemberReplica.user_id)).where(
    col(MemberReplica.team_id) == bindparam("team_id"), col(MemberReplica.active).is_(True)
)
_PROJECT_SHOWN = select(
    (~_HIDDEN).label("shown"),
    select(col(ProjectReplica.name))
    .where(col(ProjectReplica.project_id) == bindparam("project_id"))
    .scalar_subquery()
    .label("project_name"),
).subquery("project_shown")
# One row a member, present or former (one with no member when there is none, or when
# nobody hears of it).
_AUDIENCE = select(
    _PROJECT_SHOWN.c.shown,
    _PROJECT_SHOWN.c.project_name,
    col(MemberReplica.user_id),
    col(MemberReplica.active),
).select_from(
    _PROJECT_SHOWN.outerjoin(
        MemberReplica,
        and_(col(MemberReplica.team_id) == bindparam("team_id"), _PROJECT_SHOWN.c.shown),
    )
)


async def task_hidden(session: AsyncSession, team_id: uuid.UUID, project_id: uuid.UUID) -> bool:
    """Whether a task's team or project is deleted (restorable): nobody hears of its tasks
    until it is restored."""
    found = await session.execute(_TASK_HIDDEN, {"team_id": team_id, "project_id": project_id})
    return bool(found.scalar_one())


@dataclass(frozen=True)
class Audience:
    """Who hears of a task of a team and project: nobody while either is deleted
    (restorable), the team's active members otherwise. ``former``: the members the team
    removed, whom an event of the team's work arriving after their removal (work's and
    teams' events have no common order) must not reach."""

    shown: bool
    project_name: str | None  # None when the replica does not know the project
    members: frozenset[uuid.UUID]
    former: frozenset[uuid.UUID] = frozenset()


async def _audience(session: AsyncSession, team_id: uuid.UUID, project_id: uuid.UUID) -> Audience:
    found = (await session.execute(_AUDIENCE, {"team_id": team_id, "project_id": project_id})).all()
    shown, project_name = bool(found[0].shown), found[0].project_name
    known = [row for row in found if row.user_id is not None]
    members = frozenset(row.user_id for row in known if row.active)
    former = frozenset(row.user_id for row in known if not row.active)
    return Audience(shown, project_name, members, former)


async def task_audience(
    kept: KeptReads, session: AsyncSession, team_id: uuid.UUID, project_id: uuid.UUID
) -> Audience:
    """In one statement, kept for the batch: whether a task of this team and project is
    heard of, the project's name and the team's active members. An assignment's and a
    comment's handlers (notifications, live events) all ask it, so a batch reads it once."""
    return await kept.kept(
        ("audience", team_id, project_id), lambda: _audience(session, team_id, project_id)
    )


async def active_members(session: AsyncSession, team_id: uuid.UUID) -> list[uuid.UUID]:
    """The team's active members, in one statement (a task whose project is unknown)."""
    return list((await session.execute(_ACTIVE_MEMBERS, {"team_id": team_id})).scalars())


async def newer_membership(
    session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID, seq: int | None
) -> MemberReplica | None:
    """The member's row to change, or None when the event is older than what the row
    holds (reordered behind a later event, or replayed): teams' order wins."""
    row = (
        await session.execute(
            select(MemberReplica)
            .where(col(MemberReplica.team_id) == team_id, col(MemberReplica.user_id) == user_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        return MemberReplica(team_id=team_id, user_id=user_id, seq=0, active=False)
    if row.seq > 0 and (seq is None or seq <= row.seq):
        logger.info(
            "ignored membership event for %s in team %s: seq %s, the row is at %s",
            user_id,
            team_id,
            seq,
            row.seq,
        )
        return None
    return row


async def set_membership(
    session: AsyncSession,
    team_id: uuid.UUID,
    user_id: uuid.UUID,
    seq: int | None,
    active: bool,
    grant: tuple[uuid.UUID, list[str]] | None = None,
) -> bool:
    """Apply a join, a role change (``grant``: the role and its permissions as the event
    states them) or a removal unless a later one was applied; answer whether it was. A
    member given a role gets its newest permissions, which a later edit of the role,
    arrived first, may have told already."""
    permissions = None
    if grant is not None:  # the role's row first, then the member's: always in this order
        permissions = await role_stated(session, team_id, grant[0], grant[1], seq)
    row = await newer_membership(session, team_id, user_id, seq)
    if row is None:
        return False
    row.seq, row.active = seq or 0, active
    if grant is not None:
        row.role_id, row.permission_list = grant[0], permissions
    session.add(row)
    return True


async def role_updated(
    session: AsyncSession,
    team_id: uuid.UUID,
    role_id: uuid.UUID,
    permissions: list[str],
    seq: int | None,
) -> None:
    """A role's permissions changed: every member holding it gets them, unless a later
    statement of the role's permissions arrived first. The members' own order (their
    rows' seq) is not this event's to move: a removal or role change numbered before this
    edit and arriving after it still applies."""
    await role_stated(session, team_id, role_id, permissions, seq)


async def role_stated(
    session: AsyncSession,
    team_id: uuid.UUID,
    role_id: uuid.UUID,
    permissions: list[str],
    seq: int | None,
) -> str:
    """Keep what an event states of a role's permissions unless a later event's statement is
    kept; where it is the newest, every member holding the role gets it. Answers the role's
    newest permissions (space-separated). The role's row stays locked until commit."""
    stated = " ".join(sorted(permissions))
    values = {"role_id": role_id, "team_id": team_id, "seq": seq or 0, "permissions": stated}
    dialect = dialect_of_session(session)
    inserted = await session.execute(insert_or_ignore(dialect, RoleReplica, values, ["role_id"]))
    if cast(CursorResult[Any], inserted).rowcount != 1:
        row = (
            await session.execute(
                select(RoleReplica).where(col(RoleReplica.role_id) == role_id).with_for_update()
            )
        ).scalar_one()
        if row.seq > 0 and (seq is None or seq <= row.seq):
            return row.permissions  # told of a later state of the role already
        row.seq, row.permissions = seq or 0, stated
        session.add(row)
    await session.execute(
        update(MemberReplica)
        .where(col(MemberReplica.team_id) == team_id, col(MemberReplica.role_id) == role_id)
        .values(permission_list=stated)
    )
    return stated


async def unassign_team_tasks(
    session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Someone who left a team is no longer assigned its tasks (nor reminded of them)."""
    team_tasks = select(col(TaskReplica.task_id)).where(col(TaskReplica.team_id) == team_id)
    await session.execute(
        delete(TaskAssigneeReplica).where(
            col(TaskAssigneeReplica.user_id) == user_id,
            col(TaskAssigneeReplica.task_id).in_(team_tasks),
        )
    )


async def add_invitation(
    session: AsyncSession,
    invitation_id: uuid.UUID,
    team_id: uuid.UUID,
    team_name: str,
    email: str,
    invited_by: uuid.UUID,
) -> None:
    if await session.get(InvitationReplica, invitation_id) is None:
        session.add(
            InvitationReplica(
                invitation_id=invitation_id,
                team_id=team_id,
                team_name=team_name,
                email=email,
                invited_by=invited_by,
            )
        )


async def forget_invitation(session: AsyncSession, invitation_id: uuid.UUID) -> None:
    await session.execute(
        delete(InvitationReplica).where(col(InvitationReplica.invitation_id) == invitation_id)
    )


async def upsert_project(
    session: AsyncSession, project_id: uuid.UUID, team_id: uuid.UUID, name: str
) -> None:
    row = await session.get(ProjectReplica, project_id) or ProjectReplica(
        project_id=project_id, team_id=team_id, name=name
    )
    row.name = name
    session.add(row)


async def project_deleted(
    session: AsyncSession, project_id: uuid.UUID, team_id: uuid.UUID, deleted_at: datetime
) -> None:
    """Hidden, kept (restorable); a project unknown here gets a row, unnamed until its
    restoration."""
    row = await session.get(ProjectReplica, project_id) or ProjectReplica(
        project_id=project_id, team_id=team_id, name=""
    )
    _mark_deleted(row, deleted_at)
    session.add(row)


async def project_restored(
    session: AsyncSession,
    project_id: uuid.UUID,
    team_id: uuid.UUID,
    name: str,
    restored_at: datetime,
) -> None:
    row = await session.get(ProjectReplica, project_id) or ProjectReplica(
        project_id=project_id, team_id=team_id, name=name
    )
    row.name = name
    _mark_restored(row, restored_at)
    session.add(row)


async def forget_project(session: AsyncSession, project_id: uuid.UUID) -> None:
    await _forget_tasks(
        session,
        select(col(TaskReplica.task_id)).where(col(TaskReplica.project_id) == project_id),
    )
    await session.execute(
        delete(ProjectReplica).where(col(ProjectReplica.project_id) == project_id)
    )


async def _forget_tasks(session: AsyncSession, task_ids: Select[uuid.UUID]) -> None:
    ids = list((await session.execute(task_ids)).scalars())
    if ids:
        await session.execute(
            delete(TaskAssigneeReplica).where(col(TaskAssigneeReplica.task_id).in_(ids))
        )
        await session.execute(delete(TaskReplica).where(col(TaskReplica.task_id).in_(ids)))


async def forget_task(session: AsyncSession, task_id: uuid.UUID) -> None:
    await _forget_tasks(
        session, select(col(TaskReplica.task_id)).where(col(TaskReplica.task_id) == task_id)
    )


_TASK_CHANGES = ("title", "status", "due_at")  # what a known task's upsert sets


class TaskWrites:
    """The task replica's rows that task.created and task.assigned write, gathered over a
    run of those events and written in up to three statements (the tasks, the titles of
    tasks met before, the assignments) instead of two for each: a created task with its
    assignee was four statements of a batch's every two events. Nothing of those events'
    handlers reads the task tables; every other event writes what is gathered first
    (``write_tasks``, prepended in ``handlers.py``), as does the commit."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._session = uow.session
        self._created: dict[uuid.UUID, dict[str, Any]] = {}
        self._retitled: dict[uuid.UUID, dict[str, Any]] = {}
        self._assigned: dict[tuple[uuid.UUID, uuid.UUID], None] = {}

    def created(self, task: dict[str, Any]) -> None:
        """A new task, or a known one's title, status and due time."""
        self._created[task["task_id"]] = task
        self._retitled.pop(task["task_id"], None)  # its upsert sets them as task.created says

    def assigned(
        self, task_id: uuid.UUID, user_id: uuid.UUID, title: str, due_at: datetime | None
    ) -> None:
        """The assignment, and the task's title and due time as the event tells them (a
        task created before notify listened has no row: nothing to retitle then)."""
        created = self._created.get(task_id)
        if created is not None:
            created.update(title=title, due_at=due_at)
        else:
            self._retitled[task_id] = {"a_task_id": task_id, "a_title": title, "a_due_at": due_at}
        self._assigned[(task_id, user_id)] = None

    async def write(self) -> None:
        created, self._created = self._created, {}
        retitled, self._retitled = self._retitled, {}
        assigned, self._assigned = self._assigned, {}
        dialect = dialect_of_session(self._session)
        if created:
            upsert_rows = upsert(dialect, TaskReplica, None, ["task_id"], _TASK_CHANGES)
            await self._session.execute(upsert_rows, list(created.values()))
        if retitled:
            await self._session.execute(_TASK_RETITLED, list(retitled.values()))
        if assigned:
            await self._session.execute(
                _ASSIGN[dialect], [{"task_id": t, "user_id": u} for t, u in assigned]
            )


def task_writes(uow: UnitOfWork) -> TaskWrites:
    return uow.gathered(TaskWrites)


async def update_task(
    session: AsyncSession, task_id: uuid.UUID, title: str, status: str, due_at: datetime | None
) -> None:
    row = await session.get(TaskReplica, task_id)
    if row is None:
        return  # created before notify listened: nothing to remind about yet
    row.title, row.status, row.due_at = title, status, due_at
    session.add(row)


# Built once (taskflow_chassis.bound's reason: every assignment runs them; a parameter may
# not bear a column's name), on the tables: Core statements, so a list of rows is one
# executemany.
_TASKS = table_of(TaskReplica)
_TASK_RETITLED = (
    update(_TASKS)
    .where(_TASKS.c.task_id == bindparam("a_task_id"))
    .values(title=bindparam("a_title"), due_at=bindparam("a_due_at"))
)
_ASSIGN = {
    dialect: insert_or_ignore(dialect, TaskAssigneeReplica, None, ["task_id", "user_id"])
    for dialect in ("postgresql", "sqlite", "mysql")
}


async def unassign_task(session: AsyncSession, task_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await session.execute(
        delete(TaskAssigneeReplica).where(
            col(TaskAssigneeReplica.task_id) == task_id,
            col(TaskAssigneeReplica.user_id) == user_id,
        )
    )

"""Keeping the replica of teams in step (event handlers: each runs once per event).

Membership events carry the team's ``team_seq`` (one more per event, in teams'
commit order). Each is applied only in that order: one the replica has already
passed (reordered behind a later one, or replayed from the dead-letter queue) is
ignored; the next one is applied; one that jumps ahead is applied too, and the
team is marked ``resync_needed``: its rows are no longer trusted (every access
reads through to teams) until the reconciler replaces them from teams. An event
without ``team_seq`` (published before teams numbered them) is applied as it
comes while the team has seen no numbered event, and otherwise makes the team
resync (its place in the order is unknown).
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.events import CloudEvent
from taskflow_chassis.types import utcnow
from taskflow_contracts import auth, teams

from taskflow_work.deps import Context
from taskflow_work.replica.models import MemberReplica, Person, TeamReplica
from taskflow_work.replica.service import hold_team, mark_resync, upsert_person

logger = logging.getLogger("taskflow.work.replica")


async def _in_order(
    session: AsyncSession, team_id: uuid.UUID, seq: int | None, event: CloudEvent
) -> tuple[bool, bool]:
    """Whether to apply this membership event, and whether the team's rows are untrusted
    (resync needed). Holds the team's replica row until commit."""
    if seq is None:
        team = await session.get(TeamReplica, team_id)
        if team is None or team.membership_seq == 0:
            return True, bool(team and team.resync_needed)
        # Unnumbered, but the team's events are numbered now: an old event (say, parked
        # before the upgrade and replayed) whose place in the order is unknown. Not
        # applied; the team is resynced from teams instead.
        team = await hold_team(session, team_id)
        logger.warning(
            "team %s: %s %s carries no seq (the replica is at %s); resyncing the team",
            team_id,
            event.type,
            event.id,
            team.membership_seq,
        )
        await mark_resync(session, team)
        return False, True
    team = await hold_team(session, team_id)
    if seq <= team.membership_seq:
        logger.info(
            "ignored %s %s for team %s: seq %s, the replica is at %s (late or replayed)",
            event.type,
            event.id,
            team_id,
            seq,
            team.membership_seq,
        )
        return False, team.resync_needed
    if seq > team.membership_seq + 1 and not team.resync_needed:
        logger.warning(
            "team %s: %s %s has seq %s, the replica is at %s: events are missing;"
            " the team reads through to teams until it is resynced",
            team_id,
            event.type,
            event.id,
            seq,
            team.membership_seq,
        )
        await mark_resync(session, team)
    team.membership_seq, team.updated_at = seq, utcnow()
    session.add(team)
    return True, team.resync_needed


async def _upsert_team(session: AsyncSession, team_id: uuid.UUID, name: str) -> None:
    team = await hold_team(session, team_id, name)
    team.name, team.updated_at = name, utcnow()
    session.add(team)


async def on_team_created(payload: teams.TeamCreated, context: Context) -> None:
    await _upsert_team(context.session, payload.team_id, payload.name)


async def on_team_updated(payload: teams.TeamUpdated, context: Context) -> None:
    await _upsert_team(context.session, payload.team_id, payload.name)


async def on_team_deleted(payload: teams.TeamDeleted, context: Context) -> None:
    """Deleted, restorable: the team's member rows go, so every access to its projects and
    tasks reads through to teams, which answers 404 for a deleted team; the projects stay."""
    session = context.session
    apply, _ = await _in_order(session, payload.team_id, payload.team_seq, context.event)
    if apply:
        await session.execute(
            delete(MemberReplica).where(col(MemberReplica.team_id) == payload.team_id)
        )


async def on_team_restored(payload: teams.TeamRestored, context: Context) -> None:
    """Back: the team's members are read again from teams (a resync; until it is done,
    each access reads through to teams)."""
    session = context.session
    apply, _ = await _in_order(session, payload.team_id, payload.team_seq, context.event)
    if apply:
        await mark_resync(session, await hold_team(session, payload.team_id, payload.name))


async def on_team_purged(payload: teams.TeamPurged | teams.TeamDeletedV1, context: Context) -> None:
    """Gone for good (or v1's deletion, which meant that): its projects are purged."""
    session = context.session
    apply, _ = await _in_order(session, payload.team_id, payload.team_seq, context.event)
    if not apply:
        return
    await context.deps.departures.team_deleted(context.uow, payload.team_id)
    await session.execute(
        delete(MemberReplica).where(col(MemberReplica.team_id) == payload.team_id)
    )
    await session.execute(delete(TeamReplica).where(col(TeamReplica.team_id) == payload.team_id))


async def _upsert_member(
    session: AsyncSession, data: teams.MemberJoined | teams.MemberRoleChanged, event: CloudEvent
) -> None:
    apply, untrusted = await _in_order(session, data.team_id, data.team_seq, event)
    if not apply:
        return
    row = await session.get(MemberReplica, (data.team_id, data.user_id))
    if row is None:
        row = MemberReplica(
            team_id=data.team_id,
            user_id=data.user_id,
            role_id=data.role_id,
            role_name=data.role_name,
        )
    row.role_id, row.role_name = data.role_id, data.role_name
    row.permission_list = " ".join(sorted(data.permissions))
    row.from_event, row.updated_at = True, utcnow()
    row.resync_needed = untrusted
    session.add(row)


async def on_member_joined(payload: teams.MemberJoined, context: Context) -> None:
    await _upsert_member(context.session, payload, context.event)


async def on_member_role_changed(payload: teams.MemberRoleChanged, context: Context) -> None:
    await _upsert_member(context.session, payload, context.event)


async def on_member_removed(payload: teams.MemberRemoved, context: Context) -> None:
    session = context.session
    apply, _ = await _in_order(session, payload.team_id, payload.team_seq, context.event)
    if not apply:
        return
    await _remove_member(session, payload.team_id, payload.user_id)
    await context.deps.departures.member_left(context.uow, payload.user_id, payload.team_id)


async def _remove_member(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await session.execute(
        delete(MemberReplica).where(
            col(MemberReplica.team_id) == team_id, col(MemberReplica.user_id) == user_id
        )
    )


async def on_role_updated(payload: teams.RoleUpdated, context: Context) -> None:
    session = context.session
    apply, _ = await _in_order(session, payload.team_id, payload.team_seq, context.event)
    if not apply:
        return
    await session.execute(
        update(MemberReplica)
        .where(
            col(MemberReplica.team_id) == payload.team_id,
            col(MemberReplica.role_id) == payload.role_id,
        )
        .values(
            role_name=payload.name,
            permission_list=" ".join(sorted(payload.permissions)),
            updated_at=utcnow(),
        )
    )


async def on_user_deleted(payload: auth.UserDeleted, context: Context) -> None:
    session = context.session
    team_ids = (
        await session.execute(
            select(col(MemberReplica.team_id)).where(col(MemberReplica.user_id) == payload.user_id)
        )
    ).scalars()
    for team_id in list(team_ids):
        await _remove_member(session, team_id, payload.user_id)
    await context.deps.departures.member_left(context.uow, payload.user_id, None)


async def on_person_changed(
    payload: auth.UserRegistered
    | auth.UserUpdated
    | auth.ParticipantRegistered
    | auth.ParticipantUpdated,
    context: Context,
) -> None:
    """A person's names, shown beside their id. A user event carries no display name:
    it keeps the one a participant event gave."""
    session, user_id = context.session, payload.user_id
    if isinstance(payload, auth.ParticipantRegistered | auth.ParticipantUpdated):
        await upsert_person(session, user_id, payload.username, payload.display_name, True)
    else:
        await upsert_person(session, user_id, payload.username, None, False)


async def on_person_deleted(payload: auth.UserDeleted, context: Context) -> None:
    await context.session.execute(delete(Person).where(col(Person.user_id) == payload.user_id))

"""The statements the internal API reads memberships, sequence numbers and people's names
with (Core tables: no ORM objects are built for a replica's resync)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from taskflow_chassis.types import table_of

from taskflow_teams.replica.models import Person
from taskflow_teams.teams.models import Membership, Role, Team

_teams = table_of(Team)
_members = table_of(Membership)
_roles = table_of(Role)
_people = table_of(Person)


def memberships_of(team_id: uuid.UUID) -> Select[Any]:
    """The team's name and number with every member and role (none: one row of NULLs).

    One statement, so one snapshot: the members are exactly those of the seq read with them.
    """
    return (
        select(
            _teams.c.name,
            _teams.c.membership_seq,
            _members.c.user_id,
            _roles.c.id.label("role_id"),
            _roles.c.name.label("role_name"),
            _roles.c.permissions,
        )
        .select_from(
            _teams.outerjoin(_members, _members.c.team_id == _teams.c.id).outerjoin(
                _roles, _roles.c.id == _members.c.role_id
            )
        )
        # A deleted team is no one's: absent here too, until it is restored.
        .where(_teams.c.id == team_id, _teams.c.deleted_at.is_(None))
        .order_by(_members.c.user_id)
    )


def team_seqs(after: uuid.UUID | None, limit: int) -> Select[Any]:
    """Teams' numbers by team id, from the one after ``after``."""
    query = (
        select(_teams.c.id, _teams.c.membership_seq)
        .where(_teams.c.deleted_at.is_(None))
        .order_by(_teams.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(_teams.c.id > after)
    return query


def people(after: uuid.UUID | None, limit: int) -> Select[Any]:
    """Everyone's names by user id, from the one after ``after`` (no email: a replica of
    names needs none)."""
    query = (
        select(_people.c.user_id, _people.c.username, _people.c.display_name, _people.c.updated_at)
        .order_by(_people.c.user_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(_people.c.user_id > after)
    return query

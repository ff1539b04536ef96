"""The rules of teams, members and roles that need no database (unit-tested alone)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from taskflow_chassis.problems import ProblemError, conflict
from taskflow_contracts import permissions as P

from taskflow_teams.teams.models import Role


def ensure_within(held: frozenset[str], granted: Iterable[str]) -> None:
    """Nobody hands out (by invitation, role edit or role change) rights they lack."""
    missing = sorted(set(granted) - held)
    if missing:
        raise ProblemError(
            403,
            "Cannot grant permissions you lack",
            "That role holds permissions your own role does not: " + ", ".join(missing) + ".",
            type="permission-escalation",
            permissions=missing,
        )


def permission_to_remove(remover: uuid.UUID, member: uuid.UUID) -> str | None:
    """Leaving the team needs no permission; removing someone else needs members.manage."""
    return None if remover == member else P.MEMBERS_MANAGE


def steps_down(current: Role, new: Role) -> bool:
    """A leader given a role that does not lead."""
    return current.is_leader and not new.is_leader


def ensure_another_leader(leaders: int) -> None:
    """A leader stepping down or leaving must leave a leader behind; ``leaders`` counts the
    team's leaders with them."""
    if leaders <= 1:
        raise conflict(
            "A team keeps at least one Team Leader",
            "Make another member Team Leader first.",
            type="last-team-leader",
            field="user_id",
            loc=["path", "user_id"],
        )


def ensure_editable(role: Role) -> None:
    if role.is_leader:
        raise conflict(
            "Team Leader cannot be changed",
            "The Team Leader role always holds every permission.",
            type="leader-role-fixed",
            field="role_id",
            loc=["path", "role_id"],
        )


def ensure_deletable(role: Role) -> None:
    if role.is_builtin:
        raise conflict(
            "Built-in role",
            "Built-in roles cannot be deleted; edit their permissions instead.",
            type="builtin-role",
            field="role_id",
            loc=["path", "role_id"],
        )

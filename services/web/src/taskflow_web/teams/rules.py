"""Pure rules of the teams pages: what the caller may be shown, and the API's problems in
words a person acts on (no API, no request; unit-tested alone)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from taskflow_web.api.adapters import ApiProblem

# The catalogue's names (GET /api/v1/permissions): what each action on these pages needs.
TEAM_UPDATE = "team.update"
TEAM_DELETE = "team.delete"
MEMBERS_INVITE = "members.invite"
MEMBERS_MANAGE = "members.manage"
ROLES_MANAGE = "roles.manage"

CHANGED_MEANWHILE = (
    "Someone else changed this since you opened the page. Reload the page to see the "
    "change, then try again."
)
PROFILE_FIRST = (
    "Register your participant profile (your phone number) on your profile page first; "
    "it can take a moment to reach teams."
)
RESTORE_DAYS = 30


def problem_detail(problem: ApiProblem) -> str:
    """The message for the top of a form: the API's own, except where the page knows
    better what to do (a stale page, a missing participant profile)."""
    if problem.status == 412:
        return CHANGED_MEANWHILE
    if problem.type.endswith("participant-required"):
        return PROFILE_FIRST
    return problem.detail


def grantable_roles(
    roles: Iterable[Mapping[str, Any]], held: Collection[str]
) -> list[Mapping[str, Any]]:
    """The roles the caller may hand out (by invitation or role change): those granting
    nothing the caller lacks (the API refuses the others with 403)."""
    mine = set(held)
    return [role for role in roles if set(role.get("permissions", [])) <= mine]


def person_name(member: Mapping[str, Any]) -> str:
    """A member as the page names them: display name, else username, else a short id."""
    return str(
        member.get("display_name") or member.get("username") or str(member.get("user_id"))[:8]
    )

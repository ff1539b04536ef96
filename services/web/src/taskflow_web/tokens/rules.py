"""What the API tokens page shows: the scopes grouped as a person chooses them, the expiry
choices, and what a token's scopes and team say in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskflow_contracts import permissions as P

# The expiry choices (days); the API takes any up to a year.
EXPIRY_DAYS = (7, 30, 90, 180, 365)
DEFAULT_EXPIRY_DAYS = 30


@dataclass(frozen=True)
class ScopeGroup:
    title: str
    note: str
    scopes: list[tuple[str, str]]  # (scope, description)


def scope_groups() -> list[ScopeGroup]:
    """Reading first, then the team permissions (still only as far as your role grants
    them), then your own account: in the catalogue's order."""
    described = P.SCOPE_DESCRIPTIONS
    return [
        ScopeGroup(
            "Read",
            "What a member of the team can see.",
            [(scope, described[scope]) for scope in P.MEMBER_SCOPES],
        ),
        ScopeGroup(
            "Act in teams",
            "Only as far as your role in the team allows, now and later.",
            [(scope, described[scope]) for scope in P.DESCRIPTIONS],
        ),
        ScopeGroup(
            "Your account",
            "Not for a token restricted to one team.",
            [(scope, described[scope]) for scope in P.PERSONAL_SCOPES],
        ),
    ]


def team_name(token: dict[str, Any], teams: list[dict[str, Any]]) -> str | None:
    """The name of the team a token is restricted to (None: every team of yours)."""
    team_id = token.get("team_id")
    if not team_id:
        return None
    return next((str(t["name"]) for t in teams if t["id"] == team_id), "a team you left")


def create_body(name: str, scopes: list[str], expires_in_days: str, team_id: str) -> dict[str, Any]:
    """The API's request from the form as typed (the API judges every value)."""
    body: dict[str, Any] = {"name": name.strip(), "scopes": list(dict.fromkeys(scopes))}
    days = expires_in_days.strip()
    body["expires_in_days"] = int(days) if days.isdigit() else days
    if team_id.strip():
        body["team_id"] = team_id.strip()
    return body

"""Pure rules of the audit pages: each entry's kind and details in words, and the names of
the people in it (no API, no request; unit-tested alone)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

# The catalogue's permission that opens a team's log (GET /api/v1/permissions).
AUDIT_READ = "audit.read"

# Every kind the API records, as the pages name it, in the order the filters offer them.
KINDS: dict[str, str] = {
    "login.succeeded": "Signed in",
    "login.failed": "Failed sign-in",
    "sessions.revoked": "Signed out",
    "password.changed": "Password changed",
    "email.changed": "Email address changed",
    "api_token.created": "API token created",
    "api_token.revoked": "API token revoked",
    "member.joined": "Joined the team",
    "member.role_changed": "Role changed",
    "member.removed": "Left or removed",
    "role.updated": "Role created or edited",
    "invitation.accepted": "Invitation accepted",
}
# A team's log holds its own facts and the API tokens restricted to it, never log-ins.
TEAM_KINDS = (
    "member.joined",
    "member.role_changed",
    "member.removed",
    "role.updated",
    "invitation.accepted",
    "api_token.created",
    "api_token.revoked",
)
SESSION_SCOPES = {
    "token": "one session",
    "family": "a session and its renewals",
    "user": "every session",
}


def person(ref: Mapping[str, Any] | None, viewer: str | None) -> str:
    """A person as the page names them: "you", else display name, username or short id;
    "" for nobody (a failed sign-in's actor is not known)."""
    if not ref:
        return ""
    if viewer and str(ref.get("id")) == viewer:
        return "you"
    return str(ref.get("display_name") or ref.get("username") or str(ref.get("id"))[:8])


def when(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).strftime("%d %b %Y, %H:%M:%S UTC")
    except ValueError:
        return stamp


def _joined(values: Any) -> str:
    return ", ".join(str(v) for v in values) if values else "no permission"


def summary(kind: str, details: Mapping[str, Any]) -> str:
    """What the entry's details say, in a phrase ("" when nothing more)."""
    if kind == "login.failed":
        return f"as “{details.get('login', '')}” ({details.get('reason', 'refused')})"
    if kind == "password.changed":
        return "by an emailed reset link" if details.get("how") == "reset" else "while signed in"
    if kind == "email.changed":
        return f"from {details.get('old_email', '?')} to {details.get('new_email', '?')}"
    if kind == "api_token.created":
        expires = str(details.get("expires_at", ""))[:10]
        scopes = _joined(details.get("scopes"))
        return f"“{details.get('name', '')}” for {scopes}, until {expires}"
    if kind == "sessions.revoked":
        return SESSION_SCOPES.get(str(details.get("scope")), "")
    if kind in {"member.joined", "invitation.accepted"} and details.get("role_name"):
        return f"as {details['role_name']}"
    if kind == "member.role_changed":
        before = details.get("previous_role_name")
        after = details.get("role_name", "?")
        return f"from {before} to {after}" if before else f"to {after}"
    if kind == "member.removed":
        return "left" if details.get("left") else "removed"
    if kind == "role.updated":
        return f"“{details.get('name', '')}”: {_joined(details.get('permissions'))}"
    return ""


def chosen_kinds(kinds: list[str], offered: tuple[str, ...] | list[str]) -> list[str]:
    """The kinds a filter form chose, known ones only and in the offered order."""
    wanted = set(kinds)
    return [kind for kind in offered if kind in wanted]

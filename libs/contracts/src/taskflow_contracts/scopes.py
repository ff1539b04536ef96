"""What a personal API token needs for each operation of the four APIs: the one map.

Each operation id (``<resource>.<action>``, as the OpenAPI documents name them) maps to:

- the scopes any one of which opens it to a token (``taskflow_contracts.permissions``'
  ``ALL_SCOPES``); a route that then checks a team permission (a role's grant) checks the
  member's permissions intersected with the token's scopes, so a token never does more
  than its owner's role allows, now or later;
- ``SESSION``: never open to a token, only to a signed-in session (token management,
  password, email, account deletion, log-out, joining teams, creating teams);
- ``ANY_TOKEN``: open to every token whatever it names (a member's own role in a team,
  which other services ask teams with the caller's token to authorize it);
- ``PUBLIC``: the route takes no token at all (sign-up, log-in, health).

Some fields of an operation a token opens are still a session's alone (``SESSION_FIELDS``):
those that change how the account signs in, like the username log-in asks for. The route
refuses a token that sends one (403 ``insufficient-scope`` naming the field).

The chassis enforces it for every token caller (``taskflow_chassis.security``); an
operation missing from the map is closed to tokens, and tests/system/test_token_scopes.py
fails for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from taskflow_contracts import permissions as P

SESSION: Final = "session"
ANY_TOKEN: Final = "any-token"
PUBLIC: Final = "public"

Requirement = tuple[str, ...] | str

OPERATION_SCOPES: Final[dict[str, Requirement]] = {
    # every service
    "healthz.get": PUBLIC,
    "readyz.get": PUBLIC,
    # auth
    "auth.users.create": PUBLIC,
    "auth.users.verify_email": PUBLIC,
    "auth.users.reset_password": PUBLIC,
    "auth.users.reset_password_confirm": PUBLIC,
    "auth.jwt.create": PUBLIC,
    "auth.jwt.refresh": PUBLIC,
    "auth.jwt.verify": PUBLIC,
    "auth.verify.get": PUBLIC,
    "auth.jwks.get": PUBLIC,
    "auth.users.me.get": (P.PROFILE_READ,),
    "auth.users.me.update": (P.PROFILE_UPDATE,),
    "auth.users.me.delete": SESSION,
    "auth.users.me.email": SESSION,
    "auth.users.resend_verification": SESSION,
    "auth.users.set_password": SESSION,
    "auth.jwt.revoke": SESSION,
    "auth.jwt.revoke_all": SESSION,
    "tokens.create": SESSION,
    "tokens.list": SESSION,
    "tokens.delete": SESSION,
    "participants.register": (P.PROFILE_UPDATE,),
    "participants.me.get": (P.PROFILE_READ,),
    "participants.me.update": (P.PROFILE_UPDATE,),
    # teams
    "teams.create": SESSION,
    "teams.list": (P.TEAMS_READ,),
    "teams.get": (P.TEAMS_READ,),
    "teams.update": (P.TEAM_UPDATE,),
    "teams.delete": (P.TEAM_DELETE,),
    "teams.restore": (P.TEAM_DELETE,),
    "teams.members.list": (P.TEAMS_READ,),
    "teams.members.me.get": ANY_TOKEN,
    "teams.members.get": (P.TEAMS_READ,),
    "teams.members.update": (P.MEMBERS_MANAGE,),
    "teams.members.delete": (P.MEMBERS_MANAGE,),
    "teams.roles.list": (P.TEAMS_READ,),
    "teams.roles.create": (P.ROLES_MANAGE,),
    "teams.roles.update": (P.ROLES_MANAGE,),
    "teams.roles.delete": (P.ROLES_MANAGE,),
    "teams.invitations.create": (P.MEMBERS_INVITE,),
    "teams.invitations.list": (P.MEMBERS_INVITE,),
    "teams.invitations.delete": (P.MEMBERS_INVITE,),
    "teams.invitations.resend": (P.MEMBERS_INVITE,),
    "invitations.list": SESSION,
    "invitations.accept": SESSION,
    "invitations.decline": SESSION,
    "permissions.get": (P.TEAMS_READ,),
    # One's own security audit log is for a person signed in, a team's for its readers.
    "audit.list": SESSION,
    "teams.audit.list": (P.AUDIT_READ,),
    # work
    "projects.create": (P.PROJECTS_CREATE,),
    "projects.list": (P.PROJECTS_READ,),
    "projects.get": (P.PROJECTS_READ,),
    "projects.update": (P.PROJECTS_UPDATE,),
    "projects.delete": (P.PROJECTS_DELETE,),
    "projects.restore": (P.PROJECTS_DELETE,),
    "projects.tasks.create": (P.TASKS_CREATE,),
    "tasks.list": (P.TASKS_READ,),
    "tasks.get": (P.TASKS_READ,),
    "tasks.activity.list": (P.TASKS_READ,),
    # A change's own permissions (tasks.rules: a move into or out of done is a review) are
    # checked by the route against the member's permissions within the token's scopes.
    "tasks.update": (P.TASKS_UPDATE, P.TASKS_REVIEW),
    "tasks.bulk_update": (P.TASKS_UPDATE, P.TASKS_REVIEW, P.TASKS_ASSIGN),
    "tasks.delete": (P.TASKS_DELETE,),
    "tasks.assignees.create": (P.TASKS_ASSIGN,),
    "tasks.assignees.delete": (P.TASKS_ASSIGN,),
    "tasks.comments.list": (P.COMMENTS_READ,),
    "comments.get": (P.COMMENTS_READ,),
    "tasks.comments.create": (P.COMMENTS_CREATE,),
    # An author edits their own comments; a moderator deletes others'.
    "comments.update": (P.COMMENTS_CREATE,),
    "comments.delete": (P.COMMENTS_CREATE, P.COMMENTS_MODERATE),
    # notify
    "notifications.list": (P.NOTIFICATIONS_READ,),
    "notifications.stream": (P.NOTIFICATIONS_READ,),
    "notifications.preferences.get": (P.NOTIFICATIONS_READ,),
    "notifications.read": (P.NOTIFICATIONS_UPDATE,),
    "notifications.read_all": (P.NOTIFICATIONS_UPDATE,),
    "notifications.preferences.replace": (P.NOTIFICATIONS_UPDATE,),
    "notifications.preferences.update": (P.NOTIFICATIONS_UPDATE,),
    "webhooks.event_types": (P.WEBHOOKS_MANAGE,),
    "webhooks.create": (P.WEBHOOKS_MANAGE,),
    "webhooks.list": (P.WEBHOOKS_MANAGE,),
    "webhooks.get": (P.WEBHOOKS_MANAGE,),
    "webhooks.update": (P.WEBHOOKS_MANAGE,),
    "webhooks.delete": (P.WEBHOOKS_MANAGE,),
    "webhooks.rotate_secret": (P.WEBHOOKS_MANAGE,),
    "webhooks.deliveries": (P.WEBHOOKS_MANAGE,),
    "webhooks.redeliver": (P.WEBHOOKS_MANAGE,),
}


# Fields a token never changes, though its scopes open the operation: they change how the
# account signs in, which is account management, a signed-in session's alone.
SESSION_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "auth.users.me.update": ("username",),
}


def session_fields(operation_id: str | None, fields: Iterable[str]) -> list[str]:
    """Which of the ``fields`` a request sets only a session may set in this operation."""
    kept = SESSION_FIELDS.get(operation_id or "", ())
    return sorted(field for field in fields if field in kept)


def token_refusal(operation_id: str | None, scopes: frozenset[str]) -> str | None:
    """Why a token holding ``scopes`` may not call the operation, or None when it may."""
    requirement = OPERATION_SCOPES.get(operation_id or "")
    if requirement is None or requirement == SESSION:
        return "This operation is open to a signed-in session only, never to an API token."
    if requirement in (ANY_TOKEN, PUBLIC):
        return None
    if scopes.isdisjoint(requirement):
        return f"This API token lacks the scope {' or '.join(requirement)}."
    return None

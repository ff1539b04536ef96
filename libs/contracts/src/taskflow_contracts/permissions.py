"""The one permission catalogue (flat strings, each with its description), and the
built-in roles' grants.

Every check in every service names a constant from here; no code compares role
names to decide what someone may do.
"""

from __future__ import annotations

from typing import Final

TEAM_UPDATE: Final = "team.update"
TEAM_DELETE: Final = "team.delete"
MEMBERS_INVITE: Final = "members.invite"
MEMBERS_MANAGE: Final = "members.manage"
ROLES_MANAGE: Final = "roles.manage"
PROJECTS_CREATE: Final = "projects.create"
PROJECTS_UPDATE: Final = "projects.update"
PROJECTS_DELETE: Final = "projects.delete"
TASKS_CREATE: Final = "tasks.create"
TASKS_UPDATE: Final = "tasks.update"
TASKS_ASSIGN: Final = "tasks.assign"
TASKS_REVIEW: Final = "tasks.review"
TASKS_DELETE: Final = "tasks.delete"
COMMENTS_CREATE: Final = "comments.create"
COMMENTS_MODERATE: Final = "comments.moderate"
WEBHOOKS_MANAGE: Final = "webhooks.manage"
AUDIT_READ: Final = "audit.read"

# Every permission with what it lets a member do: the one place both are written. A role
# may only grant permissions of this catalogue; GET /api/v1/permissions (teams) shows it.
DESCRIPTIONS: Final[dict[str, str]] = {
    TEAM_UPDATE: "Rename the team and change its description.",
    TEAM_DELETE: "Delete the team, with its projects, tasks and comments.",
    MEMBERS_INVITE: (
        "Invite people to the team by email, and list, resend or revoke its invitations "
        "(only for roles granting nothing the inviter lacks)."
    ),
    MEMBERS_MANAGE: "Change a member's role, and remove members other than oneself.",
    ROLES_MANAGE: "Create, edit and delete the team's custom roles.",
    PROJECTS_CREATE: "Create projects in the team.",
    PROJECTS_UPDATE: "Edit the team's projects, and archive or unarchive them.",
    PROJECTS_DELETE: "Delete the team's projects, with their tasks.",
    TASKS_CREATE: "Create tasks in the team's projects.",
    TASKS_UPDATE: "Edit tasks, and change their status short of moving them into or out of done.",
    TASKS_ASSIGN: "Assign tasks to members, and unassign them.",
    TASKS_REVIEW: "Move a task into done, or out of it (a review decision).",
    TASKS_DELETE: "Delete tasks.",
    COMMENTS_CREATE: "Comment on tasks (an author may always edit or delete their own).",
    COMMENTS_MODERATE: "Delete other members' comments.",
    AUDIT_READ: (
        "Read the team's security audit log: who joined or left, role and permission "
        "changes, accepted invitations, and API tokens restricted to the team."
    ),
    WEBHOOKS_MANAGE: (
        "Register the team's webhook endpoints, change or delete them, rotate their secrets, "
        "and see and redeliver their deliveries."
    ),
}

ALL_PERMISSIONS: Final[frozenset[str]] = frozenset(DESCRIPTIONS)

TEAM_LEADER: Final = "Team Leader"
PROJECT_MANAGER: Final = "Project Manager"
DEVELOPER: Final = "Developer"
REVIEWER: Final = "Reviewer"
VIEWER: Final = "Viewer"


def _prefixed(prefix: str) -> frozenset[str]:
    return frozenset(p for p in ALL_PERMISSIONS if p.startswith(prefix + "."))


BUILT_IN_ROLES: Final[dict[str, frozenset[str]]] = {
    TEAM_LEADER: ALL_PERMISSIONS,
    PROJECT_MANAGER: _prefixed("projects")
    | _prefixed("tasks")
    | _prefixed("comments")
    | {MEMBERS_INVITE},
    DEVELOPER: frozenset({TASKS_CREATE, TASKS_UPDATE, COMMENTS_CREATE}),
    REVIEWER: frozenset({TASKS_REVIEW, COMMENTS_CREATE}),
    VIEWER: frozenset(),
}


def unknown_permissions(permissions: set[str] | frozenset[str] | list[str]) -> set[str]:
    return set(permissions) - ALL_PERMISSIONS


# --- scopes of personal API tokens (issue 21) -----------------------------------------------
# A token names what it may do: permissions of the catalogue above (still only as far as the
# owner's role grants them, now and later) and these read and personal scopes. They are not
# permissions a role grants: for a signed-in person, being a member implies reading the team's
# objects, and owning the account implies the personal ones, so roles made before they
# existed keep working. A token holds only what it names.
TEAMS_READ: Final = "teams.read"
PROJECTS_READ: Final = "projects.read"
TASKS_READ: Final = "tasks.read"
COMMENTS_READ: Final = "comments.read"
NOTIFICATIONS_READ: Final = "notifications.read"
NOTIFICATIONS_UPDATE: Final = "notifications.update"
PROFILE_READ: Final = "profile.read"
PROFILE_UPDATE: Final = "profile.update"

# Read scopes of a team's objects: membership implies them.
MEMBER_SCOPES: Final[dict[str, str]] = {
    TEAMS_READ: "Read the team, its members, roles and the permission catalogue.",
    PROJECTS_READ: "Read the team's projects.",
    TASKS_READ: "Read the team's tasks and their activity.",
    COMMENTS_READ: "Read comments on the team's tasks.",
}
# The account's own things: owning it implies them. A token restricted to a team holds none.
PERSONAL_SCOPES: Final[dict[str, str]] = {
    NOTIFICATIONS_READ: "Read one's notifications, their live stream and email preferences.",
    NOTIFICATIONS_UPDATE: "Mark notifications read and change email preferences.",
    PROFILE_READ: "Read one's account and participant profile.",
    PROFILE_UPDATE: "Change one's username and participant profile (never password or email).",
}
# Every scope a token may name, with its description, grouped as the web page shows them.
SCOPE_DESCRIPTIONS: Final[dict[str, str]] = {**MEMBER_SCOPES, **DESCRIPTIONS, **PERSONAL_SCOPES}
ALL_SCOPES: Final[frozenset[str]] = frozenset(SCOPE_DESCRIPTIONS)


def unknown_scopes(scopes: set[str] | frozenset[str] | list[str]) -> set[str]:
    return set(scopes) - ALL_SCOPES

"""The one permission catalogue (flat strings), and the built-in roles' grants.

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

ALL_PERMISSIONS: Final[frozenset[str]] = frozenset(
    {
        TEAM_UPDATE,
        TEAM_DELETE,
        MEMBERS_INVITE,
        MEMBERS_MANAGE,
        ROLES_MANAGE,
        PROJECTS_CREATE,
        PROJECTS_UPDATE,
        PROJECTS_DELETE,
        TASKS_CREATE,
        TASKS_UPDATE,
        TASKS_ASSIGN,
        TASKS_REVIEW,
        TASKS_DELETE,
        COMMENTS_CREATE,
        COMMENTS_MODERATE,
    }
)

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

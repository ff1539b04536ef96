"""Pure rules of the projects and tasks pages: the permissions a page asks about, and the
messages a refused change shows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskflow_web.api.adapters import ApiProblem


class Permissions:
    """The permissions these pages ask about, as the catalogue (GET /api/v1/permissions)
    names them; templates read them as ``perms.TASKS_UPDATE``. A page only hides what the
    role lacks: the API's 403 still decides."""

    PROJECTS_CREATE = "projects.create"
    PROJECTS_UPDATE = "projects.update"
    PROJECTS_DELETE = "projects.delete"
    TASKS_CREATE = "tasks.create"
    TASKS_UPDATE = "tasks.update"
    TASKS_ASSIGN = "tasks.assign"
    TASKS_REVIEW = "tasks.review"
    TASKS_DELETE = "tasks.delete"
    COMMENTS_CREATE = "comments.create"
    COMMENTS_MODERATE = "comments.moderate"


STALE = (
    "This was changed by someone else in the meantime. Reload the page to see it, then try again."
)


def refusal(problem: ApiProblem) -> str:
    """What a person reads when the API refused a change made from a page."""
    if problem.status == 412:
        return STALE
    if problem.status == 403:
        return f"You may not do that here: {problem.detail}"
    return problem.detail


def archived_message(name: str, archived: bool) -> str:
    if archived:
        return f"Project “{name}” archived: it takes no new tasks."
    return f"Project “{name}” is open again."


def person_name(person: Mapping[str, Any] | None) -> str:
    """A person as named beside an id: display name, else username, else a short id."""
    if not person:
        return "someone"
    return str(
        person.get("display_name") or person.get("username") or f"user {str(person['id'])[:8]}"
    )

"""Pure rules of the task pages: the work API's statuses and priorities as people read
them, due dates (a whole day, or an instant), the list's filters as query parameters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from taskflow_web.projects.rules import person_name

# The work API's statuses, in the board's order, and its priorities, lowest first.
STATUSES: tuple[tuple[str, str], ...] = (
    ("backlog", "Backlog"),
    ("todo", "To do"),
    ("in_progress", "In progress"),
    ("in_review", "In review"),
    ("done", "Done"),
)
PRIORITIES: tuple[tuple[str, str], ...] = (
    ("low", "Low"),
    ("medium", "Medium"),
    ("high", "High"),
    ("critical", "Critical"),
)
# The list's sort options (the API's ``sort``), newest first by default.
SORTS: tuple[tuple[str, str], ...] = (
    ("-created_at", "Newest first"),
    ("created_at", "Oldest first"),
    ("due_at", "Due soonest"),
    ("-due_at", "Due latest"),
    ("-priority", "Highest priority"),
    ("priority", "Lowest priority"),
)
STATUS_NAMES = dict(STATUSES)
PRIORITY_NAMES = dict(PRIORITIES)
# A due date given as a day is due by its end (the API's 23:59:59.999999Z).
DAY_END = "T23:59:59.999999"
REVIEW_STATUS = "done"  # moving into or out of it needs tasks.review


def due_text(due_at: str | None) -> str:
    """A due date as shown: the day alone when it is due by the end of a day (UTC)."""
    if not due_at:
        return ""
    if DAY_END in due_at:
        return due_at[:10]
    moment = datetime.fromisoformat(due_at.replace("Z", "+00:00"))
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def due_fields(due_at: str | None) -> dict[str, str]:
    """A due date split into the edit form's date and time (UTC; no time: the whole day)."""
    if not due_at:
        return {"due_date": "", "due_time": ""}
    if DAY_END in due_at:
        return {"due_date": due_at[:10], "due_time": ""}
    moment = datetime.fromisoformat(due_at.replace("Z", "+00:00"))
    return {"due_date": moment.strftime("%Y-%m-%d"), "due_time": moment.strftime("%H:%M")}


def due_value(due_date: str, due_time: str) -> str | None:
    """The API's ``due_at`` from the form: a date alone, or a date and a time in UTC; None
    when no date is given (the task has no due date)."""
    day, time = due_date.strip(), due_time.strip()
    if not day:
        return None
    return f"{day}T{time}:00Z" if time else day


def labels_of(text: str) -> list[str]:
    """Labels typed as a comma-separated list, blanks dropped, each once."""
    return list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


@dataclass(frozen=True)
class TaskFilters:
    """The task list's filters as the GET form sends them (a filter may repeat)."""

    status: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    assignee: tuple[str, ...] = ()
    label: tuple[str, ...] = ()
    q: str = ""
    sort: str = "-created_at"

    def api_params(self, project_id: str) -> list[tuple[str, str]]:
        """The API's query: repeated values as repeated parameters, blanks left out."""
        params: list[tuple[str, str]] = [("project_id", project_id), ("sort", self.sort)]
        for name in ("status", "priority", "assignee", "label"):
            params += [(name, value) for value in getattr(self, name) if value]
        if self.q.strip():
            params.append(("q", self.q.strip()))
        return params

    def query(self, cursor: str | None = None) -> str:
        """This page's own query string (shareable), with the next page's cursor if any."""
        params: list[tuple[str, str]] = []
        for name in ("status", "priority", "assignee", "label"):
            params += [(name, value) for value in getattr(self, name) if value]
        if self.q.strip():
            params.append(("q", self.q.strip()))
        if self.sort != "-created_at":
            params.append(("sort", self.sort))
        if cursor:
            params.append(("cursor", cursor))
        return urlencode(params)

    def chosen(self, name: str, value: str) -> bool:
        values: Iterable[str] = getattr(self, name)
        return value in values


def card(task: Mapping[str, Any], version: str) -> dict[str, Any]:
    """A task as the pages show it: names beside ids, its due date as text, its version."""
    return {
        **task,
        "version": version,
        "due_text": due_text(task.get("due_at")),
        "status_name": STATUS_NAMES.get(str(task.get("status")), str(task.get("status"))),
        "priority_name": PRIORITY_NAMES.get(str(task.get("priority")), str(task.get("priority"))),
        "assignee_names": [person_name(person) for person in task.get("assignees", [])],
    }


def changed(current: Mapping[str, Any], typed: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the edit form changes, compared with the task as it is (a due date as
    typed against the day or instant it stands for)."""
    changes: dict[str, Any] = {}
    for name, value in typed.items():
        before = current.get(name)
        if name == "due_at":
            same = due_value(**due_fields(before)) == value
        elif name == "description":
            same = (before or "") == value
        else:
            same = before == value
        if not same:
            changes[name] = value
    return changes


# --- the list's bulk change (POST /api/v1/tasks/bulk) -----------------------------------

NOTHING_PICKED = "Select at least one task to change."
NOTHING_CHOSEN = "Choose what to change: a status, an assignee, labels or a due date."


def picked(values: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """The ticked tasks' ids, and each one's version as the list showed it (If-Match)."""
    ids: list[str] = []
    versions: dict[str, str] = {}
    for value in values:
        task_id, _, version = value.partition(":")
        if task_id and task_id not in versions:
            ids.append(task_id)
            versions[task_id] = version
    return ids, {task_id: version for task_id, version in versions.items() if version}


def bulk_changes(
    status: str,
    add_assignee: str,
    add_labels: str,
    remove_labels: str,
    due_date: str,
    clear_due: bool,
) -> dict[str, Any]:
    """The API's ``changes`` from the form: only what was chosen."""
    changes: dict[str, Any] = {}
    if status:
        changes["status"] = status
    if add_assignee:
        changes["add_assignees"] = [add_assignee]
    if labels_of(add_labels):
        changes["add_labels"] = labels_of(add_labels)
    if labels_of(remove_labels):
        changes["remove_labels"] = labels_of(remove_labels)
    if clear_due:
        changes["due_at"] = None
    elif due_date.strip():
        changes["due_at"] = due_value(due_date, "")
    return changes


def failures_by_task(errors: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The API's reasons per task (an all-or-nothing refusal lists each failing id)."""
    found: dict[str, str] = {}
    for error in errors:
        task_id = error.get("task_id")
        if task_id:
            reason = str(error.get("msg") or error.get("message") or error.get("code") or "")
            found.setdefault(str(task_id), reason)
    return found


def bulk_done(result: Mapping[str, Any]) -> str:
    changed, unchanged = len(result.get("changed", [])), len(result.get("unchanged", []))
    said = f"{changed} task{'s' if changed != 1 else ''} changed."
    if unchanged:
        said += f" {unchanged} already as asked."
    return said


def filters_of(query: str) -> tuple[TaskFilters, str]:
    """The list's filters from its own query string (``TaskFilters.query``), and that
    query as it can be put back in an address."""
    values = parse_qs(query, keep_blank_values=False)
    filters = TaskFilters(
        tuple(values.get("status", ())),
        tuple(values.get("priority", ())),
        tuple(values.get("assignee", ())),
        tuple(values.get("label", ())),
        values.get("q", [""])[0],
        values.get("sort", ["-created_at"])[0],
    )
    return filters, filters.query()

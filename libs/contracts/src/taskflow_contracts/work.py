"""Events the work service publishes (docs/events.md)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from taskflow_contracts.base import EventPayload


class ProjectCreated(EventPayload):
    event_type = "taskflow.work.project.created.v1"
    project_id: UUID
    team_id: UUID
    name: str
    due_on: date | None


class ProjectUpdated(EventPayload):
    event_type = "taskflow.work.project.updated.v1"
    project_id: UUID
    team_id: UUID
    name: str
    due_on: date | None
    archived: bool


class ProjectDeletedV1(EventPayload):
    """No longer published (read as ProjectPurged): until issue 18 a project's deletion
    erased it and its tasks at once. Kept so an event still in flight is read as meant."""

    event_type = "taskflow.work.project.deleted.v1"
    project_id: UUID
    team_id: UUID


class ProjectDeleted(EventPayload):
    """The project was deleted, softly: hidden with its tasks, restorable by whoever could
    delete it until ``purge_after``, when ProjectPurged follows (unless ProjectRestored
    came first). Consumers hide what they hold of it. v2: v1 meant erased for good."""

    event_type = "taskflow.work.project.deleted.v2"
    project_id: UUID
    team_id: UUID
    deleted_at: datetime
    purge_after: datetime


class ProjectRestored(EventPayload):
    """A deleted project is back, with its tasks, comments and activity."""

    event_type = "taskflow.work.project.restored.v1"
    project_id: UUID
    team_id: UUID
    name: str


class ProjectPurged(EventPayload):
    """The project and its tasks, comments and activity are gone for good."""

    event_type = "taskflow.work.project.purged.v1"
    project_id: UUID
    team_id: UUID


class TaskCreated(EventPayload):
    event_type = "taskflow.work.task.created.v1"
    task_id: UUID
    project_id: UUID
    team_id: UUID
    title: str
    status: str
    priority: str
    due_at: datetime | None
    assignee_ids: list[UUID]
    created_by: UUID


class TaskUpdated(EventPayload):
    """The task's fields after the change, and which of them changed."""

    event_type = "taskflow.work.task.updated.v1"
    task_id: UUID
    project_id: UUID
    team_id: UUID
    title: str
    description: str | None
    status: str
    priority: str
    due_at: datetime | None
    estimate_hours: float | None
    labels: list[str]
    assignee_ids: list[UUID]
    changed: list[str]
    updated_by: UUID


class TaskAssigned(EventPayload):
    event_type = "taskflow.work.task.assigned.v1"
    task_id: UUID
    project_id: UUID
    team_id: UUID
    title: str
    due_at: datetime | None
    assignee_id: UUID
    assigned_by: UUID


class TaskUnassigned(EventPayload):
    event_type = "taskflow.work.task.unassigned.v1"
    task_id: UUID
    team_id: UUID
    assignee_id: UUID


class TaskDeleted(EventPayload):
    event_type = "taskflow.work.task.deleted.v1"
    task_id: UUID
    project_id: UUID
    team_id: UUID


class CommentCreated(EventPayload):
    event_type = "taskflow.work.comment.created.v1"
    comment_id: UUID
    task_id: UUID
    project_id: UUID
    team_id: UUID
    author_id: UUID
    excerpt: str

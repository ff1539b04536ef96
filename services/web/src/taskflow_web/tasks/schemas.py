"""The task pages' forms (bounded here, judged by the API)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field

from taskflow_web.pages.schemas import WebForm
from taskflow_web.projects.schemas import Version

Title = Annotated[str, Field(default="", max_length=400)]


class QuickAddForm(WebForm):
    title: Title
    status: Annotated[str, Field(default="todo", max_length=20)]


class MoveForm(WebForm):
    status: Annotated[str, Field(max_length=20)]
    version: Version


class TaskForm(WebForm):
    title: Title
    description: Annotated[str, Field(default="", max_length=20_000)]
    status: Annotated[str, Field(default="todo", max_length=20)]
    priority: Annotated[str, Field(default="medium", max_length=20)]
    due_date: Annotated[str, Field(default="", max_length=10)]
    due_time: Annotated[str, Field(default="", max_length=5)]
    labels: Annotated[str, Field(default="", max_length=1_200)]
    version: Version


class AssignForm(WebForm):
    user_id: uuid.UUID


# A task the list's bulk form selects: "<id>:<the version the list showed>".
Picked = Annotated[str, Field(max_length=120)]


class BulkForm(WebForm):
    """The task list's bulk change: the tasks ticked, and what to do to all of them
    (each field left empty leaves that alone)."""

    task: Annotated[list[Picked], Field(default_factory=list, max_length=500)]
    status: Annotated[str, Field(default="", max_length=20)]
    add_assignee: Annotated[str, Field(default="", max_length=36)]
    add_labels: Annotated[str, Field(default="", max_length=1_200)]
    remove_labels: Annotated[str, Field(default="", max_length=1_200)]
    due_date: Annotated[str, Field(default="", max_length=10)]
    clear_due: bool = False
    # The list's own query (its filters and sort), to come back to.
    back: Annotated[str, Field(default="", max_length=4_096)]

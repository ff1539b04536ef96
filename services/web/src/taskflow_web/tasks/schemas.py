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

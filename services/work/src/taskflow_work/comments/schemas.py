"""Comment API models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from taskflow_work.replica.schemas import PersonRef

Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Body


class CommentUpdate(CommentCreate):
    pass


class CommentRead(BaseModel):
    id: uuid.UUID
    task_id: uuid.UUID
    author_id: uuid.UUID
    author: PersonRef
    body: str
    created_at: datetime
    edited_at: datetime | None

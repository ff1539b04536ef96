"""Comment API models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from taskflow_chassis.openapi import (
    EXAMPLE_PERSON,
    EXAMPLE_TASK_ID,
    EXAMPLE_UPDATED_AT,
    EXAMPLE_USER_ID,
)

from taskflow_work.replica.schemas import PersonRef

Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


COMMENT_BODY_EXAMPLE = "The draft is in the shared folder: could you check the intro?"


class CommentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"body": COMMENT_BODY_EXAMPLE}]}
    )

    body: Body


class CommentUpdate(CommentCreate):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"body": "The draft is in the shared folder: could you check the title?"}]
        }
    )


class CommentRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3d8a6f21-c94e-4b07-8a5f-1e2d7c9b0a64",
                    "task_id": EXAMPLE_TASK_ID,
                    "author_id": EXAMPLE_USER_ID,
                    "author": EXAMPLE_PERSON,
                    "body": COMMENT_BODY_EXAMPLE,
                    "created_at": EXAMPLE_UPDATED_AT,
                    "edited_at": None,
                }
            ]
        }
    )

    id: uuid.UUID
    task_id: uuid.UUID
    author_id: uuid.UUID
    author: PersonRef
    body: str
    created_at: datetime
    edited_at: datetime | None

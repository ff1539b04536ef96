"""Activity API models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from taskflow_chassis.openapi import (
    EXAMPLE_PERSON,
    EXAMPLE_TASK_ID,
    EXAMPLE_UPDATED_AT,
    EXAMPLE_USER_ID,
)

from taskflow_work.replica.schemas import PersonRef


class ActivityRead(BaseModel):
    # A change of one field shows it as [before, after].
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "f1a7c3e9-4d2b-4a86-9e05-6b8d2c7f1e30",
                    "task_id": EXAMPLE_TASK_ID,
                    "actor_id": EXAMPLE_USER_ID,
                    "actor": EXAMPLE_PERSON,
                    "action": "status_changed",
                    "details": {"status": ["in_progress", "in_review"]},
                    "created_at": EXAMPLE_UPDATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID
    task_id: uuid.UUID
    actor_id: uuid.UUID
    actor: PersonRef
    action: str
    details: dict[str, Any]
    created_at: datetime

"""Activity API models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from taskflow_work.replica.schemas import PersonRef


class ActivityRead(BaseModel):
    id: uuid.UUID
    task_id: uuid.UUID
    actor_id: uuid.UUID
    actor: PersonRef
    action: str
    details: dict[str, Any]
    created_at: datetime

"""Audit log API models: an entry as the two logs show it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from taskflow_chassis.openapi import (
    EXAMPLE_CREATED_AT,
    EXAMPLE_OTHER_PERSON,
    EXAMPLE_OTHER_USER_ID,
    EXAMPLE_PERSON,
    EXAMPLE_ROLE_ID,
    EXAMPLE_TEAM_ID,
    EXAMPLE_USER_ID,
)

from taskflow_teams.audit.models import AuditKind
from taskflow_teams.replica.schemas import PersonRef

EXAMPLE_ENTRY: dict[str, Any] = {
    "id": "5c0f3a8e-91d4-4b27-a6e3-2f7d18c94b50",
    "occurred_at": EXAMPLE_CREATED_AT,
    "kind": AuditKind.MEMBER_ROLE_CHANGED,
    "actor_id": EXAMPLE_USER_ID,
    "actor": EXAMPLE_PERSON,
    "subject_id": EXAMPLE_OTHER_USER_ID,
    "subject": EXAMPLE_OTHER_PERSON,
    "team_id": EXAMPLE_TEAM_ID,
    "object_id": EXAMPLE_ROLE_ID,
    "address": None,
    "user_agent": None,
    "details": {"role_name": "Reviewer", "previous_role_name": "Developer"},
}


class AuditEntryRead(BaseModel):
    """One fact: who (``actor``, null when unknown) did what (``kind``) concerning whom
    (``subject``), in which team (null for personal entries), from where when known."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_ENTRY]})

    id: uuid.UUID
    occurred_at: datetime
    kind: AuditKind
    actor_id: uuid.UUID | None
    actor: PersonRef | None
    subject_id: uuid.UUID | None
    subject: PersonRef | None
    team_id: uuid.UUID | None
    object_id: uuid.UUID | None
    address: str | None
    user_agent: str | None
    details: dict[str, Any]

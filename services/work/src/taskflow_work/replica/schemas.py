"""How an answer names a person: the id, with the names the replica knows (null until
auth's events about the person arrive)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict
from taskflow_chassis.openapi import EXAMPLE_PERSON


class PersonRef(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_PERSON]})

    id: uuid.UUID
    username: str | None
    display_name: str | None

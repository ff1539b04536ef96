"""How an answer names a person: the id, with the names the replica knows (null until
auth's events about the person arrive)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel


class PersonRef(BaseModel):
    id: uuid.UUID
    username: str | None
    display_name: str | None

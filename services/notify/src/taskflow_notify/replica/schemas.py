"""How an answer names a person: the id, with the names the replica knows (null until
auth's events about the person arrive)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict
from taskflow_chassis.openapi import EXAMPLE_PERSON

from taskflow_notify.replica.models import UserReplica


class PersonRef(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_PERSON]})

    id: uuid.UUID
    username: str | None
    display_name: str | None


def person_ref(user_id: uuid.UUID, person: UserReplica | None) -> PersonRef:
    """``person`` is the replica's row for ``user_id``, or None when it has none."""
    if person is None:
        return PersonRef(id=user_id, username=None, display_name=None)
    return PersonRef(id=user_id, username=person.username, display_name=person.display_name)

"""The CloudEvents envelope."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ValidationError
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.logs import correlation_id


class Payload(BaseModel):
    user_id: str
    count: int


def test_round_trip_and_required_attributes() -> None:
    event = new_event(
        "taskflow.auth.user.registered.v1",
        source="/taskflow/auth",
        data=Payload(user_id="u", count=2),
    )
    raw = json.loads(event.to_json())
    assert raw["specversion"] == "1.0" and raw["datacontenttype"] == "application/json"
    assert raw["data"] == {"user_id": "u", "count": 2}
    assert raw["time"].endswith("Z") or raw["time"].endswith("+00:00")
    assert CloudEvent.from_json(event.to_json()) == event


def test_unknown_attributes_are_tolerated() -> None:
    raw = {
        "specversion": "1.0",
        "id": "1",
        "type": "taskflow.teams.team.created.v1",
        "source": "/x",
        "time": "2026-01-01T00:00:00Z",
        "data": {"team_id": "t", "future_field": 1},
        "newextension": "kept",
    }
    event = CloudEvent.model_validate(raw)
    assert event.data["future_field"] == 1
    assert json.loads(event.to_json())["newextension"] == "kept"


@pytest.mark.parametrize(
    "bad",
    [
        "user.created",
        "taskflow.auth.user.created",
        "taskflow.auth.user.created.v0",
        "TaskFlow.a.b.c.v1",
    ],
)
def test_type_must_be_versioned(bad: str) -> None:
    with pytest.raises(ValidationError):
        new_event(bad, source="/x", data={})


def test_correlation_id_comes_from_the_context() -> None:
    token = correlation_id.set("req-9")
    try:
        event = new_event("taskflow.auth.password_reset.requested.v1", source="/x", data={})
    finally:
        correlation_id.reset(token)
    assert event.correlationid == "req-9"
    assert new_event("taskflow.a.b.c.v2", source="/x", data={}).correlationid is None

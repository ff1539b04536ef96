"""The CloudEvents envelope."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

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
        "taskflow.auth.password-reset.requested.v1",
        "taskflow.auth.user.registered.v1.extra",
        "taskflow.auth.user.registered.V1",
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


def test_new_event_fills_the_envelope() -> None:
    event = new_event(
        "taskflow.teams.member.role_changed.v2",
        source="/taskflow/teams",
        data={"team_id": "t"},
        subject="t",
        correlation_id="explicit",
    )
    assert uuid.UUID(event.id).version == 4
    assert event.time.tzinfo is not None and event.time.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - event.time).total_seconds()) < 5
    assert event.subject == "t" and event.correlationid == "explicit"
    assert new_event("taskflow.a.b.c.v1", source="/x", data={}).id != event.id


def test_mapping_data_is_made_json_native() -> None:
    # What the producer holds equals what a consumer parses: no UUID or datetime objects.
    user_id, when = uuid.uuid4(), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = new_event("taskflow.a.b.c.v1", source="/x", data={"user_id": user_id, "at": when})
    assert event.data == {"user_id": str(user_id), "at": "2026-01-02T03:04:05Z"}
    assert CloudEvent.from_json(event.to_json()).data == event.data


def test_times_are_utc_and_text_or_bytes_parse() -> None:
    raw = (
        '{"specversion":"1.0","id":"1","type":"taskflow.a.b.c.v1","source":"/x",'
        '"time":"2026-01-01T02:00:00+02:00","data":{}}'
    )
    for given in (raw, raw.encode()):
        event = CloudEvent.from_json(given)
        assert event.time == datetime(2026, 1, 1, tzinfo=UTC)
        assert event.time.utcoffset() == timedelta(0)
        assert event.subject is None and event.correlationid is None
    naive = CloudEvent(type="taskflow.a.b.c.v1", source="/x", time=datetime(2026, 1, 1), data={})
    assert naive.time == datetime(2026, 1, 1, tzinfo=UTC)
    # Absent optional attributes are left out, not sent as null.
    assert "subject" not in json.loads(event.to_json())


def test_unknown_data_fields_are_ignored_by_a_contract_model() -> None:
    event = new_event(
        "taskflow.auth.user.registered.v1",
        source="/x",
        data={"user_id": "u", "count": 1, "added_in_a_later_release": True},
    )
    assert Payload.model_validate(CloudEvent.from_json(event.to_json()).data) == Payload(
        user_id="u", count=1
    )

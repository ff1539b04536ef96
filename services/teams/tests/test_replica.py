"""The replica of auth's users fed by its events: idempotent, tolerant, and it drives
membership."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlmodel import col
from taskflow_chassis.events import new_event
from taskflow_chassis.handlers import HandlerMap
from taskflow_chassis.inbox import handle_once
from taskflow_chassis.unit_of_work import Publisher
from taskflow_contracts import auth
from taskflow_teams.deps import TeamsDeps
from taskflow_teams.handlers import EVENT_HANDLERS
from taskflow_teams.replica.models import Person

REGISTERED = "taskflow.auth.participant.registered.v1"


async def person_row(world: Any, user_id: uuid.UUID) -> Person | None:
    async with world.app.state.database.session() as session:
        row: Person | None = (
            await session.execute(select(Person).where(col(Person.user_id) == user_id))
        ).scalar_one_or_none()
        return row


async def test_redelivered_participant_event_changes_nothing(world: Any) -> None:
    user_id = uuid.uuid4()
    payload = auth.ParticipantRegistered(
        user_id=user_id,
        username="ann",
        email="ann@example.com",
        display_name="Ann",
        phone_number="+14155552671",
    )
    event = new_event(REGISTERED, source="/taskflow/auth", data=payload)
    database = world.app.state.database
    handlers = HandlerMap(EVENT_HANDLERS, TeamsDeps())
    publisher = Publisher("teams")
    assert await handle_once(database, event, handlers, publisher) is True
    first = await person_row(world, user_id)
    assert first is not None and first.is_participant
    # The same event again (a redelivery): the inbox makes it a no-op, the row is untouched.
    assert await handle_once(database, event, handlers, publisher) is False
    second = await person_row(world, user_id)
    assert second is not None and second.updated_at == first.updated_at
    # Also through the bus, twice.
    await world.bus.publish(event)
    await world.bus.publish(event)
    await world.settle()
    third = await person_row(world, user_id)
    assert third is not None and third.updated_at == first.updated_at


async def test_event_with_unknown_fields_is_handled(world: Any) -> None:
    user_id = uuid.uuid4()
    event = new_event(
        REGISTERED,
        source="/taskflow/auth",
        data={
            "user_id": str(user_id),
            "username": "bo",
            "email": "bo@example.com",
            "display_name": None,
            "phone_number": "+14155552671",
            "pronouns": "they/them",
            "avatar": {"url": "https://example.com/bo.png"},
        },
    )
    await world.bus.publish(event)
    await world.settle()
    row = await person_row(world, user_id)
    assert row is not None and row.is_participant and row.username == "bo"
    assert await world.bus.dead_letters("teams") == []


async def test_deleted_user_leaves_teams_and_a_successor_leads(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    bob = await world.join(team["id"], ada, "Developer", "bob")
    await world.auth_event(auth.UserDeleted(user_id=ada.user_id))
    me = (
        await world.client.get(f"/api/v1/teams/{team['id']}/members/me", headers=bob.headers)
    ).json()
    assert me["role_name"] == "Team Leader"
    members = (
        await world.client.get(f"/api/v1/teams/{team['id']}/members", headers=bob.headers)
    ).json()["items"]
    assert [m["username"] for m in members] == ["bob"]
    await world.auth_event(auth.UserDeleted(user_id=bob.user_id))
    await world.settle()
    assert [e.data["team_id"] for e in world.of_type("taskflow.teams.team.purged.v1")] == [
        team["id"]
    ]

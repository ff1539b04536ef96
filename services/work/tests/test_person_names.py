"""Names beside ids (issue 18): tasks, comments and the activity log name each person with
their username and display name, from work's replica of auth's people; someone the replica
does not know yet has null names; the page and the task are read in as many statements as
before."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from taskflow_chassis.events import new_event
from taskflow_contracts import auth
from taskflow_contracts.base import EventPayload

from .round_trips import round_trips


async def auth_event(world: Any, payload: EventPayload) -> None:
    await world.bus.publish(new_event(payload.event_type, source="/taskflow/auth", data=payload))
    await world.settle()


async def register(world: Any, user_id: uuid.UUID, username: str, display: str | None) -> None:
    email = f"{username}@example.com"
    await auth_event(world, auth.UserRegistered(user_id=user_id, username=username, email=email))
    if display is not None:
        await auth_event(
            world,
            auth.ParticipantRegistered(
                user_id=user_id,
                username=username,
                email=email,
                display_name=display,
                phone_number="+15550100",
            ),
        )


def person(user_id: uuid.UUID, username: str | None, display: str | None) -> dict[str, Any]:
    return {"id": str(user_id), "username": username, "display_name": display}


@contextmanager
def statements(world: Any) -> Iterator[list[str]]:
    """The statements the request inside the block sends: counted in its own context
    (tests/round_trips.py), so the relay, the consumer and the replica's reconciler, which
    run beside it in tasks of their own, never count."""
    seen: list[str] = []
    with round_trips(world.app) as trips:
        yield seen
    seen.extend(trip for trip in trips if trip not in {"BEGIN", "COMMIT", "ROLLBACK"})


async def test_tasks_comments_and_activity_name_people(world: Any) -> None:
    team = await world.team()
    lead, dev = await world.member(team), await world.member(team, "Developer")
    ghost = await world.member(team, "Developer")  # never heard of from auth
    await register(world, lead.user_id, "lead", "Lea Lead")
    await register(world, dev.user_id, "dev", None)
    project = await world.project(team, lead)
    created = await world.task(
        project["id"], lead, assignee_ids=[str(ghost.user_id), str(dev.user_id)]
    )
    expected_assignees = [
        person(ghost.user_id, None, None),
        person(dev.user_id, "dev", None),
    ]
    assert created["created_by"] == str(lead.user_id)
    assert created["creator"] == person(lead.user_id, "lead", "Lea Lead")
    assert created["assignee_ids"] == [str(ghost.user_id), str(dev.user_id)]
    assert created["assignees"] == expected_assignees
    url = f"/api/v1/tasks/{created['id']}"
    one = (await world.client.get(url, headers=dev.headers)).json()
    page = (await world.client.get(f"/api/v1/tasks?team_id={team}", headers=dev.headers)).json()
    assert one["creator"] == page["items"][0]["creator"] == created["creator"]
    assert one["assignees"] == page["items"][0]["assignees"] == expected_assignees

    # Names follow auth's events: a new username keeps the display name; a participant
    # event sets it (and, below, a deleted user is no longer named).
    await auth_event(
        world, auth.UserUpdated(user_id=dev.user_id, username="dev2", email="d@example.com")
    )
    await register(world, ghost.user_id, "ghost", "Casper")
    one = (await world.client.get(url, headers=dev.headers)).json()
    assert one["assignees"] == [
        person(ghost.user_id, "ghost", "Casper"),
        person(dev.user_id, "dev2", None),
    ]

    comment = await world.client.post(
        f"{url}/comments", headers=ghost.headers, json={"body": "on it"}
    )
    assert comment.json()["author"] == person(ghost.user_id, "ghost", "Casper")
    assert comment.json()["author_id"] == str(ghost.user_id)
    listed = (await world.client.get(f"{url}/comments", headers=dev.headers)).json()["items"]
    read = await world.client.get(f"/api/v1/comments/{comment.json()['id']}", headers=dev.headers)
    assert listed[0]["author"] == read.json()["author"] == comment.json()["author"]
    edited = await world.client.patch(
        f"/api/v1/comments/{comment.json()['id']}", headers=ghost.headers, json={"body": "done"}
    )
    assert edited.json()["author"] == comment.json()["author"]

    assigned = await world.client.post(
        f"{url}/assignees", headers=lead.headers, json={"user_id": str(lead.user_id)}
    )
    assert assigned.json()["assignees"][-1] == person(lead.user_id, "lead", "Lea Lead")
    patched = await world.client.patch(url, headers=lead.headers, json={"title": "Renamed"})
    assert patched.json()["assignees"] == assigned.json()["assignees"]

    activity = (await world.client.get(f"{url}/activity", headers=dev.headers)).json()["items"]
    actors = {entry["actor_id"]: entry["actor"] for entry in activity}
    assert actors[str(ghost.user_id)] == person(ghost.user_id, "ghost", "Casper")
    assert actors[str(lead.user_id)] == person(lead.user_id, "lead", "Lea Lead")

    await auth_event(world, auth.UserDeleted(user_id=lead.user_id))
    one = (await world.client.get(url, headers=dev.headers)).json()
    assert one["created_by"] == str(lead.user_id)
    assert one["creator"] == person(lead.user_id, None, None)


async def test_names_cost_no_round_trip(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    await register(world, lead.user_id, "lead", "Lea Lead")
    project = await world.project(team, lead)
    task = await world.task(project["id"], lead, assignee_ids=[str(lead.user_id)])
    await world.settle()
    with statements(world) as one:
        got = await world.client.get(f"/api/v1/tasks/{task['id']}", headers=lead.headers)
    with statements(world) as page:
        listed = await world.client.get(
            f"/api/v1/tasks?project_id={project['id']}", headers=lead.headers
        )
    with statements(world) as team_page:
        by_team = await world.client.get(f"/api/v1/tasks?team_id={team}", headers=lead.headers)
    assert by_team.json()["items"] == listed.json()["items"]
    assert got.json()["assignees"] == listed.json()["items"][0]["assignees"]
    assert got.json()["assignees"] == [person(lead.user_id, "lead", "Lea Lead")]
    # One statement each: the task (or the page) with its names and the caller's membership.
    assert len([s for s in one if "person" in s]) == 1 and len(one) == 1, one
    assert len(page) == 1, page
    # The team's page checks membership first, as it did; its names come with the page.
    assert [s for s in team_page if "person" in s and "FROM tasks" not in s] == []

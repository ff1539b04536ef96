"""Round trips to the database per write (issue 20): a create with an assignee, an update,
an assignment, a comment and an unassignment each take the route's access read and one
statement for everything they write (PostgreSQL: the row, its activity entry, assignments
checked against the team's members, the outbox rows and the names the answer shows),
between BEGIN and COMMIT; a create and a comment need no transaction (a create's statement
fails as a whole when an assignee is refused), and with an Idempotency-Key they keep one
(the change commits with its answer); a create in a project its process has read checks
the caller's access in its statement too: one round trip. Counted: every statement
SQLAlchemy sends and every BEGIN, COMMIT and ROLLBACK (tests/round_trips.py); a number,
so a new query fails here.

SQLite and MariaDB have no writes in CTEs and take a statement per write: the same
answers, rows and events on all three (checked here on MariaDB too)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from taskflow_chassis.messaging import outbox_table
from taskflow_chassis.testing import fresh_mysql_database
from taskflow_work.tasks.queries import COMBINED

from .round_trips import UNCACHEABLE, round_trips

# What each write takes on PostgreSQL: BEGIN, the access read (which holds the task's row
# for an assignment), one statement, COMMIT; a comment runs without a transaction (the
# one statement commits alone, or fails as a whole): the access read and the statement; a
# create, the statement alone (test_create_checked_in_statement.py).
POSTGRES_ROUND_TRIPS = {"create": 1, "update": 4, "assign": 4, "comment": 2, "unassign": 4}
# SQLite: BEGIN, the access read, a statement per row written and one for names, COMMIT
# (an assignment also holds the row and reads its list: one statement).
SQLITE_ROUND_TRIPS = {"create": 8, "update": 7, "assign": 9, "comment": 7, "unassign": 8}


async def _writes(world: Any) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """A create with an assignee, an update, an assignment and a comment, each counted;
    each answer is also what the task's (or comment's) GET answers, ETag included."""
    team = await world.team()
    lead = await world.member(team)
    dev = await world.member(team, "Developer")
    other = await world.member(team, "Developer")
    project = await world.project(team, lead)
    await world.task(project["id"], lead)  # the first write of each shape prepares it
    trips: dict[str, list[str]] = {}
    answers: dict[str, Any] = {}
    body = {"title": "Plan", "labels": ["a"], "assignee_ids": [str(dev.user_id)]}
    with round_trips(world.app) as trips["create"]:
        created = await world.client.post(
            f"/api/v1/projects/{project['id']}/tasks", headers=lead.headers, json=body
        )
    assert created.status_code == 201, created.text
    url = f"/api/v1/tasks/{created.json()['id']}"
    with round_trips(world.app) as trips["update"]:
        updated = await world.client.patch(
            url, headers=lead.headers, json={"title": "Plan it", "priority": "high"}
        )
    assert updated.status_code == 200, updated.text
    with round_trips(world.app) as trips["assign"]:
        assigned = await world.client.post(
            f"{url}/assignees", headers=lead.headers, json={"user_id": str(other.user_id)}
        )
    assert assigned.status_code == 200, assigned.text
    with round_trips(world.app) as trips["comment"]:
        commented = await world.client.post(
            f"{url}/comments", headers=dev.headers, json={"body": "On it"}
        )
    assert commented.status_code == 201, commented.text
    for name, response in [("create", created), ("update", updated), ("assign", assigned)]:
        answers[name] = response.json()
        assert response.json()["assignees"][0]["id"] == str(dev.user_id)
        assert response.json()["creator"]["id"] == str(lead.user_id)
    shown = await world.client.get(url, headers=lead.headers)
    assert assigned.json() == shown.json() and assigned.headers["ETag"] == shown.headers["ETag"]
    assert shown.json()["title"] == "Plan it" and shown.json()["priority"] == "high"
    assert shown.json()["assignee_ids"] == [str(dev.user_id), str(other.user_id)]
    comment = await world.client.get(
        f"/api/v1/comments/{commented.json()['id']}", headers=lead.headers
    )
    assert commented.json() == comment.json()
    assert commented.headers["ETag"] == comment.headers["ETag"]
    activity = await world.client.get(f"{url}/activity", headers=lead.headers)
    assert [a["action"] for a in activity.json()["items"]] == [
        "created",
        "updated",
        "assigned",
        "commented",
    ]
    await world.settle()
    task_id = created.json()["id"]
    events = [e.type for e in world.published if e.data.get("task_id") == task_id]
    assert events == [
        "taskflow.work.task.created.v1",
        "taskflow.work.task.assigned.v1",
        "taskflow.work.task.updated.v1",
        "taskflow.work.task.assigned.v1",
        "taskflow.work.comment.created.v1",
    ]
    with round_trips(world.app) as trips["unassign"]:
        unassigned = await world.client.delete(
            f"{url}/assignees/{other.user_id}", headers=lead.headers
        )
    assert unassigned.status_code == 204, unassigned.text
    shown = await world.client.get(url, headers=lead.headers)
    assert shown.json()["assignee_ids"] == [str(dev.user_id)]
    activity = await world.client.get(f"{url}/activity", headers=lead.headers)
    assert activity.json()["items"][-1]["action"] == "unassigned"
    return trips, answers


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_each_write_is_one_statement_between_the_access_read_and_commit(
    world: Any,
) -> None:
    trips, _ = await _writes(world)
    assert {name: len(t) for name, t in trips.items()} == POSTGRES_ROUND_TRIPS, trips
    for name, trip in trips.items():
        if name in ("create", "comment"):
            assert "BEGIN" not in trip and "outbox_messages" in trip[-1], (name, trip)
        else:
            assert trip[0] == "BEGIN" and trip[-1] == "COMMIT", (name, trip)
            assert "outbox_messages" in trip[-2], (name, trip)  # the write's one statement
        # Each shape compiled once, then taken from SQLAlchemy's cache (no CPU to compile).
        assert not any(line.endswith(UNCACHEABLE) for line in trip), (name, trip)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_keyed_create_or_comment_keeps_its_transaction_and_a_refused_create_leaves_nothing(
    world: Any,
) -> None:
    """With an Idempotency-Key a create (or a comment) and its kept answer commit together,
    so it runs in a transaction; a create refused (an assignee not a member), keyed or not,
    leaves nothing, and a replay answers the same refusal."""
    team = await world.team()
    lead = await world.member(team)
    dev = await world.member(team, "Developer")
    project = await world.project(team, lead)
    url = f"/api/v1/projects/{project['id']}/tasks"
    body = {"title": "Keyed", "assignee_ids": [str(dev.user_id)]}
    keyed = {**lead.headers, "Idempotency-Key": str(uuid.uuid4())}
    with round_trips(world.app) as trips:
        created = await world.client.post(url, headers=keyed, json=body)
    assert created.status_code == 201, created.text
    assert trips[0] == "BEGIN" and trips[-1] == "COMMIT", trips
    assert any("idempotency" in trip for trip in trips), trips  # the answer, in it
    again = await world.client.post(url, headers=keyed, json=body)
    assert again.json() == created.json()
    comments = f"/api/v1/tasks/{created.json()['id']}/comments"
    keyed_comment = {**dev.headers, "Idempotency-Key": str(uuid.uuid4())}
    with round_trips(world.app) as trips:
        commented = await world.client.post(comments, headers=keyed_comment, json={"body": "Hi"})
    assert commented.status_code == 201, commented.text
    assert trips[0] == "BEGIN" and trips[-1] == "COMMIT", trips
    await world.settle()
    before = await _outbox_rows(world)
    stranger = str(uuid.uuid4())
    refused_body = {"title": "Nope", "assignee_ids": [str(dev.user_id), stranger]}
    for headers in (lead.headers, {**lead.headers, "Idempotency-Key": str(uuid.uuid4())}):
        refused = await world.client.post(url, headers=headers, json=refused_body)
        assert refused.status_code == 422, refused.text
        assert stranger in refused.json()["detail"]
        replayed = await world.client.post(url, headers=headers, json=refused_body)
        assert replayed.status_code == 422, replayed.text
    listed = await world.client.get(
        "/api/v1/tasks", headers=lead.headers, params={"project_id": project["id"]}
    )
    assert [t["title"] for t in listed.json()["items"]] == ["Keyed"]
    assert await _outbox_rows(world) == before


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_create_of_a_shape_seen_before_builds_no_statement(world: Any) -> None:
    """Building a statement and keying it for SQLAlchemy's cache cost more CPU than the
    database took to run it: a create of a known shape (one assignee) binds its values to
    the statement built for the first."""
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    made, assignees = [], []
    for title in ("First", "Second"):
        dev = await world.member(team, "Developer")
        assignees.append(str(dev.user_id))
        built = COMBINED.built
        made.append(
            await world.task(
                project["id"], lead, title=title, labels=[title], assignee_ids=[assignees[-1]]
            )
        )
    assert COMBINED.built == built, "the second create built its statement again"
    assert [(t["title"], t["labels"]) for t in made] == [
        ("First", ["First"]),
        ("Second", ["Second"]),
    ]
    assert [t["assignees"][0]["id"] for t in made] == assignees  # the names read in it


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_write_is_one_statement_text_whatever_the_people_it_names(world: Any) -> None:
    """PostgreSQL prepares each statement text anew on every pooled connection: the names an
    answer shows are read with ``= ANY`` of an array, so a task's second assignee sends
    the text of its first (an IN list was a text per number of people, rendered anew on
    every run)."""
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    task = await world.task(project["id"], lead)
    sent = []
    for _ in range(2):
        dev = await world.member(team, "Developer")
        with round_trips(world.app) as trips:
            assigned = await world.client.post(
                f"/api/v1/tasks/{task['id']}/assignees",
                headers=lead.headers,
                json={"user_id": str(dev.user_id)},
            )
        assert assigned.status_code == 200, assigned.text
        sent.append([trip for trip in trips if trip.startswith("WITH")])
    assert len(sent[0]) == 1 and sent[0] == sent[1], sent
    assert len(assigned.json()["assignees"]) == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_takes_a_statement_per_row_written(world: Any) -> None:
    trips, _ = await _writes(world)
    assert {name: len(t) for name, t in trips.items()} == SQLITE_ROUND_TRIPS, trips


async def _outbox_rows(world: Any) -> int:
    async with world.app.state.database.session() as session:
        count: int = (
            await session.execute(select(func.count()).select_from(outbox_table))
        ).scalar_one()
        return count


async def test_a_refused_write_leaves_nothing(world: Any) -> None:
    """An assignee who is not a member refuses the whole create (422, errors[]) or the
    assignment, and nothing of it stays: no task, no activity, no event."""
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    task = await world.task(project["id"], lead)
    await world.settle()
    before = await _outbox_rows(world)
    stranger = str(uuid.uuid4())
    refused = await world.client.post(
        f"/api/v1/projects/{project['id']}/tasks",
        headers=lead.headers,
        json={"title": "Nope", "assignee_ids": [str(lead.user_id), stranger]},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "assignee_ids"
    assert stranger in refused.json()["detail"]
    url = f"/api/v1/tasks/{task['id']}"
    not_assigned = await world.client.post(
        f"{url}/assignees", headers=lead.headers, json={"user_id": stranger}
    )
    assert not_assigned.status_code == 422
    assert not_assigned.json()["errors"][0]["field"] == "user_id"
    listed = await world.client.get(
        "/api/v1/tasks", headers=lead.headers, params={"project_id": project["id"]}
    )
    assert [t["id"] for t in listed.json()["items"]] == [task["id"]]
    shown = await world.client.get(url, headers=lead.headers)
    assert shown.json() == task
    activity = await world.client.get(f"{url}/activity", headers=lead.headers)
    assert [a["action"] for a in activity.json()["items"]] == ["created"]
    assert await _outbox_rows(world) == before


async def test_archived_and_deleted_projects_take_no_task(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    archived = await world.project(team, lead)
    changed = await world.client.patch(
        f"/api/v1/projects/{archived['id']}", headers=lead.headers, json={"archived": True}
    )
    assert changed.status_code == 200, changed.text
    body = {"title": "Late", "assignee_ids": [str(lead.user_id)]}
    refused = await world.client.post(
        f"/api/v1/projects/{archived['id']}/tasks", headers=lead.headers, json=body
    )
    assert refused.status_code == 409 and refused.json()["type"].endswith("/project-archived")
    deleted = await world.project(team, lead)
    gone = await world.client.delete(f"/api/v1/projects/{deleted['id']}", headers=lead.headers)
    assert gone.status_code == 204, gone.text
    missing = await world.client.post(
        f"/api/v1/projects/{deleted['id']}/tasks", headers=lead.headers, json=body
    )
    assert missing.status_code == 404


class TestOnMariaDB:
    """The same writes on MariaDB, whose statements take the path without CTEs."""

    @pytest.fixture
    async def database_url(self) -> AsyncIterator[str]:
        async with fresh_mysql_database("taskflow_work_test") as url:
            yield url

    async def test_writes_answer_as_their_reads(self, world: Any) -> None:
        trips, _ = await _writes(world)
        assert all(trip[-1] == "COMMIT" for trip in trips.values()), trips

    async def test_a_refused_write_leaves_nothing(self, world: Any) -> None:
        await test_a_refused_write_leaves_nothing(world)

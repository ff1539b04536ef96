"""Bulk task changes: all or nothing, every failing task listed, one event per change."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from taskflow_chassis.testing import permission_matrix
from taskflow_contracts import teams
from taskflow_contracts.permissions import BUILT_IN_ROLES

from .test_permission_matrix import MAKERS, MANAGERS, REVIEWERS, ROLES, build, snapshot

BULK = "/api/v1/tasks/bulk"
UPDATED = "taskflow.work.task.updated.v1"
ASSIGNED = "taskflow.work.task.assigned.v1"
UNASSIGNED = "taskflow.work.task.unassigned.v1"


async def tasks_in(world: Any, by: Any, count: int, role: str = "Team Leader") -> list[str]:
    """``count`` tasks in a new team and project, where ``by`` is a member in ``role``."""
    team = await world.team()
    lead = await world.member(team)
    await join(world, team, by, role)
    project = await world.project(team, lead)
    return [(await world.task(project["id"], lead, labels=["q4"]))["id"] for _ in range(count)]


async def join(world: Any, team: uuid.UUID, member: Any, role: str) -> None:
    await world.teams_event(
        teams.MemberJoined(
            team_id=team,
            user_id=member.user_id,
            role_id=world.role_id(team, role),
            role_name=role,
            permissions=sorted(BUILT_IN_ROLES[role]),
        )
    )


async def shown(world: Any, by: Any, task_ids: list[str]) -> list[dict[str, Any]]:
    answers = [
        await world.client.get(f"/api/v1/tasks/{task_id}", headers=by.headers)
        for task_id in task_ids
    ]
    return [answer.json() for answer in answers]


async def bulk(world: Any, by: Any, body: dict[str, Any], **headers: str) -> Any:
    return await world.client.post(BULK, headers={**by.headers, **headers}, json=body)


async def test_a_bulk_change_changes_every_task_with_an_event_and_entry_each(world: Any) -> None:
    caller = world.outsider()
    # Tasks of two teams, the caller a member of both.
    ids = await tasks_in(world, caller, 3) + await tasks_in(world, caller, 2)
    world.published.clear()
    answer = await bulk(
        world,
        caller,
        {
            "task_ids": ids,
            "changes": {"status": "in_progress", "add_labels": ["launch"], "due_at": "2026-12-24"},
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"changed": ids, "unchanged": []}
    for task in await shown(world, caller, ids):
        assert task["status"] == "in_progress" and task["labels"] == ["q4", "launch"]
        assert task["due_at"].startswith("2026-12-24T23:59:59")
    await world.settle()
    events = world.of_type(UPDATED)
    assert sorted(e.data["task_id"] for e in events) == sorted(ids)
    assert all(e.data["changed"] == ["due_at", "labels", "status"] for e in events)
    activity = await world.client.get(f"/api/v1/tasks/{ids[0]}/activity", headers=caller.headers)
    [_, updated] = activity.json()["items"]
    assert updated["action"] == "updated"
    assert updated["details"]["status"] == ["todo", "in_progress"]

    # The same again changes nothing: no event, no entry.
    again = await bulk(world, caller, {"task_ids": ids, "changes": {"status": "in_progress"}})
    assert again.json() == {"changed": [], "unchanged": ids}

    # Assignees: one assigned event per person and task, as the single route publishes.
    dev = world.outsider()
    team_ids = {task["team_id"] for task in await shown(world, caller, ids)}
    for team in team_ids:
        await join(world, uuid.UUID(team), dev, "Developer")
    world.published.clear()
    assigned = await bulk(
        world,
        caller,
        {"task_ids": ids, "changes": {"add_assignees": [str(dev.user_id)], "labels": ["a"]}},
    )
    assert assigned.status_code == 200, assigned.text
    assert all(t["assignee_ids"] == [str(dev.user_id)] for t in await shown(world, caller, ids))
    await world.settle()
    assert len(world.of_type(ASSIGNED)) == len(ids) == len(world.of_type(UPDATED))
    mine = await world.client.get("/api/v1/tasks", params={"assignee": "me"}, headers=dev.headers)
    assert sorted(t["id"] for t in mine.json()["items"]) == sorted(ids)
    removed = await bulk(
        world, caller, {"task_ids": ids, "changes": {"remove_assignees": [str(dev.user_id)]}}
    )
    assert removed.status_code == 200, removed.text
    await world.settle()
    assert len(world.of_type(UNASSIGNED)) == len(ids)
    assert all(t["assignee_ids"] == [] for t in await shown(world, caller, ids))


async def test_one_forbidden_task_changes_nothing_and_is_listed(world: Any) -> None:
    caller = world.outsider()
    allowed = await tasks_in(world, caller, 2, "Developer")
    [refused] = await tasks_in(world, caller, 1, "Viewer")
    ids = [allowed[0], refused, allowed[1]]
    world.published.clear()
    answer = await bulk(world, caller, {"task_ids": ids, "changes": {"status": "in_progress"}})
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    [error] = answer.json()["errors"]
    assert error["field"] == "task_ids[1]" and error["code"] == "permission-required"
    assert error["task_id"] == refused and error["permission"] == "tasks.update"
    assert all(t["status"] == "todo" for t in await shown(world, caller, ids))
    await world.settle()
    assert world.of_type(UPDATED) == []
    # Into done needs tasks.review, as PATCH does: a Developer's tasks are listed too.
    done = await bulk(world, caller, {"task_ids": ids, "changes": {"status": "done"}})
    assert done.status_code == 403
    assert [e["field"] for e in done.json()["errors"]] == [f"task_ids[{i}]" for i in range(3)]


async def test_an_outsiders_task_is_not_found_and_every_failure_is_listed(world: Any) -> None:
    caller = world.outsider()
    mine = await tasks_in(world, caller, 1)
    theirs = await tasks_in(world, world.outsider(), 1)
    nowhere = str(uuid.uuid4())
    ids = [*theirs, *mine, nowhere]
    stranger = world.outsider()
    answer = await bulk(
        world,
        caller,
        {"task_ids": ids, "changes": {"add_assignees": [str(stranger.user_id)]}},
    )
    assert answer.status_code == 404, answer.text
    errors = answer.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        ("task_ids[0]", "task-not-found"),
        ("task_ids[1]", "assignee-not-member"),
        ("task_ids[2]", "task-not-found"),
    ]
    # The outsider's task and a task that does not exist are told apart by nothing.
    assert {k: v for k, v in errors[0].items() if k not in {"loc", "field", "task_id"}} == {
        k: v for k, v in errors[2].items() if k not in {"loc", "field", "task_id"}
    }
    [task] = await shown(world, caller, mine)
    assert task["assignee_ids"] == []
    invalid = await bulk(
        world, caller, {"task_ids": mine, "changes": {"add_assignees": [str(stranger.user_id)]}}
    )
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["code"] == "assignee-not-member"


async def test_bad_requests_answer_422(world: Any) -> None:
    caller = world.outsider()
    ids = [str(uuid.uuid4()) for _ in range(501)]
    too_many = await bulk(world, caller, {"task_ids": ids, "changes": {"status": "done"}})
    assert too_many.status_code == 422, too_many.text
    assert too_many.json()["errors"][0]["loc"] == ["body", "task_ids"]
    for changes in (
        {},
        {"status": None},
        {"labels": ["a"], "add_labels": ["b"]},
        {"add_labels": ["a"], "remove_labels": ["a"]},
        {"title": "not a bulk change"},
    ):
        answer = await bulk(world, caller, {"task_ids": ids[:1], "changes": changes})
        assert answer.status_code == 422, (changes, answer.text)


async def test_an_idempotent_replay_answers_again_without_changing_again(world: Any) -> None:
    caller = world.outsider()
    ids = await tasks_in(world, caller, 2)
    body = {"task_ids": ids, "changes": {"add_labels": ["once"]}}
    world.published.clear()
    first = await bulk(world, caller, body, **{"Idempotency-Key": "bulk-1"})
    replay = await bulk(world, caller, body, **{"Idempotency-Key": "bulk-1"})
    assert first.status_code == replay.status_code == 200, replay.text
    assert replay.json() == first.json() == {"changed": ids, "unchanged": []}
    await world.settle()
    assert len(world.of_type(UPDATED)) == 2
    other = {"task_ids": ids, "changes": {"add_labels": ["twice"]}}
    reused = await bulk(world, caller, other, **{"Idempotency-Key": "bulk-1"})
    assert reused.status_code == 422, reused.text
    assert all(t["labels"] == ["q4", "once"] for t in await shown(world, caller, ids))


async def test_a_stale_if_match_answers_412_and_changes_nothing(world: Any) -> None:
    caller = world.outsider()
    ids = await tasks_in(world, caller, 3)
    tags = {}
    for task_id in ids:
        read = await world.client.get(f"/api/v1/tasks/{task_id}", headers=caller.headers)
        tags[task_id] = read.headers["etag"]
    edited = await world.client.patch(
        f"/api/v1/tasks/{ids[1]}", headers=caller.headers, json={"title": "Changed meanwhile"}
    )
    assert edited.status_code == 200
    body = {"task_ids": ids, "changes": {"status": "in_review"}, "if_match": tags}
    answer = await bulk(world, caller, body)
    assert answer.status_code == 412, answer.text
    [stale] = answer.json()["errors"]
    assert stale["field"] == "task_ids[1]" and stale["code"] == "precondition-failed"
    assert stale["etag"] == edited.headers["etag"]
    assert all(t["status"] == "todo" for t in await shown(world, caller, ids))
    tags[ids[1]] = edited.headers["etag"]
    current = await bulk(world, caller, {**body, "if_match": tags})
    assert current.status_code == 200, current.text


async def test_concurrent_bulk_changes_of_overlapping_tasks_both_land(world: Any) -> None:
    caller = world.outsider()
    ids = await tasks_in(world, caller, 6)
    # Overlapping, named in opposite orders: rows are held in id order, so no deadlock.
    first = {"task_ids": ids[:4], "changes": {"add_labels": ["x"]}}
    second = {"task_ids": list(reversed(ids[2:])), "changes": {"add_labels": ["y"]}}
    answers = await asyncio.gather(
        *(bulk(world, caller, body) for body in (first, second, first, second))
    )
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    labels = [t["labels"] for t in await shown(world, caller, ids)]
    assert labels[:2] == [["q4", "x"]] * 2 and labels[4:] == [["q4", "y"]] * 2
    assert [sorted(one) for one in labels[2:4]] == [["q4", "x", "y"]] * 2


async def test_the_largest_bulk_change(world: Any) -> None:
    """500 tasks, each assigned two people and relabelled: the writes go in chunks that
    stay within every database's bound parameters. Prints the time it took."""
    caller = world.outsider()
    ids = await tasks_in(world, caller, 500)
    team = (await shown(world, caller, ids[:1]))[0]["team_id"]
    people = [world.outsider() for _ in range(2)]
    for person in people:
        await join(world, uuid.UUID(team), person, "Developer")
    world.published.clear()
    changes = {
        "status": "in_progress",
        "labels": ["bulk"],
        "add_assignees": [str(p.user_id) for p in people],
    }
    started = time.perf_counter()
    answer = await bulk(world, caller, {"task_ids": ids, "changes": changes})
    took = (time.perf_counter() - started) * 1000
    assert answer.status_code == 200, answer.text
    print(f"bulk change of 500 tasks: {took:.0f} ms")
    assert len(answer.json()["changed"]) == 500
    listed = await world.client.get(
        "/api/v1/tasks",
        params={"assignee": str(people[1].user_id), "limit": 100},
        headers=caller.headers,
    )
    assert len(listed.json()["items"]) == 100
    while await world.app.state.relay.publish_pending():
        await world.bus.drain()
    await world.settle()
    assert len(world.of_type(ASSIGNED)) == 1000 and len(world.of_type(UPDATED)) == 500


BULK_ROUTES = [
    ("bulk edit", lambda s: {"add_labels": ["bulk"]}, MAKERS),
    ("bulk move to done", lambda s: {"status": "done"}, REVIEWERS),
    ("bulk unassign", lambda s: {"remove_assignees": [s.target_id]}, MANAGERS),
]


@pytest.mark.parametrize("route", BULK_ROUTES, ids=[r[0] for r in BULK_ROUTES])
async def test_bulk_permission_matrix(world: Any, route: tuple[str, Any, set[str]]) -> None:
    """Each role gets what the single route gives it (test_permission_matrix), the
    outsider 404; a refused bulk change changes no row."""
    name, make_changes, allowed = route

    async def prepare() -> tuple[Any, Any]:
        setup, people = await build(world)
        body = {"task_ids": [setup.task_id], "changes": make_changes(setup)}

        async def send_as(role: str) -> Any:
            return await world.client.post(BULK, headers=people[role].headers, json=body)

        return send_as, lambda: snapshot(world)

    failures = await permission_matrix(ROLES, allowed, 200, prepare)
    assert not failures, f"{name}:\n" + "\n".join(failures)

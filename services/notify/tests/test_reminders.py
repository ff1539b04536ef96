"""Reminders with a controllable clock: lead time, one per due time, re-armed, none when done."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from taskflow_contracts import teams, work

from .conftest import HOUR, text_of


async def assigned_task(
    world: Any, due_in: timedelta, assignee: dict[str, Any], team_id: uuid.UUID
) -> dict[str, Any]:
    task = {"task_id": uuid.uuid4(), "project_id": uuid.uuid4(), "team_id": team_id}
    due_at = world.app.state.clock.now + due_in
    await world.event(
        work.TaskCreated(
            **task,
            title="Quarterly report",
            status="todo",
            priority="high",
            due_at=due_at,
            assignee_ids=[assignee["id"]],
            created_by=assignee["id"],
        )
    )
    await world.event(
        work.TaskAssigned(
            **task,
            title="Quarterly report",
            due_at=due_at,
            assignee_id=assignee["id"],
            assigned_by=uuid.uuid4(),
        )
    )
    return {**task, "due_at": due_at}


async def run_scan(world: Any, at_offset: timedelta = timedelta()) -> int:
    sent: int = await world.app.state.reminder_scan.run_once(world.app.state.clock.now + at_offset)
    await world.settle()
    return sent


def reminders(world: Any) -> list[Any]:
    return [m for m in world.emails() if m["Subject"].startswith("Reminder:")]


async def test_lead_time_is_respected_and_one_reminder_per_due_time(world: Any) -> None:
    team_id = uuid.uuid4()
    dev = await world.person("dev", team_id=team_id)
    await assigned_task(world, 30 * HOUR, dev, team_id)
    assert await run_scan(world) == 0  # 30 h away, default lead 24 h
    assert await run_scan(world, 5 * HOUR) == 0  # 25 h away
    assert await run_scan(world, 7 * HOUR) == 1  # 23 h away
    assert await run_scan(world, 8 * HOUR) == 0  # already reminded
    [message] = reminders(world)
    assert message["To"] == "dev@example.com" and "Quarterly report" in message["Subject"]
    assert "https://taskflow.example/tasks/" in text_of(message)
    assert [n["kind"] for n in await world.feed(dev)] == ["task_due", "task_assigned"]


async def test_personal_lead_time(world: Any) -> None:
    team_id = uuid.uuid4()
    dev = await world.person("dev", team_id=team_id)
    prefs = {
        "email_on_assignment": True,
        "email_on_comment": True,
        "email_reminders": True,
        "reminder_lead_hours": 2,
    }
    await world.client.put("/api/v1/notifications/preferences", json=prefs, headers=dev["headers"])
    await assigned_task(world, 3 * HOUR, dev, team_id)
    assert await run_scan(world) == 0
    assert await run_scan(world, 90 * timedelta(minutes=1)) == 1


async def test_moved_due_time_re_arms(world: Any) -> None:
    team_id = uuid.uuid4()
    dev = await world.person("dev", team_id=team_id)
    task = await assigned_task(world, 10 * HOUR, dev, team_id)
    assert await run_scan(world) == 1
    moved = task["due_at"] + 48 * HOUR
    await world.event(
        work.TaskUpdated(
            task_id=task["task_id"],
            project_id=task["project_id"],
            team_id=team_id,
            title="Quarterly report",
            description=None,
            status="in_progress",
            priority="high",
            due_at=moved,
            estimate_hours=None,
            labels=[],
            assignee_ids=[dev["id"]],
            changed=["due_at", "status"],
            updated_by=dev["id"],
        )
    )
    assert await run_scan(world) == 0  # 58 h away now
    assert await run_scan(world, 40 * HOUR) == 1  # 18 h before the new due time
    assert len(reminders(world)) == 2


async def test_done_and_deleted_tasks_get_none(world: Any) -> None:
    team_id = uuid.uuid4()
    dev = await world.person("dev", team_id=team_id)
    done = await assigned_task(world, 5 * HOUR, dev, team_id)
    gone = await assigned_task(world, 5 * HOUR, dev, team_id)
    await world.event(
        work.TaskUpdated(
            task_id=done["task_id"],
            project_id=done["project_id"],
            team_id=team_id,
            title="Quarterly report",
            description=None,
            status="done",
            priority="high",
            due_at=done["due_at"],
            estimate_hours=None,
            labels=[],
            assignee_ids=[dev["id"]],
            changed=["status"],
            updated_by=dev["id"],
        )
    )
    await world.event(
        work.TaskDeleted(task_id=gone["task_id"], project_id=gone["project_id"], team_id=team_id)
    )
    assert await run_scan(world) == 0
    assert reminders(world) == []


async def test_reminder_email_respects_preferences_but_feed_row_stays(world: Any) -> None:
    team_id = uuid.uuid4()
    dev = await world.person("dev", team_id=team_id)
    prefs = {
        "email_on_assignment": True,
        "email_on_comment": True,
        "email_reminders": False,
        "reminder_lead_hours": 24,
    }
    await world.client.put("/api/v1/notifications/preferences", json=prefs, headers=dev["headers"])
    await assigned_task(world, 2 * HOUR, dev, team_id)
    assert await run_scan(world) == 1
    assert reminders(world) == []
    assert "task_due" in [n["kind"] for n in await world.feed(dev)]


async def test_an_assignment_arriving_after_the_assignee_s_removal_reminds_nobody(
    world: Any,
) -> None:
    """Work assigned the task while the person was a member; teams' removal reached notify
    first (the two services' events have no common order): no reminder of the team's task
    goes to someone the team removed, while a member assigned beside them still gets one."""
    team_id = uuid.uuid4()
    stays = await world.person("stays", team_id=team_id)
    gone = await world.person("gone", team_id=team_id)
    await world.event(teams.MemberRemoved(team_id=team_id, user_id=gone["id"]))
    await assigned_task(world, 5 * HOUR, gone, team_id)
    await assigned_task(world, 5 * HOUR, stays, team_id)
    assert await run_scan(world) == 1
    assert [m["To"] for m in reminders(world)] == [stays["email"]]

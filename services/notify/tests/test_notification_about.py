"""A notification about a task carries its team, project and task ids as fields, who
caused it, and a link to the task's page on TaskFlow's public address (the web app serves
it; test_journey follows every link through the gateway)."""

from __future__ import annotations

import uuid
from typing import Any

from taskflow_contracts import work


async def test_a_task_notification_carries_its_ids_and_a_link(world: Any) -> None:
    team_id, project_id, task_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    lead = await world.person("lead", team_id=team_id)
    dev = await world.person("dev", team_id=team_id)
    await world.event(
        work.TaskAssigned(
            task_id=task_id,
            project_id=project_id,
            team_id=team_id,
            title="Ship",
            due_at=None,
            assignee_id=dev["id"],
            assigned_by=lead["id"],
        )
    )
    [item] = await world.feed(dev)
    assert (item["team_id"], item["project_id"], item["task_id"]) == (
        str(team_id),
        str(project_id),
        str(task_id),
    )
    assert item["actor_id"] == str(lead["id"])
    assert item["actor"] == {"id": str(lead["id"]), "username": "lead", "display_name": "Lead"}
    settings = world.app.state.settings
    assert item["link"] == f"{settings.public_url.rstrip('/')}/tasks/{task_id}"


async def test_notify_serves_no_pages(world: Any) -> None:
    """The pages links open are the web app's: notify answers none of them."""
    for path in ("/verify-email?token=a", "/reset-password?token=a", "/invitations/accept?token=a"):
        assert (await world.client.get(path)).status_code == 404, path
    assert (await world.client.get(f"/tasks/{uuid.uuid4()}")).status_code == 404

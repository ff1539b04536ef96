"""Links that land (issue 18): each kind of link TaskFlow sends opens a page here that
says what it is for and which API call finishes it; a notification about a task carries
its team, project and task ids as fields."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from taskflow_notify.app import create_app
from taskflow_notify.config import NotifySettings

PAGES = [
    ("/reset-password?token=abc", "/api/v1/auth/users/reset_password_confirm"),
    ("/verify-email?token=abc", "/api/v1/auth/users/verify_email"),
    ("/invitations/accept?token=abc", "/api/v1/invitations/accept"),
    (f"/tasks/{uuid.UUID(int=7)}", f"/api/v1/tasks/{uuid.UUID(int=7)}"),
]


@pytest.mark.parametrize(("path", "call"), PAGES)
async def test_each_link_opens_a_page_naming_its_api_call(world: Any, path: str, call: str) -> None:
    page = await world.client.get(path)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert call in page.text and "<script" not in page.text
    if "token=" in path:
        assert '"token": "abc"' in page.text


async def test_a_token_is_escaped_and_bad_input_is_a_problem(world: Any) -> None:
    page = await world.client.get("/reset-password", params={"token": '<b>"x'})
    assert page.status_code == 200 and "<b>" not in page.text
    for path in ("/reset-password", "/verify-email?token=", "/tasks/not-a-uuid"):
        bad = await world.client.get(path)
        assert bad.status_code == 422, path
        assert bad.headers["content-type"].startswith("application/problem+json")


def test_pages_are_not_api_operations(tmp_path: Any) -> None:
    settings = NotifySettings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/n.db")
    paths = create_app(settings).openapi()["paths"]
    pages = ("/reset-password", "/verify-email", "/invitations/accept", "/tasks/")
    assert not [p for p in paths if p.startswith(pages)]


async def test_a_task_notification_carries_its_ids_and_a_link_that_lands(world: Any) -> None:
    from taskflow_contracts import teams, work

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
    page = await world.client.get(item["link"].removeprefix(settings.public_url.rstrip("/")))
    assert page.status_code == 200 and str(task_id) in page.text
    assert teams  # the invitation's ids: test_journey follows its link through the gateway

"""The whole journey through the gateway, on the distributed runtime, over HTTP only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from .conftest import FIGURES

pytestmark = [
    __import__("pytest").mark.asyncio(loop_scope="module"),
    __import__("pytest").mark.timeout(300),
]


async def test_protected_routes_on_service_ports_need_a_token(system: Any) -> None:
    """The services do not rely on the gateway: their own ports refuse anonymous calls."""
    async with httpx.AsyncClient(timeout=10) as client:
        for service, path in (
            ("auth", "/api/v1/auth/users/me"),
            ("teams", "/api/v1/teams"),
            ("work", "/api/v1/tasks"),
            ("notify", "/api/v1/notifications"),
        ):
            url = system.stack.url(service) + path
            response = await client.get(
                url, headers={"X-User-Id": "00000000-0000-0000-0000-000000000001"}
            )
            assert response.status_code == 401, (service, response.text)
            assert response.headers["content-type"] == "application/problem+json"


async def test_the_journey(system: Any) -> None:
    client = system.client
    lead = await system.sign_up("lead", phone="+14155550101")
    headers = {"Authorization": lead["Authorization"]}
    # Teams learns of the participant through RabbitMQ: a moment, not a request.
    team = await system.wait_for(
        lambda: _created(
            client.post("/api/v1/teams", headers=headers, json={"name": "Launch crew"})
        ),
        what="the participant profile to reach teams",
    )
    roles = {
        r["name"]: r["id"]
        for r in (await client.get(f"/api/v1/teams/{team['id']}/roles", headers=headers)).json()[
            "items"
        ]
    }
    invited = await client.post(
        f"/api/v1/teams/{team['id']}/invitations",
        headers=headers,
        json={"email": "dev@example.com", "role_id": roles["Developer"]},
    )
    assert invited.status_code == 201, invited.text
    [invitation] = await system.wait_for(
        lambda: system.emails("dev@example.com"), what="the invitation email"
    )
    assert invitation["Subject"] == "You are invited to join Launch crew on TaskFlow"
    token = re.search(
        r"/invitations/accept\?token=([\w-]+)", invitation.get_body(("plain",)).get_content()
    ).group(1)
    dev = await system.sign_up("dev", phone="+14155550102")
    dev_headers = {"Authorization": dev["Authorization"]}
    accepted = await system.wait_for(
        lambda: _ok(
            client.post("/api/v1/invitations/accept", headers=dev_headers, json={"token": token})
        ),
        what="the invitee's profile to reach teams",
    )
    assert accepted["status"] == "accepted"
    project = await client.post(
        "/api/v1/projects", headers=headers, json={"team_id": team["id"], "name": "v1"}
    )
    assert project.status_code == 201, project.text
    due_at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    task = await client.post(
        f"/api/v1/projects/{project.json()['id']}/tasks",
        headers=headers,
        json={"title": "Write the launch post", "priority": "high", "due_at": due_at.isoformat()},
    )
    assert task.status_code == 201, task.text
    task_id = task.json()["id"]
    assigned = await client.post(
        f"/api/v1/tasks/{task_id}/assignees", headers=headers, json={"user_id": dev["id"]}
    )
    assert assigned.status_code == 200, assigned.text
    moved = await client.patch(
        f"/api/v1/tasks/{task_id}", headers=dev_headers, json={"status": "in_progress"}
    )
    assert moved.status_code == 200 and moved.json()["status"] == "in_progress"
    commented = await client.post(
        f"/api/v1/tasks/{task_id}/comments", headers=headers, json={"body": "Draft by Friday?"}
    )
    assert commented.status_code == 201
    activity = (await client.get(f"/api/v1/tasks/{task_id}/activity", headers=dev_headers)).json()[
        "items"
    ]
    assert [a["action"] for a in activity] == ["created", "assigned", "status_changed", "commented"]

    async def feed_kinds() -> list[str]:
        items = (await client.get("/api/v1/notifications", headers=dev_headers)).json()["items"]
        kinds = sorted(i["kind"] for i in items)
        return kinds if {"task_assigned", "task_commented", "task_due"} <= set(kinds) else []

    kinds = await system.wait_for(
        feed_kinds, what="the assignment, comment and reminder in the feed"
    )
    assert kinds.count("task_due") == 1
    subjects = await system.wait_for(
        lambda: (lambda s: s if len(s) >= 4 else [])(
            sorted(m["Subject"] for m in system.emails("dev@example.com"))
        ),
        what="the assignment, comment and reminder emails",
    )
    assert 'You were assigned "Write the launch post"' in subjects
    assert 'New comment on "Write the launch post"' in subjects
    assert any(s.startswith('Reminder: "Write the launch post" is due') for s in subjects)
    assert len(subjects) == 4  # invitation + assignment + comment + one reminder
    routed = system.transport.routed
    FIGURES.append(f"journey: {sum(routed.values())} requests through the gateway: {routed}")


async def _created(call: Any) -> Any:
    response = await call
    return response.json() if response.status_code == 201 else None


async def _ok(call: Any) -> Any:
    response = await call
    return response.json() if response.status_code == 200 else None

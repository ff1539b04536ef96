"""The whole journey through the gateway, on the distributed runtime, over HTTP only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from .conftest import (
    FIGURES,
    PASSWORD,
    SHARED_STACK_TESTS,
    System,
    WebBrowser,
    next_phone,
    shared_stack,
)

pytestmark = [SHARED_STACK_TESTS, pytest.mark.timeout(300)]
# The links land on web's pages, which call the API through the gateway's port.
system = shared_stack()


async def test_protected_routes_on_service_ports_need_a_token(system: System) -> None:
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


async def test_the_journey(system: System) -> None:
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
    link = re.search(r"/invitations/accept\?token=([\w-]+)", system.text_of(invitation))
    assert link is not None, "the invitation email holds no link"
    token = link.group(1)
    dev = await system.sign_up("dev", phone="+14155550102", verify=False)
    dev_headers = {"Authorization": dev["Authorization"]}
    # Typing in an address proves nothing: the invitation waits for its link to be followed.
    unverified = await system.wait_for(
        lambda: _status(
            client.post("/api/v1/invitations/accept", headers=dev_headers, json={"token": token}),
            403,
        ),
        what="the invitee's profile to reach teams",
    )
    assert unverified["type"].endswith("/email-not-verified"), unverified
    await system.verify_email("dev@example.com")
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
        lambda: (lambda s: s if len(s) >= 5 else [])(
            sorted(m["Subject"] for m in system.emails("dev@example.com"))
        ),
        what="the assignment, comment and reminder emails",
    )
    assert 'You were assigned "Write the launch post"' in subjects
    assert 'New comment on "Write the launch post"' in subjects
    assert any(s.startswith('Reminder: "Write the launch post" is due') for s in subjects)
    assert "Verify your email address for TaskFlow" in subjects
    # invitation + verification + assignment + comment + one reminder
    assert len(subjects) == 5
    # Every link the journey sent lands on a page, through the gateway (issue 18), and each
    # notification names the ids a client needs.
    reset = await client.post("/api/v1/auth/users/reset_password", json={"email": lead["email"]})
    assert reset.status_code in (200, 202, 204), reset.text
    await system.wait_for(
        lambda: [m for m in system.emails(lead["email"]) if "reset" in m["Subject"].lower()],
        what="the password reset email",
    )
    feed = (await client.get("/api/v1/notifications", headers=dev_headers)).json()["items"]
    for item in feed:
        if item["kind"].startswith("task_"):
            assert item["task_id"] == task_id and item["team_id"] == team["id"], item
            assert item["project_id"] == project.json()["id"], item
    followed = await _follow_every_link(system, {"lead": headers, "dev": dev_headers})
    assert {"/invitations/accept", "/verify-email", "/reset-password"} <= followed
    assert f"/tasks/{task_id}" in followed
    routed = system.transport.routed
    FIGURES.append(f"journey: {sum(routed.values())} requests through the gateway: {routed}")


async def test_email_changes_only_through_a_link_to_the_new_address(system: System) -> None:
    """Finding 1: a stolen access token alone used to move the account to another address."""
    client = system.client
    ann = await system.sign_up("ann", phone="+14155550103")
    headers = {"Authorization": ann["Authorization"]}
    change = "/api/v1/auth/users/me/email"
    patched = await client.patch(
        "/api/v1/auth/users/me", headers=headers, json={"email": "thief@example.com"}
    )
    assert patched.status_code == 422
    guessed = await client.post(
        change,
        headers=headers,
        json={"new_email": "thief@example.com", "current_password": "a-guess-at-it"},
    )
    assert guessed.status_code == 403
    asked = await client.post(
        change,
        headers=headers,
        json={"new_email": "ann@new.example", "current_password": PASSWORD},
    )
    assert asked.status_code == 202, asked.text
    [notice] = await system.wait_for(
        lambda: [
            m
            for m in system.emails("ann@example.com")
            if m["Subject"] == "Someone asked to change your TaskFlow email address"
        ],
        what="the notice to the old address",
    )
    assert "a***@new.example" in notice.get_body(("plain",)).get_content()
    me = (await client.get("/api/v1/auth/users/me", headers=headers)).json()
    assert me["email"] == "ann@example.com" and me["pending_email"] == "ann@new.example"
    # The link in the email opens web's page, which confirms the address (no sign-in).
    [confirm] = await system.wait_for(
        lambda: [
            m
            for m in system.emails("ann@new.example")
            if m["Subject"] == "Confirm your new email address for TaskFlow"
        ],
        what="the link to the new address",
    )
    [link] = [u for u in _LINK.findall(system.text_of(confirm)) if "/verify-email?" in u]
    async with WebBrowser(system) as browser:
        confirmed = await browser.get(link.removeprefix(system.stack.gateway_url))
    assert confirmed.status_code == 200, confirmed.text
    assert "ann@new.example" in confirmed.text and "is confirmed" in confirmed.text
    me = (await client.get("/api/v1/auth/users/me", headers=headers)).json()
    assert me["email"] == "ann@new.example" and me["email_verified"] is True
    assert system.emails("thief@example.com") == []
    assert "/verify-email" in await _follow_every_link(system, {"ann": headers})


_LINK = re.compile(r"https?://[^\s\"'<>]+")


async def _follow_every_link(system: System, feeds: dict[str, dict[str, str]]) -> set[str]:
    """Open, through the gateway, every link in every email sent so far and in the feeds
    of these callers (name: headers) as its recipient's browser would: each lands on a page
    of the web app (200, text/html). A page that needs a sign-in sends a signed-out browser
    to /login?next=...; the recipient signs in there and lands on the page, which then
    answers 200. A verification link the test already spent (through the API) lands on
    web's page saying so. The paths followed."""
    recipient: dict[str, str] = {}
    for message in system.emails():
        for url in _LINK.findall(system.text_of(message)):
            # An email may also name the API call that finishes (POST .../api/v1/...): not
            # a link to open, an instruction.
            if not httpx.URL(url).path.startswith("/api/"):
                recipient[url] = message["To"].split("@", 1)[0]
    for name, headers in feeds.items():
        items = (await system.client.get("/api/v1/notifications", headers=headers)).json()
        recipient.update({i["link"]: name for i in items["items"] if i.get("link")})
    paths = set()
    signed_in: dict[str, WebBrowser] = {}
    try:
        for url, name in recipient.items():
            assert url.startswith(system.stack.gateway_url), f"{url}: not the public address"
            path = url.removeprefix(system.stack.gateway_url)
            async with WebBrowser(system) as anonymous:
                page = await anonymous.get(path)
            if page.status_code == 303 and page.headers["location"].startswith("/login?next="):
                if name not in signed_in:
                    signed_in[name] = WebBrowser(system)
                    landed = await signed_in[name].sign_in(page.headers["location"], name)
                    assert landed == path, (url, landed)
                page = await signed_in[name].get(path)
            assert page.headers["content-type"].startswith("text/html"), url
            if page.status_code == 400 and path.startswith("/verify-email?"):
                assert "used already or expired" in page.text, page.text[:300]
            else:
                assert page.status_code == 200, f"{url}: {page.status_code} {page.text[:200]}"
            paths.add(httpx.URL(url).path)
    finally:
        for browser in signed_in.values():
            await browser.client.aclose()
    return paths


async def _status(call: Any, status: int) -> Any:
    response = await call
    return response.json() if response.status_code == status else None


async def _created(call: Any) -> Any:
    response = await call
    return response.json() if response.status_code == 201 else None


async def _ok(call: Any) -> Any:
    response = await call
    return response.json() if response.status_code == 200 else None


async def test_forged_forwarded_for_values_do_not_escape_the_log_in_throttle(
    system: System,
) -> None:
    """Issue 16's attack: 30 failed log-ins, each claiming another client address in
    X-Forwarded-For. The gateway replaces the header with the address it saw, so they
    count as one address against one account: refused after five, as the rule says."""
    await system.sign_up("xffvictim", phone=next_phone())
    statuses = []
    for n in range(30):
        answer = await system.client.post(
            "/api/v1/auth/jwt/create",
            json={"username": "xffvictim", "password": "not-the-password"},
            headers={"X-Forwarded-For": f"198.51.100.{n}", "X-Real-Ip": f"198.51.100.{n}"},
        )
        statuses.append(answer.status_code)
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}, statuses
    FIGURES.append(
        f"forged X-Forwarded-For: 30 failed log-ins claiming 30 addresses: "
        f"{statuses.count(401)} x 401, {statuses.count(429)} x 429"
    )

"""The webhook pages as a team's leader uses them (register with the secret shown once,
the deliveries log with status and latency, Redeliver, edit the event types, rotate,
disable and re-enable, delete), a developer without webhooks.manage (no link, 403) and an
outsider (404); against the real four services of the embedded runtime, delivering to a
receiver this test starts (HTTPS on the loopback, its own certificate)."""

from __future__ import annotations

import asyncio
import html
import importlib.util
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from taskflow_chassis.ports import free_port

from .conftest import ORIGIN, Browser, browser_for, embedded_runtime, participant, team_with_member

pytestmark = pytest.mark.asyncio(loop_scope="module")

# The receiver notify's tests use (services/notify/tests/webhook_receiver.py).
_RECEIVER_FILE = Path(__file__).resolve().parents[2] / "notify" / "tests" / "webhook_receiver.py"
_spec = importlib.util.spec_from_file_location("taskflow_test_webhook_receiver", _RECEIVER_FILE)
assert _spec is not None and _spec.loader is not None
receiving = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = receiving
_spec.loader.exec_module(receiving)

TASK_CREATED = "taskflow.work.task.created.v1"


@dataclass
class World:
    api: httpx.AsyncClient
    ada: Browser  # leads the team: every permission, webhooks.manage among them
    bob: Browser  # a Developer
    eve: Browser  # in no team of ada's
    tokens: dict[str, str]
    team_id: str
    receiver: Any

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens['ada']}"}
        response = await self.api.request(method, path, headers=headers, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    data = tmp_path_factory.mktemp("webhook-pages")
    receiver = receiving.Receiver()
    server = receiving.serve(receiver, data, free_port())
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NOTIFY_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
        env.setenv("NOTIFY_WEBHOOK_CA_BUNDLE", str(receiver.ca_file))
        env.setenv("NOTIFY_WEBHOOK_RETRY_FLOOR_SECONDS", "0.05")
        env.setenv("NOTIFY_WEBHOOK_SWEEP_SECONDS", "0.05")
        async with embedded_runtime(data) as dispatcher:
            mail = data / "mail"
            web = dispatcher.apps["web"]
            api = httpx.AsyncClient(transport=httpx.ASGITransport(app=dispatcher), base_url=ORIGIN)
            ada, bob, eve = (browser_for(web, mail) for _ in range(3))
            async with api, ada.client, bob.client, eve.client:
                tokens = {
                    "ada": await participant(api, ada, "ada", "+14155550131"),
                    "bob": await participant(api, bob, "bob", "+14155550132"),
                    "eve": await participant(api, eve, "eve", "+14155550133"),
                }
                team_id = await team_with_member(
                    api, mail, tokens["ada"], tokens["bob"], "bob@example.com", "Developer"
                )
                yield World(api, ada, bob, eve, tokens, team_id, receiver)
    server.shutdown()
    server.server_close()


async def _page_until(browser: Browser, path: str, text: str) -> str:
    """The page once it shows ``text`` (deliveries go in the background)."""
    for _ in range(300):
        page = await browser.get(path)
        assert page.status_code == 200, page.text
        if text in page.text:
            return page.text
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} never shown on {path}")


def _secret(page: str) -> str:
    found = re.search(r'id="secret" type="text" readonly value="([^"]+)"', page)
    assert found, page
    return html.unescape(found.group(1))


async def test_who_sees_the_webhooks(world: World) -> None:
    base = f"/teams/{world.team_id}/webhooks"
    # The link shows on the team page to whoever holds webhooks.manage (the leader) alone;
    # the API answers the others' direct visits: 403 for a member, 404 for an outsider.
    leader_team = await _page_until(world.ada, f"/teams/{world.team_id}", "Webhooks")
    assert f'href="{base}"' in leader_team
    developer_team = await world.bob.get(f"/teams/{world.team_id}")
    assert developer_team.status_code == 200 and f'href="{base}"' not in developer_team.text
    assert (await world.bob.get(base)).status_code == 403
    assert (await world.eve.get(base)).status_code == 404
    refused = await world.bob.post(base, {"url": world.receiver.url, "event_types": "*"})
    assert refused.status_code == 403


async def test_register_deliver_redeliver_edit_rotate_disable_delete(world: World) -> None:
    base = f"/teams/{world.team_id}/webhooks"
    empty = await world.ada.get(base)
    assert empty.status_code == 200 and "No webhook yet." in empty.text
    assert TASK_CREATED in empty.text  # the types to choose from

    # Bad input: an http:// URL, and no type chosen; the message is beside the field.
    bad = await world.ada.post(base, {"url": "http://example.com/hook", "description": ""})
    assert bad.status_code == 422, bad.text
    assert 'id="f-url-error"' in bad.text and 'aria-invalid="true"' in bad.text
    # A loopback address outside the allowed networks would be refused the same way; here
    # the test's receiver is allowed (NOTIFY_WEBHOOK_ALLOWED_NETWORKS).
    created = await world.ada.client.post(
        base,
        data={
            "csrf_token": world.ada.csrf,
            "url": world.receiver.url,
            "description": "CI",
            "event_types": [TASK_CREATED],
        },
        headers={"Origin": ORIGIN},
    )
    assert created.status_code == 201, created.text
    secret = _secret(created.text)
    assert secret.startswith("whsec_") and "not shown again" in created.text
    listed = await world.ada.get(base)
    assert world.receiver.url in listed.text and secret not in listed.text  # shown once
    link = re.search(rf'href="({re.escape(base)}/[0-9a-f-]{{36}})"', listed.text)
    assert link, listed.text
    endpoint_page = link.group(1)

    # A task created in the team is delivered, signed with the secret; the log shows it.
    project = await world.call(
        "POST", "/api/v1/projects", json={"team_id": world.team_id, "name": "P"}
    )
    await world.call("POST", f"/api/v1/projects/{project['id']}/tasks", json={"title": "Hooked"})
    log = await _page_until(world.ada, endpoint_page, "delivered")
    assert "work.task.created" in log and re.search(r"HTTP 200 in \d+ ms", log)
    [first] = world.receiver.accepted()
    assert first.event["data"]["title"] == "Hooked"
    headers = first.headers
    assert first.signatures == [
        receiving.expected_signature(
            secret, headers["webhook-id"], headers["webhook-timestamp"], first.body
        )
    ]

    # Redeliver: the same event again, as a new delivery.
    action = re.search(r'action="([^"]+/redeliver)"', log)
    assert action, log
    redone = await world.ada.post(html.unescape(action.group(1)))
    assert redone.status_code == 303, redone.text
    for _ in range(600):
        if len(world.receiver.accepted()) == 2:
            break
        await asyncio.sleep(0.05)
    second = world.receiver.accepted()[1]
    assert second.event["id"] == first.event["id"]
    assert second.headers["webhook-id"] != headers["webhook-id"]

    # Edit: every event type; a bad URL is refused beside its field.
    wrong = await world.ada.post(endpoint_page, {"url": "ftp://x", "event_types": "*"})
    assert wrong.status_code == 422 and 'id="f-url-error"' in wrong.text
    saved = await world.ada.post(
        endpoint_page, {"url": world.receiver.url, "description": "CI", "event_types": "*"}
    )
    assert saved.status_code == 303
    assert 'value="*" checked' in (await world.ada.get(endpoint_page)).text

    # Rotate: the new secret shown once, and both signatures during the grace.
    rotated = await world.ada.post(f"{endpoint_page}/rotate")
    assert rotated.status_code == 200, rotated.text
    new_secret = _secret(rotated.text)
    assert new_secret != secret
    assert new_secret not in (await world.ada.get(endpoint_page)).text

    # A button sends the version the page showed: changed meanwhile, nothing is done.
    shown = (await world.ada.get(endpoint_page)).text
    stale = re.search(
        r'/disable"[^>]*>\s*<input[^>]*><input type="hidden" name="etag" value="([^"]+)"', shown
    )
    assert stale, shown
    api_path = f"/api/v1/teams/{world.team_id}/webhooks/{endpoint_page.rsplit('/', 1)[1]}"
    await world.call("PATCH", api_path, json={"description": "changed elsewhere"})
    refused = await world.ada.post(
        f"{endpoint_page}/disable", {"etag": html.unescape(stale.group(1))}
    )
    assert refused.status_code == 412 and "Someone else changed this" in refused.text

    # Disable, then re-enable.
    off = await world.ada.post(f"{endpoint_page}/disable")
    assert off.status_code == 303
    disabled = await world.ada.get(endpoint_page)
    assert "This webhook is disabled" in disabled.text and "Re-enable" in disabled.text
    on = await world.ada.post(f"{endpoint_page}/enable")
    assert on.status_code == 303
    assert "Re-enable" not in (await world.ada.get(endpoint_page)).text

    # Without the CSRF token nothing changes.
    forged = await world.ada.client.post(f"{endpoint_page}/delete", headers={"Origin": ORIGIN})
    assert forged.status_code == 403
    gone = await world.ada.post(f"{endpoint_page}/delete")
    assert gone.status_code == 303 and gone.headers["location"] == base
    assert "No webhook yet." in (await world.ada.get(base)).text

"""Signed webhooks (issue 21, point 2), against a receiver this test starts (HTTPS on the
loopback, self-signed): signatures, retries with back-off under a receiver failing the
first attempts, order per endpoint, each event delivered once, rotation with a grace,
disabling after a day of failures with an email to the team's webhook managers,
redelivery by hand, the SSRF refusals and the routes' 404/403/422."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import func, select, text
from taskflow_chassis.ports import free_port
from taskflow_chassis.testing import check_problem, fresh_database
from taskflow_contracts import permissions as P
from taskflow_contracts import teams, work
from taskflow_notify.config import NotifySettings
from taskflow_notify.replica.models import MemberReplica
from taskflow_notify.webhooks import rules
from taskflow_notify.webhooks.adapters import SecretCipher, WebhookPoster
from taskflow_notify.webhooks.models import WebhookEndpoint

from .conftest import World, running, text_of, world_settings
from .webhook_receiver import Receiver, expected_signature, serve

LOOPBACK = "127.0.0.0/8"


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    box = Receiver()
    server = serve(box, tmp_path, free_port())
    yield box
    server.shutdown()
    server.server_close()


def settings_for(
    database_url: str, tmp_path: Path, receiver: Receiver, **overrides: Any
) -> NotifySettings:
    """Deliveries allowed to the loopback receiver, trusted by its certificate, retried
    after 50 ms and up to 200 ms apart."""
    values: dict[str, Any] = {
        "webhook_allowed_networks": [LOOPBACK],
        "webhook_ca_bundle": str(receiver.ca_file),
        "webhook_retry_floor_seconds": 0.05,
        "webhook_retry_max_seconds": 0.2,
        "webhook_sweep_seconds": 0.05,
        "webhook_timeout_seconds": 5,
    }
    return world_settings(database_url, tmp_path, **{**values, **overrides})


def started(settings: NotifySettings, tmp_path: Path) -> AbstractAsyncContextManager[World]:
    return running(settings, tmp_path / "mail")


@pytest.fixture
async def hooks(database_url: str, tmp_path: Path, receiver: Receiver) -> AsyncIterator[World]:
    async with started(settings_for(database_url, tmp_path, receiver), tmp_path) as world:
        yield world


async def member(
    world: World, name: str, team_id: uuid.UUID, permissions: list[str]
) -> dict[str, Any]:
    person = await world.person(name)
    await world.event(
        teams.MemberJoined(
            team_id=team_id,
            user_id=person["id"],
            role_id=uuid.uuid4(),
            role_name="Someone",
            permissions=permissions,
        )
    )
    return dict(person)


async def team_with_leader(world: World) -> tuple[uuid.UUID, dict[str, Any]]:
    team_id = uuid.uuid4()
    await world.event(teams.TeamCreated(team_id=team_id, name="Apollo", leader_id=uuid.uuid4()))
    leader = await member(world, "lead", team_id, sorted(P.BUILT_IN_ROLES[P.TEAM_LEADER]))
    return team_id, leader


async def register(
    world: World, team_id: uuid.UUID, person: dict[str, Any], url: str, types: list[str]
) -> dict[str, Any]:
    response = await world.client.post(
        f"/api/v1/teams/{team_id}/webhooks",
        json={"url": url, "event_types": types},
        headers=person["headers"],
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def task_created(team_id: uuid.UUID, title: str) -> work.TaskCreated:
    return work.TaskCreated(
        task_id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        team_id=team_id,
        title=title,
        status="todo",
        priority="medium",
        due_at=None,
        assignee_ids=[],
        created_by=uuid.uuid4(),
    )


async def eventually(check: Any, within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.05)


def verify(received: Any, secrets: list[str]) -> None:
    """Every secret given has its signature in the header, and no other is there."""
    headers = received.headers
    expected = {
        expected_signature(s, headers["webhook-id"], headers["webhook-timestamp"], received.body)
        for s in secrets
    }
    assert set(received.signatures) == expected


async def test_retries_order_and_one_delivery_each(
    hooks: World, receiver: Receiver, database_url: str
) -> None:
    team_id, leader = await team_with_leader(hooks)
    endpoint = await register(
        hooks, team_id, leader, receiver.url, ["taskflow.work.task.created.v1"]
    )
    secret = endpoint["secret"]
    assert (
        secret.startswith("whsec_")
        and "secret"
        not in (
            await hooks.client.get(
                f"/api/v1/teams/{team_id}/webhooks/{endpoint['id']}", headers=leader["headers"]
            )
        ).json()
    )
    receiver.fail_first = 3
    events = [await hooks.event(task_created(team_id, f"Task {i}")) for i in range(5)]
    # A type it did not subscribe to, and another team's event, go nowhere.
    await hooks.event(teams.TeamUpdated(team_id=team_id, name="Apollo 2"))
    await hooks.event(task_created(uuid.uuid4(), "elsewhere"))
    # A redelivered event makes no second delivery.
    await hooks.redeliver(events[0])
    await eventually(lambda: len(receiver.accepted()) == 5)
    await asyncio.sleep(0.3)
    got = receiver.all()
    accepted = [r for r in got if r.status == 200]
    assert [r.event["id"] for r in accepted] == [e.id for e in events]  # in order, once each
    assert len(got) == 5 + 3  # the first delivery was tried three times before it went
    first_tries = [r for r in got if r.event["id"] == events[0].id]
    assert [r.status for r in first_tries] == [503, 503, 503, 200]
    assert len({r.headers["webhook-id"] for r in first_tries}) == 1  # one id on each retry
    for r in got:
        verify(r, [secret])
        assert r.event["type"] == "taskflow.work.task.created.v1"
        assert r.headers["content-type"] == "application/json"
    # The body is the CloudEvent as the bus carried it.
    assert accepted[1].event["data"]["title"] == "Task 1"
    assert accepted[1].event["specversion"] == "1.0"
    deliveries = await hooks.client.get(
        f"/api/v1/teams/{team_id}/webhooks/{endpoint['id']}/deliveries",
        params={"limit": 2},
        headers=leader["headers"],
    )
    assert deliveries.status_code == 200, deliveries.text
    page = deliveries.json()
    assert [d["event_id"] for d in page["items"]] == [events[4].id, events[3].id]
    assert page["items"][0]["status"] == "delivered"
    assert page["items"][0]["last_status_code"] == 200
    assert page["items"][0]["last_latency_ms"] >= 0
    rest = await hooks.client.get(
        f"/api/v1/teams/{team_id}/webhooks/{endpoint['id']}/deliveries",
        params={"limit": 10, "cursor": page["next_cursor"]},
        headers=leader["headers"],
    )
    oldest = rest.json()["items"][-1]
    assert oldest["event_id"] == events[0].id and oldest["attempts"] == 4


async def test_rotation_signs_with_both_during_the_grace(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    settings = settings_for(database_url, tmp_path, receiver, webhook_rotation_grace_seconds=60)
    async with started(settings, tmp_path) as world:
        team_id, leader = await team_with_leader(world)
        endpoint = await register(world, team_id, leader, receiver.url, ["*"])
        base = f"/api/v1/teams/{team_id}/webhooks/{endpoint['id']}"
        rotated = await world.client.post(f"{base}/rotate-secret", headers=leader["headers"])
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()
        assert new["secret"] != endpoint["secret"] and new["rotation_ends_at"] is not None
        await world.event(task_created(team_id, "during the grace"))
        await eventually(lambda: len(receiver.accepted()) == 1)
        verify(receiver.accepted()[0], [new["secret"], endpoint["secret"]])
        # The grace over (its end moved into the past): only the new secret signs.
        async with world.app.state.database.session() as session:
            row = await session.get(WebhookEndpoint, uuid.UUID(endpoint["id"]))
            assert row is not None
            row.previous_secret_until = datetime(2000, 1, 1, tzinfo=UTC)
            session.add(row)
            await session.commit()
        await world.event(task_created(team_id, "after the grace"))
        await eventually(lambda: len(receiver.accepted()) == 2)
        verify(receiver.accepted()[1], [new["secret"]])
        read = await world.client.get(base, headers=leader["headers"])
        assert read.json()["rotation_ends_at"] is None


async def test_disabled_after_a_day_of_failures_then_reenabled_and_redelivered(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    # A "day" of 1.5 s: every attempt fails for it, and the endpoint is disabled.
    settings = settings_for(
        database_url, tmp_path, receiver, webhook_retry_horizon_hours=1.5 / 3600
    )
    async with started(settings, tmp_path) as world:
        team_id, leader = await team_with_leader(world)
        await member(world, "dev", team_id, [P.TASKS_CREATE])
        endpoint = await register(world, team_id, leader, receiver.url, ["*"])
        base = f"/api/v1/teams/{team_id}/webhooks/{endpoint['id']}"
        receiver.fail_first = 10**6
        first = await world.event(task_created(team_id, "never accepted"))
        second = await world.event(task_created(team_id, "waits behind it"))

        async def disabled() -> bool:
            return not (await world.client.get(base, headers=leader["headers"])).json()["enabled"]

        deadline = asyncio.get_running_loop().time() + 20
        while not await disabled():
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        tried = {r.event["id"] for r in receiver.all()}
        assert tried == {first.id}  # the second waited behind the first (order)
        assert len(receiver.all()) >= 3  # retried with back-off before giving up
        await world.settle()
        mails = [m for m in world.emails() if "disabled" in str(m["Subject"])]
        assert [m["To"] for m in mails] == [leader["email"]]  # the manager, not the developer
        assert receiver.url in text_of(mails[0])
        read = (await world.client.get(base, headers=leader["headers"])).json()
        assert "failed" in read["disabled_reason"]
        items = (await world.client.get(f"{base}/deliveries", headers=leader["headers"])).json()
        by_event = {d["event_id"]: d for d in items["items"]}
        assert by_event[first.id]["status"] == "failed"
        assert by_event[second.id]["status"] == "pending"
        # Re-enabled by hand, the receiver well again: the waiting one goes; the failed one
        # goes again when redelivered by hand.
        receiver.fail_first = 0
        again = await world.client.patch(base, json={"enabled": True}, headers=leader["headers"])
        assert again.status_code == 200 and again.json()["enabled"] is True
        await eventually(lambda: [r.event["id"] for r in receiver.accepted()] == [second.id])
        failed_id = by_event[first.id]["id"]
        redone = await world.client.post(
            f"{base}/deliveries/{failed_id}/redeliver", headers=leader["headers"]
        )
        assert redone.status_code == 202, redone.text
        assert redone.json()["redelivery_of"] == failed_id
        await eventually(lambda: len(receiver.accepted()) == 2)
        last = receiver.accepted()[1]
        assert last.event["id"] == first.id
        assert last.headers["webhook-id"] == redone.json()["id"]  # a new delivery, a new id
        verify(last, [endpoint["secret"]])
        # A pending delivery is not redelivered; an unknown one is not found.
        unknown = await world.client.post(
            f"{base}/deliveries/{uuid.uuid4()}/redeliver", headers=leader["headers"]
        )
        check_problem(unknown, 404)


async def test_a_redirect_is_a_failed_attempt_never_followed(
    hooks: World, receiver: Receiver
) -> None:
    team_id, leader = await team_with_leader(hooks)
    endpoint = await register(hooks, team_id, leader, receiver.url, ["*"])
    receiver.redirect = True
    await hooks.event(task_created(team_id, "redirected"))
    await eventually(lambda: len(receiver.all()) >= 2)
    assert all(r.path == "/hook" for r in receiver.all())  # never to the Location
    items = (
        await hooks.client.get(
            f"/api/v1/teams/{team_id}/webhooks/{endpoint['id']}/deliveries",
            headers=leader["headers"],
        )
    ).json()["items"]
    assert items[0]["status"] == "pending" and items[0]["last_status_code"] == 307
    assert "redirect" in items[0]["last_error"]


REFUSED = [
    "https://127.0.0.1/hook",
    "https://10.1.2.3/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://localhost/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    # IPv6 forms a translating network delivers to an IPv4 address: loopback, metadata.
    "https://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
    "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
    "https://[64:ff9b:1::808:808]/hook",  # NAT64 local-use: refused whatever it holds
    "https://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "https://[::7f00:1]/hook",  # IPv4-compatible 127.0.0.1
    "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hook",  # Teredo, client 10.0.0.1
]


@pytest.mark.parametrize("url", REFUSED)
async def test_private_addresses_refused_without_the_setting(url: str) -> None:
    poster = WebhookPoster()
    try:
        answer = await poster.post(url, b"{}", {})
        assert answer.status_code is None and answer.error and "refused" in answer.error
        with pytest.raises(Exception, match=r"address|resolved"):
            await poster.check(url)
    finally:
        await poster.close()


async def test_registration_and_delivery_check_the_address(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    settings = settings_for(database_url, tmp_path, receiver, webhook_allowed_networks=[])
    async with started(settings, tmp_path) as world:
        team_id, leader = await team_with_leader(world)
        for url in [*REFUSED, receiver.url]:
            refused = await world.client.post(
                f"/api/v1/teams/{team_id}/webhooks",
                json={"url": url, "event_types": ["*"]},
                headers=leader["headers"],
            )
            body = check_problem(refused, 422)
            assert body["errors"][0]["field"] == "url", url
        # Registered while allowed, then the setting gone: every delivery is checked again.
        world.app.state.webhook_poster.allowed_networks = (ipaddress.ip_network(LOOPBACK),)
        endpoint = await register(world, team_id, leader, receiver.url, ["*"])
        world.app.state.webhook_poster.allowed_networks = ()
        await world.event(task_created(team_id, "to loopback"))
        base = f"/api/v1/teams/{team_id}/webhooks/{endpoint['id']}"

        async def tried() -> list[dict[str, Any]]:
            response = await world.client.get(f"{base}/deliveries", headers=leader["headers"])
            items: list[dict[str, Any]] = response.json()["items"]
            return items

        deadline = asyncio.get_running_loop().time() + 10
        while (await tried())[0]["attempts"] == 0:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        assert "refused" in (await tried())[0]["last_error"]
        assert receiver.all() == []


def test_broad_networks_refused_outside_development() -> None:
    with pytest.raises(ValueError, match="too broad"):
        NotifySettings(environment="production", webhook_allowed_networks=["10.0.0.0/8"])
    NotifySettings(environment="production", webhook_allowed_networks=["203.0.113.0/24"])
    NotifySettings(environment="development", webhook_allowed_networks=["127.0.0.0/8"])


async def test_routes_404_403_422(hooks: World, receiver: Receiver) -> None:
    team_id, leader = await team_with_leader(hooks)
    developer = await member(hooks, "dev", team_id, sorted(P.BUILT_IN_ROLES[P.DEVELOPER]))
    outsider = await hooks.person("out")
    endpoint = await register(hooks, team_id, leader, receiver.url, ["*"])
    base = f"/api/v1/teams/{team_id}/webhooks"
    one = f"{base}/{endpoint['id']}"
    routes = [
        ("GET", base, None),
        ("POST", base, {"url": receiver.url, "event_types": ["*"]}),
        ("GET", f"{base}/event-types", None),
        ("GET", one, None),
        ("PATCH", one, {"enabled": True}),
        ("POST", f"{one}/rotate-secret", None),
        ("GET", f"{one}/deliveries", None),
        ("POST", f"{one}/deliveries/{uuid.uuid4()}/redeliver", None),
        ("DELETE", one, None),
    ]
    for method, path, body in routes:
        for who, status in ((outsider, 404), (developer, 403)):
            response = await hooks.client.request(method, path, json=body, headers=who["headers"])
            problem = check_problem(response, status)
            if status == 403:
                assert problem["permission"] == P.WEBHOOKS_MANAGE
    # Another team's webhook is not found through this team.
    other_team, other_leader = uuid.uuid4(), await hooks.person("other")
    await hooks.event(
        teams.MemberJoined(
            team_id=other_team,
            user_id=other_leader["id"],
            role_id=uuid.uuid4(),
            role_name="Team Leader",
            permissions=[P.WEBHOOKS_MANAGE],
        )
    )
    check_problem(
        await hooks.client.get(
            f"/api/v1/teams/{other_team}/webhooks/{endpoint['id']}",
            headers=other_leader["headers"],
        ),
        404,
    )
    bad_bodies = [
        {"url": "http://example.com/hook", "event_types": ["*"]},
        {"url": "https://example.com/hook", "event_types": []},
        {
            "url": "https://example.com/hook",
            "event_types": ["taskflow.teams.invitation.created.v1"],
        },
        {"url": "https://example.com/hook", "event_types": ["nope"]},
        {"url": "https://example.com/hook", "event_types": ["*"], "secret": "mine"},
        {"url": "https://user:pw@example.com/hook", "event_types": ["*"]},
        {"url": "https://example.com:99999/hook", "event_types": ["*"]},
        {"url": "x" * 3000, "event_types": ["*"]},
        {"event_types": ["*"]},
    ]
    for bad in bad_bodies:
        check_problem(await hooks.client.post(base, json=bad, headers=leader["headers"]), 422)
    check_problem(
        await hooks.client.patch(one, json={"event_types": ["nope"]}, headers=leader["headers"]),
        422,
    )
    check_problem(
        await hooks.client.get(f"{one}/deliveries?cursor=garbage", headers=leader["headers"]),
        400,
    )
    types = await hooks.client.get(f"{base}/event-types", headers=leader["headers"])
    assert set(types.json()["event_types"]) == rules.WEBHOOK_EVENT_TYPES
    assert "taskflow.teams.invitation.created.v1" not in rules.WEBHOOK_EVENT_TYPES
    # A role change taking webhooks.manage away is applied (the replica keeps permissions).
    await hooks.event(
        teams.MemberRoleChanged(
            team_id=team_id,
            user_id=leader["id"],
            role_id=uuid.uuid4(),
            role_name="Viewer",
            permissions=[],
        )
    )
    check_problem(await hooks.client.get(base, headers=leader["headers"]), 403)
    deleted = await hooks.client.delete(one, headers=developer["headers"])
    check_problem(deleted, 403)


async def test_role_update_grants_and_purge_erases(hooks: World, receiver: Receiver) -> None:
    team_id = uuid.uuid4()
    role_id = uuid.uuid4()
    person = await hooks.person("ann")
    await hooks.event(
        teams.MemberJoined(
            team_id=team_id,
            user_id=person["id"],
            role_id=role_id,
            role_name="Ops",
            permissions=[],
            team_seq=1,
        )
    )
    base = f"/api/v1/teams/{team_id}/webhooks"
    check_problem(await hooks.client.get(base, headers=person["headers"]), 403)
    await hooks.event(
        teams.RoleUpdated(
            team_id=team_id,
            role_id=role_id,
            name="Ops",
            permissions=[P.WEBHOOKS_MANAGE],
            team_seq=2,
        )
    )
    assert (await hooks.client.get(base, headers=person["headers"])).status_code == 200
    await register(hooks, team_id, person, receiver.url, ["*"])
    await hooks.event(teams.TeamPurged(team_id=team_id, team_seq=3))
    async with hooks.app.state.database.session() as session:
        count = (await session.execute(select(func.count()).select_from(WebhookEndpoint))).scalar()
        assert count == 0


def test_signature_matches_the_standard_webhooks_example() -> None:
    """The example of the Standard Webhooks specification, computed by notify's rule."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        rules.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_retry_delay_grows_with_jitter_and_stays_in_bounds() -> None:
    delays = [rules.retry_delay(n, 30, 3600) for n in range(1, 12)]
    assert all(30 <= d <= 3600 for d in delays)
    assert delays[0] <= 30.0001 and delays[-1] >= 1800
    spread = {round(rules.retry_delay(5, 30, 3600, random.Random(seed)), 3) for seed in range(20)}
    assert len(spread) > 10 and min(spread) >= 240 and max(spread) <= 480  # 480 * [0.5, 1]


async def test_members_from_before_permissions_were_kept_are_backfilled(
    hooks: World,
) -> None:
    """Replica rows from before notify kept permissions (NULL): a route answers 503 without
    asking teams; the backfill asks teams once per team, keeps a member's grant, leaves a
    member teams no longer lists inactive (404), and while teams cannot answer, waits.
    An event's answer that came first is kept."""
    team_id, role_id = uuid.uuid4(), uuid.uuid4()
    ann, bob, cy = [await hooks.person(name) for name in ("ann", "bob", "cy")]
    async with hooks.app.state.database.session() as session:
        for person in (ann, bob, cy):
            session.add(MemberReplica(team_id=team_id, user_id=person["id"], seq=3))
        await session.commit()
    asked: list[str] = []
    answer: dict[str, Any] = {"status": 503}

    def teams_api(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers.get("X-Service-Key", ""))
        if answer["status"] != 200:
            return httpx.Response(answer["status"])
        members = [
            {"user_id": str(person["id"]), "role_id": str(role_id), "role_name": "Team Leader"}
            for person in (ann, cy)
        ]
        return httpx.Response(
            200,
            json={
                "team_id": str(team_id),
                "name": "Old team",
                "seq": 3,
                "members": [{**m, "permissions": [P.WEBHOOKS_MANAGE]} for m in members],
            },
        )

    grants = hooks.app.state.teams_grants
    grants.client = httpx.AsyncClient(
        transport=httpx.MockTransport(teams_api), base_url="http://teams"
    )
    grants.key = SecretStr("internal-key")
    backfill = hooks.app.state.permission_backfill
    base = f"/api/v1/teams/{team_id}/webhooks"
    check_problem(await hooks.client.get(base, headers=ann["headers"]), 503)
    assert asked == []  # a request never waits on teams
    assert await backfill.run_once() == 0  # teams away: nothing settled, nothing lost
    # Meanwhile cy's role changed by an event: its answer (no permission) stands.
    await hooks.event(
        teams.MemberRoleChanged(
            team_id=team_id,
            user_id=cy["id"],
            role_id=uuid.uuid4(),
            role_name="Viewer",
            permissions=[],
            team_seq=4,
        )
    )
    answer["status"] = 200
    assert await backfill.run_once() == 2  # ann and bob
    assert await backfill.run_once() == 0  # nothing left: teams not asked again
    assert asked == ["internal-key"] * 2
    assert (await hooks.client.get(base, headers=ann["headers"])).status_code == 200
    check_problem(await hooks.client.get(base, headers=bob["headers"]), 404)  # not in teams
    check_problem(await hooks.client.get(base, headers=cy["headers"]), 403)
    async with hooks.app.state.database.session() as session:
        row = await session.get(MemberReplica, (team_id, ann["id"]))
        assert row is not None and row.permissions == {P.WEBHOOKS_MANAGE}
        assert row.role_id == role_id
    await grants.client.aclose()


async def test_a_host_name_is_pinned_to_the_address_checked_with_host_and_sni_kept(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is resolved once per attempt and the connection goes to that address; the
    receiver sees the name in Host, and TLS verifies its certificate against the name (SNI):
    a certificate for another name fails the attempt."""
    resolved: list[str] = []
    real = asyncio.get_running_loop().getaddrinfo

    async def getaddrinfo(host: str, port: int, **kwargs: Any) -> Any:
        resolved.append(host)
        if host in ("hooks.example", "localhost"):
            return await real("127.0.0.1", port, **kwargs)
        return await real(host, port, **kwargs)

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    poster = WebhookPoster(
        allowed_networks=(ipaddress.ip_network(LOOPBACK),), ca_bundle=str(receiver.ca_file)
    )
    try:
        good = await poster.post(f"https://localhost:{receiver.port}/hook", b"{}", {})
        assert good.ok, good.error
        assert receiver.all()[-1].headers["host"] == f"localhost:{receiver.port}"
        # The same address under a name the certificate does not carry: refused by TLS.
        wrong = await poster.post(f"https://hooks.example:{receiver.port}/hook", b"{}", {})
        assert not wrong.ok and wrong.status_code is None
        assert len(receiver.all()) == 1
        assert resolved == ["localhost", "hooks.example"]
    finally:
        await poster.close()


def test_an_ipv6_form_of_a_public_ipv4_address_is_judged_by_it() -> None:
    from taskflow_notify.webhooks.rules import refusal

    assert refusal(ipaddress.ip_address("64:ff9b::808:808")) is None  # NAT64 of 8.8.8.8
    assert refusal(ipaddress.ip_address("2002:808:808::1")) is None  # 6to4 of 8.8.8.8
    assert refusal(ipaddress.ip_address("2606:4700:4700::1111")) is None  # plain IPv6
    assert refusal(ipaddress.ip_address("64:ff9b::a00:1")) == "10.0.0.1 is a private address"


async def test_a_secret_is_never_kept_for_a_retry(hooks: World, receiver: Receiver) -> None:
    """Idempotency-Key is ignored by the two routes that answer a secret (creation and
    rotation), as by a personal API token's creation: a replay would keep it for 24 h."""
    team_id, leader = await team_with_leader(hooks)
    base = f"/api/v1/teams/{team_id}/webhooks"
    keyed = {**leader["headers"], "Idempotency-Key": "make-one-webhook"}
    body = {"url": receiver.url, "event_types": ["*"]}
    made = [await hooks.client.post(base, json=body, headers=keyed) for _ in range(2)]
    assert [m.status_code for m in made] == [201, 201]
    assert all("Idempotent-Replayed" not in m.headers for m in made)
    first, again = (m.json() for m in made)
    assert first["id"] != again["id"] and first["secret"] != again["secret"]
    rotate = f"{base}/{first['id']}/rotate-secret"
    rotated = [
        await hooks.client.post(rotate, headers={**leader["headers"], "Idempotency-Key": "r1"})
        for _ in range(2)
    ]
    assert [r.status_code for r in rotated] == [200, 200]
    assert rotated[0].json()["secret"] != rotated[1].json()["secret"]
    secrets = [first["secret"], again["secret"], *(r.json()["secret"] for r in rotated)]
    async with hooks.app.state.database.session() as session:
        kept = (await session.execute(text("SELECT body FROM idempotency_keys"))).scalars().all()
    assert not any(s.removeprefix("whsec_") in str(b) for s in secrets for b in kept)
    document = (await hooks.client.get("/openapi/notify.json")).json()
    for path in (base, f"{base}/{{webhook_id}}/rotate-secret"):
        templated = path.replace(str(team_id), "{team_id}")
        (header,) = [
            p
            for p in document["paths"][templated]["post"]["parameters"]
            if p["name"] == "Idempotency-Key"
        ]
        assert header["description"].startswith("Ignored by this route"), templated


async def stored_secrets(world: World) -> list[str]:
    async with world.app.state.database.session() as session:
        rows = (
            await session.execute(text("SELECT secret, previous_secret FROM webhook_endpoints"))
        ).all()
    return [value for row in rows for value in row if value is not None]


async def test_secrets_are_encrypted_at_rest_and_deliveries_verify(
    database_url: str, tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """The database holds no secret readable (neither the current one nor, after a rotation,
    the one before); every delivery is signed with the secrets themselves; no log line
    carries one. The development key is generated once under data_dir/notify/keys and kept."""
    caplog.set_level("DEBUG")
    settings = settings_for(database_url, tmp_path, receiver, webhook_rotation_grace_seconds=60)
    async with started(settings, tmp_path) as world:
        team_id, leader = await team_with_leader(world)
        endpoint = await register(world, team_id, leader, receiver.url, ["*"])
        base = f"/api/v1/teams/{team_id}/webhooks/{endpoint['id']}"
        rotated = await world.client.post(f"{base}/rotate-secret", headers=leader["headers"])
        secrets = [rotated.json()["secret"], endpoint["secret"]]
        stored = await stored_secrets(world)
        assert len(stored) == 2
        for secret in secrets:
            assert not any(secret.removeprefix("whsec_") in value for value in stored)
        await world.event(task_created(team_id, "signed"))
        await eventually(lambda: len(receiver.accepted()) == 1)
        verify(receiver.accepted()[0], secrets)
    key = tmp_path / "notify" / "keys" / "webhook-secret-key"
    assert key.stat().st_mode & 0o777 == 0o600
    async with started(settings, tmp_path) as again:  # the same key: the same secrets
        await again.event(task_created(team_id, "after a restart"))
        await eventually(lambda: len(receiver.accepted()) == 2)
        verify(receiver.accepted()[1], secrets)
    for secret in secrets:
        assert not any(secret.removeprefix("whsec_") in r.getMessage() for r in caplog.records)


async def test_secrets_stored_readable_before_still_sign_and_are_sealed_at_start(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """Rows an earlier version wrote (the secret readable, a rotation's one too) go on
    signing, and the next start encrypts them: nothing is lost."""
    settings = settings_for(database_url, tmp_path, receiver, webhook_rotation_grace_seconds=60)
    current, previous = rules.new_secret(), rules.new_secret()
    async with started(settings, tmp_path) as world:
        team_id, leader = await team_with_leader(world)
        endpoint = await register(world, team_id, leader, receiver.url, ["*"])
        async with world.app.state.database.session() as session:
            row = await session.get(WebhookEndpoint, uuid.UUID(endpoint["id"]))
            assert row is not None
            row.secret, row.previous_secret = current, previous
            row.previous_secret_until = datetime(2100, 1, 1, tzinfo=UTC)
            session.add(row)
            await session.commit()
        await world.event(task_created(team_id, "read as written"))
        await eventually(lambda: len(receiver.accepted()) == 1)
        verify(receiver.accepted()[0], [current, previous])
        assert await stored_secrets(world) == [current, previous]
    async with started(settings, tmp_path) as again:
        stored = await stored_secrets(again)
        assert len(stored) == 2 and not any(value.startswith("whsec_") for value in stored)
        await again.event(task_created(team_id, "sealed"))
        await eventually(lambda: len(receiver.accepted()) == 2)
        verify(receiver.accepted()[1], [current, previous])


async def test_a_secret_sealed_with_another_key_is_never_sent_unsigned(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    settings = settings_for(database_url, tmp_path, receiver)
    async with started(settings, tmp_path) as world:
        team_id, leader = await team_with_leader(world)
        endpoint = await register(
            world, team_id, leader, receiver.url, ["taskflow.work.task.created.v1"]
        )
    other = settings.model_copy(
        update={"webhook_secret_key": SecretStr(Fernet.generate_key().decode())}
    )
    async with started(other, tmp_path) as again:
        await again.event(task_created(team_id, "unreadable"))
        base = f"/api/v1/teams/{team_id}/webhooks/{endpoint['id']}/deliveries"
        leader_again = await member(again, "lead2", team_id, [P.WEBHOOKS_MANAGE])

        async def tried() -> dict[str, Any]:
            answer = await again.client.get(base, headers=leader_again["headers"])
            item: dict[str, Any] = answer.json()["items"][0]
            return item

        deadline = asyncio.get_running_loop().time() + 10
        while (await tried())["attempts"] == 0:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        last = await tried()
        assert last["status"] == "pending" and "NOTIFY_WEBHOOK_SECRET_KEY" in last["last_error"]
        assert receiver.all() == []


def test_the_webhook_key_is_refused_as_the_placeholder_or_missing_when_required(
    tmp_path: Path,
) -> None:
    with pytest.raises(SystemExit, match="NOTIFY_WEBHOOK_SECRET_KEY"):
        SecretCipher.load_or_create(data_dir=tmp_path, key="change-me")
    with pytest.raises(SystemExit, match="NOTIFY_REQUIRE_WEBHOOK_SECRET_KEY"):
        SecretCipher.load_or_create(data_dir=tmp_path, require_configured=True)
    key = Fernet.generate_key()
    (tmp_path / "key").write_bytes(key + b"\n")
    from_file = SecretCipher.load_or_create(data_dir=tmp_path, key_file=tmp_path / "key")
    assert SecretCipher(key).open(from_file.seal("whsec_x")) == "whsec_x"
    assert not (tmp_path / "keys").exists()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
async def hooks_anywhere(
    request: pytest.FixtureRequest, tmp_path: Path, receiver: Receiver
) -> AsyncIterator[World]:
    async with (
        fresh_database(request.param, tmp_path, "taskflow_notify_limit") as url,
        started(settings_for(url, tmp_path, receiver), tmp_path) as world,
    ):
        yield world


async def test_the_limit_holds_for_creations_at_the_same_instant(
    hooks_anywhere: World, receiver: Receiver
) -> None:
    """Thirty creations at once, from two managers: twenty endpoints, the others 409, none
    failing otherwise (the team's row is taken first, so they count one after the other)."""
    hooks = hooks_anywhere
    team_id, leader = await team_with_leader(hooks)
    other = await member(hooks, "ops", team_id, [P.WEBHOOKS_MANAGE])
    base = f"/api/v1/teams/{team_id}/webhooks"
    body = {"url": receiver.url, "event_types": ["*"]}
    answers = await asyncio.gather(
        *(
            hooks.client.post(base, json=body, headers=(leader, other)[n % 2]["headers"])
            for n in range(30)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 20 + [409] * 10, statuses
    assert all(a.json()["type"].endswith("/webhook-limit") for a in answers if a.status_code == 409)
    listed = await hooks.client.get(base, headers=leader["headers"])
    assert len(listed.json()["items"]) == 20

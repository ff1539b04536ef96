"""The security audit log: each event kind recorded once (a redelivery adds nothing), who
sees which log, its filters and pages, and the retention purge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_contracts import auth
from taskflow_contracts.base import EventPayload
from taskflow_teams.audit.models import AuditEntry, AuditKind
from taskflow_teams.audit.scheduled import AuditPurge
from taskflow_teams.config import TeamsSettings

TEAM_KINDS = {
    "member.joined",
    "member.role_changed",
    "member.removed",
    "role.updated",
    "invitation.accepted",
}


async def entry_count(world: Any) -> int:
    async with world.app.state.database.session() as session:
        return int((await session.execute(select(func.count()).select_from(AuditEntry))).scalar())


async def entries(world: Any, path: str, headers: dict[str, str], **params: Any) -> list[Any]:
    response = await world.client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def auth_facts(user_id: uuid.UUID) -> list[EventPayload]:
    token_id = uuid.uuid4()
    return [
        auth.LoginSucceeded(
            user_id=user_id, username="ann", address="203.0.113.7", user_agent="Firefox/140"
        ),
        auth.LoginFailed(
            login="ann", user_id=user_id, address="198.51.100.9", reason="wrong-password"
        ),
        auth.PasswordChanged(user_id=user_id, how="changed", address="203.0.113.7"),
        auth.EmailChanged(user_id=user_id, old_email="ann@example.com", new_email="a@example.com"),
        auth.ApiTokenCreated(
            token_id=token_id,
            user_id=user_id,
            name="ci",
            scopes=["tasks.update"],
            team_id=None,
            expires_at=datetime(2027, 6, 1, tzinfo=UTC),
        ),
        auth.ApiTokenRevoked(token_id=token_id, user_id=user_id),
        # A refresh family signed out (not the user's every token: the test's stay good).
        auth.TokensRevoked(
            scope="family",
            key=str(uuid.uuid4()),
            user_id=user_id,
            expires_at=datetime(2027, 1, 1, tzinfo=UTC),
        ),
    ]


async def test_each_auth_kind_is_recorded_once(world: Any) -> None:
    ann = await world.person("ann")
    sent: list[CloudEvent] = []
    for payload in auth_facts(ann.user_id):
        sent.append(await world.auth_event(payload))
    assert await entry_count(world) == 7
    # Every event again (a redelivery), twice: nothing new.
    for event in sent + sent:
        await world.bus.publish(event)
    await world.settle()
    assert await entry_count(world) == 7
    mine = await entries(world, "/api/v1/audit", ann.headers)
    assert sorted(e["kind"] for e in mine) == sorted(
        [
            "login.succeeded",
            "login.failed",
            "password.changed",
            "email.changed",
            "api_token.created",
            "api_token.revoked",
            "sessions.revoked",
        ]
    )
    by_kind = {e["kind"]: e for e in mine}
    login = by_kind["login.succeeded"]
    assert login["address"] == "203.0.113.7" and login["user_agent"] == "Firefox/140"
    assert login["actor"]["username"] == "ann" and login["subject_id"] == str(ann.user_id)
    failed = by_kind["login.failed"]
    assert failed["actor_id"] is None and failed["details"] == {
        "login": "ann",
        "reason": "wrong-password",
    }
    assert by_kind["api_token.created"]["details"]["scopes"] == ["tasks.update"]
    assert by_kind["api_token.revoked"]["object_id"] == by_kind["api_token.created"]["object_id"]
    assert by_kind["sessions.revoked"]["details"] == {"scope": "family"}
    # Newest first: the order the events happened in, reversed.
    assert mine[0]["kind"] == "sessions.revoked"
    assert await world.bus.dead_letters("teams") == []


async def test_a_token_restricted_to_a_team_shows_in_its_log(world: Any) -> None:
    leader = await world.person("lea")
    team = await world.team(leader)
    token_id = uuid.uuid4()
    await world.auth_event(
        auth.ApiTokenCreated(
            token_id=token_id,
            user_id=leader.user_id,
            name="deploy",
            scopes=["tasks.create"],
            team_id=uuid.UUID(team["id"]),
            expires_at=datetime(2027, 6, 1, tzinfo=UTC),
        )
    )
    # The revocation does not name the team: the log finds it from the creation.
    await world.auth_event(auth.ApiTokenRevoked(token_id=token_id, user_id=leader.user_id))
    log = await entries(
        world,
        f"/api/v1/teams/{team['id']}/audit",
        leader.headers,
        kind=["api_token.created", "api_token.revoked"],
    )
    assert [e["kind"] for e in log] == ["api_token.revoked", "api_token.created"]
    assert all(e["team_id"] == team["id"] for e in log)


async def test_an_outsiders_token_naming_a_team_stays_out_of_its_log(world: Any) -> None:
    """Auth cannot check membership when a token names a team: the log checks, so no one
    outside a team writes (free text, as a token's name) into that team's log."""
    leader = await world.person("lea")
    team = await world.team(leader)
    mallory = await world.person("mallory")
    token_id = uuid.uuid4()
    await world.auth_event(
        auth.ApiTokenCreated(
            token_id=token_id,
            user_id=mallory.user_id,
            name="Lea granted Owner to mallory (approved)",
            scopes=["tasks.read"],
            team_id=uuid.UUID(team["id"]),
            expires_at=datetime(2027, 6, 1, tzinfo=UTC),
        )
    )
    await world.auth_event(auth.ApiTokenRevoked(token_id=token_id, user_id=mallory.user_id))
    log = await entries(world, f"/api/v1/teams/{team['id']}/audit", leader.headers)
    assert not [e for e in log if str(mallory.user_id) in (e["actor_id"], e["subject_id"])]
    # Mallory's own log still has both, as personal entries.
    own = await entries(world, "/api/v1/audit", mallory.headers, kind=["api_token.created"])
    assert [(e["kind"], e["team_id"]) for e in own] == [("api_token.created", None)]


async def test_team_facts_are_recorded_once_with_their_actor(world: Any) -> None:
    leader = await world.person("lea")
    team = await world.team(leader)
    team_id = team["id"]
    dev = await world.join(team_id, leader, "Developer", name="dev")
    roles = await world.roles(team_id, leader.headers)
    changed = await world.client.patch(
        f"/api/v1/teams/{team_id}/members/{dev.user_id}",
        headers=leader.headers,
        json={"role_id": roles["Reviewer"]},
    )
    assert changed.status_code == 200, changed.text
    created = await world.client.post(
        f"/api/v1/teams/{team_id}/roles",
        headers=leader.headers,
        json={"name": "Auditor", "permissions": ["audit.read"]},
    )
    assert created.status_code == 201, created.text
    left = await world.client.delete(
        f"/api/v1/teams/{team_id}/members/{dev.user_id}", headers=dev.headers
    )
    assert left.status_code == 204, left.text
    await world.settle()
    count = await entry_count(world)
    # Every event teams published, again: nothing new.
    for event in list(world.published):
        await world.bus.publish(event)
    await world.settle()
    assert await entry_count(world) == count

    log = await entries(world, f"/api/v1/teams/{team_id}/audit", leader.headers)
    seen = [(e["kind"], e["actor_id"], e["subject_id"]) for e in log]
    lea, dev_id = str(leader.user_id), str(dev.user_id)
    assert seen == [
        ("member.removed", dev_id, dev_id),
        ("role.updated", lea, None),
        ("member.role_changed", lea, dev_id),
        ("invitation.accepted", dev_id, dev_id),
        ("member.joined", dev_id, dev_id),
        ("member.joined", lea, lea),
    ]
    by_kind = {e["kind"]: e for e in log}
    assert by_kind["member.role_changed"]["details"] == {
        "role_name": "Reviewer",
        "previous_role_name": "Developer",
    }
    assert by_kind["member.removed"]["details"] == {"left": True}
    assert by_kind["invitation.accepted"]["details"]["invited_by"] == lea
    assert by_kind["role.updated"]["details"] == {"name": "Auditor", "permissions": ["audit.read"]}
    # The one who left still sees what concerned them, in their own log.
    own = await entries(world, "/api/v1/audit", dev.headers)
    assert {e["kind"] for e in own} == {
        "member.removed",
        "member.role_changed",
        "invitation.accepted",
        "member.joined",
    }


async def test_who_sees_which_log(world: Any) -> None:
    leader = await world.person("lea")
    team = await world.team(leader)
    team_id = team["id"]
    dev = await world.join(team_id, leader, "Developer", name="dev")
    outsider = await world.person("out")
    await world.auth_event(
        auth.LoginSucceeded(user_id=leader.user_id, username="lea", address="192.0.2.1")
    )
    path = f"/api/v1/teams/{team_id}/audit"
    # An outsider learns nothing of the team; a member without audit.read is refused.
    hidden = await world.client.get(path, headers=outsider.headers)
    assert hidden.status_code == 404 and hidden.headers["content-type"].startswith(
        "application/problem+json"
    )
    refused = await world.client.get(path, headers=dev.headers)
    assert refused.status_code == 403 and refused.json()["type"].endswith("permission-required")
    # Personal entries (a log-in) stay out of the team's log; the leader sees theirs.
    team_log = await entries(world, path, leader.headers)
    assert "login.succeeded" not in {e["kind"] for e in team_log}
    own = await entries(world, "/api/v1/audit", leader.headers)
    assert "login.succeeded" in {e["kind"] for e in own}
    # Each person's own log holds only what they did or what concerned them.
    assert await entries(world, "/api/v1/audit", outsider.headers) == []
    for entry in await entries(world, "/api/v1/audit", dev.headers):
        assert str(dev.user_id) in {entry["actor_id"], entry["subject_id"]}
    # A custom role granting audit.read opens the team's log.
    roles = await world.roles(team_id, leader.headers)
    created = await world.client.post(
        f"/api/v1/teams/{team_id}/roles",
        headers=leader.headers,
        json={"name": "Auditor", "permissions": ["audit.read"]},
    )
    assert created.status_code == 201, created.text
    given = await world.client.patch(
        f"/api/v1/teams/{team_id}/members/{dev.user_id}",
        headers=leader.headers,
        json={"role_id": created.json()["id"]},
    )
    assert given.status_code == 200, given.text
    assert roles["Developer"] != created.json()["id"]
    assert (await world.client.get(path, headers=dev.headers)).status_code == 200
    # No token at all: 401.
    assert (await world.client.get("/api/v1/audit")).status_code == 401


async def test_filters_and_pages(world: Any) -> None:
    ann = await world.person("ann")
    other = uuid.uuid4()
    for n in range(5):
        await world.auth_event(
            auth.LoginSucceeded(user_id=ann.user_id, username="ann", address=f"192.0.2.{n}")
        )
    for _ in range(2):
        await world.auth_event(auth.LoginFailed(login="ann", user_id=ann.user_id, reason="x"))
    await world.auth_event(auth.PasswordChanged(user_id=ann.user_id, how="reset"))
    # Someone else's entry never shows.
    await world.auth_event(auth.LoginSucceeded(user_id=other, username="zed"))

    everything = await entries(world, "/api/v1/audit", ann.headers)
    assert len(everything) == 8
    failed = await entries(world, "/api/v1/audit", ann.headers, kind="login.failed")
    assert len(failed) == 2
    either = await entries(
        world, "/api/v1/audit", ann.headers, kind=["login.failed", "password.changed"]
    )
    assert {e["kind"] for e in either} == {"login.failed", "password.changed"}
    assert len(either) == 3
    by_ann = await entries(world, "/api/v1/audit", ann.headers, actor=str(ann.user_id))
    assert len(by_ann) == 6  # failed log-ins have no known actor
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert await entries(world, "/api/v1/audit", ann.headers, since=future) == []
    today = datetime.now(UTC).date().isoformat()
    assert len(await entries(world, "/api/v1/audit", ann.headers, since=today, until=today)) == 8

    # Pages of three, newest first, each entry once.
    pages: list[Any] = []
    params: dict[str, Any] = {"limit": 3, "kind": "login.succeeded"}
    while True:
        response = await world.client.get("/api/v1/audit", headers=ann.headers, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert [len(p) for p in pages] == [3, 2]
    seen = [e["id"] for p in pages for e in p]
    assert len(set(seen)) == 5
    times = [e["occurred_at"] for p in pages for e in p]
    assert times == sorted(times, reverse=True)

    # A cursor under other filters is refused, as are bad values (problem documents).
    first = await world.client.get(
        "/api/v1/audit", headers=ann.headers, params={"limit": 3, "kind": "login.succeeded"}
    )
    cursor = first.json()["next_cursor"]
    refused = await world.client.get(
        "/api/v1/audit",
        headers=ann.headers,
        params={"limit": 3, "kind": "login.failed", "cursor": cursor},
    )
    assert refused.status_code == 400 and refused.json()["type"].endswith("invalid-cursor")
    for bad, status in [
        ({"kind": "coffee.made"}, 422),
        ({"actor": "nobody"}, 422),
        ({"since": "yesterday"}, 422),
        ({"since": "2026-11-02", "until": "2026-11-01"}, 422),
        ({"limit": 0}, 422),
        ({"cursor": "!!!"}, 400),
        ({"order": "asc"}, 400),
        ({"actor": [str(ann.user_id), str(other)]}, 400),
    ]:
        response = await world.client.get("/api/v1/audit", headers=ann.headers, params=bad)
        assert response.status_code == status, (bad, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_retention_purges_old_entries_in_batches(world: Any, tmp_path: Any) -> None:
    ann = await world.person("ann")
    now = datetime.now(UTC)
    for days in (400, 380, 366, 10, 0):
        payload = auth.LoginSucceeded(user_id=ann.user_id, username="ann")
        event = new_event(payload.event_type, source="/taskflow/auth", data=payload)
        await world.bus.publish(event.model_copy(update={"time": now - timedelta(days=days)}))
    await world.settle()
    assert await entry_count(world) == 5
    settings = TeamsSettings(
        data_dir=tmp_path, audit_retention_days=365, audit_purge_batch=2, database_url="x"
    )
    purge = AuditPurge(world.app.state.database, world.app.state.publisher, settings)
    assert await purge.run_once(now) == 3
    assert await purge.run_once(now) == 0
    left = await entries(world, "/api/v1/audit", ann.headers)
    assert len(left) == 2
    assert all(datetime.fromisoformat(e["occurred_at"]) > now - timedelta(days=365) for e in left)
    # The job the app started runs the same purge on the app's clock and settings.
    assert isinstance(world.app.state.audit_purge, AuditPurge)
    assert world.app.state.audit_purge.retention == timedelta(days=365)


def test_every_kind_has_a_handler() -> None:
    from taskflow_teams.audit import messaging

    handled = {name for name in dir(messaging) if name.startswith("on_")}
    assert len(handled) == len(AuditKind)
    assert {str(kind) for kind in AuditKind} >= TEAM_KINDS

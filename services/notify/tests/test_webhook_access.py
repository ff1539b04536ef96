"""Who a team's webhooks answer to (findings of the attack review of issue 21): an endpoint
whose creator left the team or lost webhooks.manage is disabled, a personal API token
subscribes an endpoint only to what its scopes read, and a refused address says nothing
of what a name resolves to."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from taskflow_chassis.testing import check_problem
from taskflow_contracts import permissions as P
from taskflow_contracts import teams
from taskflow_notify.webhooks import rules
from taskflow_notify.webhooks.adapters import WebhookPoster

from .conftest import World, text_of
from .test_webhooks import (
    eventually,
    hooks,  # noqa: F401 (a fixture)
    member,
    receiver,  # noqa: F401 (a fixture)
    register,
    settings_for,
    started,
    task_created,
    team_with_leader,
)
from .webhook_receiver import Receiver

TASK_CREATED = "taskflow.work.task.created.v1"
COMMENT_CREATED = "taskflow.work.comment.created.v1"
MEMBER_JOINED = "taskflow.teams.member.joined.v1"


async def endpoint_of(world: World, person: dict[str, Any], endpoint: dict[str, Any]) -> Any:
    url = f"/api/v1/teams/{endpoint['team_id']}/webhooks/{endpoint['id']}"
    response = await world.client.get(url, headers=person["headers"])
    assert response.status_code == 200, response.text
    return response.json()


async def deliveries_of(world: World, person: dict[str, Any], endpoint: dict[str, Any]) -> Any:
    url = f"/api/v1/teams/{endpoint['team_id']}/webhooks/{endpoint['id']}/deliveries"
    response = await world.client.get(url, headers=person["headers"])
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_removed_creators_endpoint_is_disabled_and_a_leader_takes_it_back(
    hooks: World,  # noqa: F811
    receiver: Receiver,  # noqa: F811
) -> None:
    team_id, leader = await team_with_leader(hooks)
    rogue = await member(hooks, "rogue", team_id, [P.WEBHOOKS_MANAGE])
    endpoint = await register(hooks, team_id, rogue, receiver.url, ["*"])
    assert endpoint["created_by"] == str(rogue["id"])
    # A delivery still being retried when the creator goes: it stops.
    receiver.fail_first = 10**6
    waiting = await hooks.event(task_created(team_id, "retried while rogue leaves"))
    await eventually(lambda: len(receiver.all()) >= 1)
    await hooks.event(
        teams.MemberRemoved(team_id=team_id, user_id=rogue["id"], actor_id=leader["id"])
    )
    receiver.fail_first = 0
    await hooks.event(task_created(team_id, "Secret roadmap item after rogue left"))
    read = await endpoint_of(hooks, leader, endpoint)
    assert read["enabled"] is False and read["created_by"] == str(rogue["id"])
    assert "Rogue" in read["disabled_reason"] and "left the team" in read["disabled_reason"]
    by_event = {d["event_id"]: d for d in await deliveries_of(hooks, leader, endpoint)}
    # Nothing written for the disabled endpoint (the removal's own event included).
    assert set(by_event) == {waiting.id}
    assert by_event[waiting.id]["status"] == "failed"
    assert "disabled" in by_event[waiting.id]["last_error"]
    await asyncio.sleep(0.5)  # several sweeps of the delivery loop
    assert receiver.accepted() == []
    # The managers are told which endpoint and why; the one who left is not.
    await hooks.settle()
    mails = [m for m in hooks.emails() if "creator lost access" in str(m["Subject"])]
    assert [m["To"] for m in mails] == [leader["email"]]
    assert receiver.url in text_of(mails[0]) and "left the team" in text_of(mails[0])
    # A leader enabling it again answers for it: what comes after goes, what stopped does not.
    url = f"/api/v1/teams/{team_id}/webhooks/{endpoint['id']}"
    again = await hooks.client.patch(url, json={"enabled": True}, headers=leader["headers"])
    assert again.status_code == 200, again.text
    assert (
        again.json()["created_by"] == str(leader["id"]) and again.json()["disabled_reason"] is None
    )
    after = await hooks.event(task_created(team_id, "after the leader took it back"))
    await eventually(lambda: [r.event["id"] for r in receiver.accepted()] == [after.id])
    await asyncio.sleep(0.3)
    assert [r.event["id"] for r in receiver.accepted()] == [after.id]


async def test_losing_webhooks_manage_disables_only_the_creators_endpoints(
    hooks: World,  # noqa: F811
    receiver: Receiver,  # noqa: F811
) -> None:
    team_id, leader = await team_with_leader(hooks)
    ops_role, ci_role = uuid.uuid4(), uuid.uuid4()
    people = {}
    for name, role in (("ops", ops_role), ("ci", ci_role)):
        person = await hooks.person(name)
        await hooks.event(
            teams.MemberJoined(
                team_id=team_id,
                user_id=person["id"],
                role_id=role,
                role_name=name,
                permissions=[P.WEBHOOKS_MANAGE, P.TASKS_CREATE],
            )
        )
        people[name] = person
    ops = await register(hooks, team_id, people["ops"], receiver.url, ["*"])
    ci = await register(hooks, team_id, people["ci"], receiver.url, ["*"])
    kept = await register(hooks, team_id, leader, receiver.url, ["*"])
    # ops is given a role without webhooks.manage: only ops's endpoint goes, and the event
    # that took the permission is not sent to it.
    changed = await hooks.event(
        teams.MemberRoleChanged(
            team_id=team_id,
            user_id=people["ops"]["id"],
            role_id=uuid.uuid4(),
            role_name="Viewer",
            permissions=[P.TASKS_CREATE],
            actor_id=leader["id"],
        )
    )
    read = await endpoint_of(hooks, leader, ops)
    assert read["enabled"] is False and "webhooks.manage" in read["disabled_reason"]
    assert (await endpoint_of(hooks, leader, ci))["enabled"] is True
    assert changed.id not in {d["event_id"] for d in await deliveries_of(hooks, leader, ops)}
    assert changed.id in {d["event_id"] for d in await deliveries_of(hooks, leader, kept)}
    # ci's role loses it: ci's endpoint goes too; the leader's stays.
    await hooks.event(
        teams.RoleUpdated(team_id=team_id, role_id=ci_role, name="ci", permissions=[P.TASKS_CREATE])
    )
    assert (await endpoint_of(hooks, leader, ci))["enabled"] is False
    assert (await endpoint_of(hooks, leader, kept))["enabled"] is True
    await hooks.settle()
    mails = [m for m in hooks.emails() if "creator lost access" in str(m["Subject"])]
    # ops's to both managers then (ci still was one), ci's to the leader alone.
    assert sorted(m["To"] for m in mails) == [people["ci"]["email"], *[leader["email"]] * 2]
    # Without webhooks.manage, ops cannot enable it again.
    url = f"/api/v1/teams/{team_id}/webhooks/{ops['id']}"
    refused = await hooks.client.patch(
        url, json={"enabled": True}, headers=people["ops"]["headers"]
    )
    check_problem(refused, 403)


def api_token(world: World, person: dict[str, Any], team_id: uuid.UUID, scopes: list[str]) -> Any:
    token = world.tokens.access_token(person["id"], type="api", scp=scopes, team=str(team_id))
    return {"Authorization": f"Bearer tfp_{token}"}


async def test_a_token_subscribes_only_to_what_its_scopes_read(
    hooks: World,  # noqa: F811
    receiver: Receiver,  # noqa: F811
) -> None:
    hooks.app.state.revocations.complete = True  # auth's list loaded (no auth here)
    team_id, leader = await team_with_leader(hooks)
    base = f"/api/v1/teams/{team_id}/webhooks"
    manage_only = api_token(hooks, leader, team_id, [P.WEBHOOKS_MANAGE])
    for types, missing in (
        (["*"], [P.COMMENTS_READ, P.PROJECTS_READ, P.TASKS_READ, P.TEAMS_READ]),
        ([TASK_CREATED], [P.TASKS_READ]),
        ([COMMENT_CREATED], [P.COMMENTS_READ]),
        ([MEMBER_JOINED, TASK_CREATED], [P.TASKS_READ, P.TEAMS_READ]),
    ):
        refused = await hooks.client.post(
            base, json={"url": receiver.url, "event_types": types}, headers=manage_only
        )
        problem = check_problem(refused, 403)
        assert problem["type"].endswith("insufficient-scope") and problem["scopes"] == missing
        assert all(scope in problem["detail"] for scope in missing)
    await hooks.event(task_created(team_id, "Acquire competitor X (confidential)"))
    assert (await hooks.client.get(base, headers=leader["headers"])).json()["items"] == []
    # With tasks.read, task events; changing to every type, or re-pointing it, needs the rest.
    tasks_token = api_token(hooks, leader, team_id, [P.WEBHOOKS_MANAGE, P.TASKS_READ])
    created = await hooks.client.post(
        base, json={"url": receiver.url, "event_types": [TASK_CREATED]}, headers=tasks_token
    )
    assert created.status_code == 201, created.text
    one = f"{base}/{created.json()['id']}"
    widened = await hooks.client.patch(one, json={"event_types": ["*"]}, headers=tasks_token)
    assert check_problem(widened, 403)["scopes"] == [P.COMMENTS_READ, P.PROJECTS_READ, P.TEAMS_READ]
    moved = await hooks.client.patch(one, json={"url": receiver.url}, headers=manage_only)
    assert check_problem(moved, 403)["scopes"] == [P.TASKS_READ]
    # Its description and disabling it need no read scope; enabling it again does.
    for change in ({"description": "CI"}, {"enabled": False}):
        answer = await hooks.client.patch(one, json=change, headers=manage_only)
        assert answer.status_code == 200, answer.text
    enabled = await hooks.client.patch(one, json={"enabled": True}, headers=manage_only)
    check_problem(enabled, 403)
    # A session reads everything of its team: every type.
    await register(hooks, team_id, leader, receiver.url, ["*"])


GENERIC = f"Webhooks are not sent there: {rules.REFUSED_ADDRESS}."


async def test_a_refused_address_tells_nothing_of_what_a_name_resolves_to(
    tmp_path: Path,
    database_url: str,
    receiver: Receiver,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(database_url, tmp_path, receiver, webhook_allowed_networks=[])
    async with started(settings, tmp_path) as world:
        team_id, leader = await team_with_leader(world)
        caplog.set_level(logging.INFO, logger="taskflow.notify.webhooks")
        for url, logged in (
            ("https://localhost/hook", "loopback"),
            ("https://does-not-exist.invalid/hook", "could not be resolved"),
            ("https://[fec0::1]/hook", "global unicast"),
        ):
            refused = await world.client.post(
                f"/api/v1/teams/{team_id}/webhooks",
                json={"url": url, "event_types": ["*"]},
                headers=leader["headers"],
            )
            problem = check_problem(refused, 422)
            assert problem["detail"] == GENERIC
            assert problem["errors"][0]["msg"] == GENERIC
            assert logged in caplog.text  # the reason is the operator's
    poster = WebhookPoster()
    try:
        answer = await poster.post("https://localhost/hook", b"{}", {})
        assert answer.error == f"refused: {rules.REFUSED_ADDRESS}"
    finally:
        await poster.close()


@pytest.mark.parametrize(
    "address",
    [
        "fec0::1",  # site-local (deprecated, still routed in places)
        "feff:ffff::1",
        "fc00::1",  # unique local
        "100::1",  # discard-only
        "::1",
        "::",
        "ff02::1",
        "2001:db8::1",  # documentation, inside 2000::/3
        "4000::1",  # outside global unicast, unassigned
        "::ffff:127.0.0.1",
    ],
)
def test_ipv6_is_posted_to_only_in_global_unicast(address: str) -> None:
    assert rules.refusal(ipaddress.ip_address(address)) is not None


def test_public_ipv6_and_the_allowed_networks_still_pass() -> None:
    assert rules.refusal(ipaddress.ip_address("2606:4700:4700::1111")) is None
    assert rules.refusal(ipaddress.ip_address("::ffff:1.1.1.1")) is None
    allowed = (ipaddress.ip_network("fec0::/10"),)
    assert rules.refusal(ipaddress.ip_address("fec0::1"), allowed) is None


def test_every_webhook_event_needs_a_read_scope_of_the_catalogue() -> None:
    assert set(rules.EVENT_READ_SCOPES.values()) <= P.ALL_SCOPES
    assert rules.missing_read_scopes([TASK_CREATED], frozenset({P.TASKS_READ})) == []
    assert rules.missing_read_scopes(["*"], P.ALL_SCOPES) == []


# --- a team's events out of order (a retry queue, a dead-letter replay) -------------------
# Teams numbers a team's membership events (team_seq); a role's edit and a member's join,
# role change or removal may reach notify in any order, and end as teams has them.

DEVELOPER = sorted(P.BUILT_IN_ROLES[P.DEVELOPER])


async def _given_role(
    world: World,
    team_id: uuid.UUID,
    person: Any,
    role: uuid.UUID,
    permissions: list[str],
    seq: int,
    *,
    joined: bool = False,
) -> None:
    event = teams.MemberJoined if joined else teams.MemberRoleChanged
    await world.event(
        event(
            team_id=team_id,
            user_id=person["id"],
            role_id=role,
            role_name="Some role",
            permissions=permissions,
            team_seq=seq,
        )
    )


async def _role_edited(
    world: World, team_id: uuid.UUID, role: uuid.UUID, permissions: list[str], seq: int
) -> None:
    await world.event(
        teams.RoleUpdated(
            team_id=team_id, role_id=role, name="Some role", permissions=permissions, team_seq=seq
        )
    )


async def _webhooks_status(world: World, team_id: uuid.UUID, person: Any) -> int:
    url = f"/api/v1/teams/{team_id}/webhooks"
    return (await world.client.get(url, headers=person["headers"])).status_code


async def test_a_role_s_edit_overtaking_an_older_change_to_that_role_is_not_undone(
    world: World,
) -> None:
    """Seq 3 gives the member role R (with webhooks.manage), seq 4 edits R to drop it; 4
    arrives first. The member holds R without webhooks.manage, as in teams."""
    team_id, role_r = uuid.uuid4(), uuid.uuid4()
    mallory = await world.person("mallory")
    await _given_role(world, team_id, mallory, uuid.uuid4(), DEVELOPER, 2, joined=True)
    assert await _webhooks_status(world, team_id, mallory) == 403
    await _role_edited(world, team_id, role_r, [P.TASKS_CREATE], 4)
    await _given_role(world, team_id, mallory, role_r, [P.TASKS_CREATE, P.WEBHOOKS_MANAGE], 3)
    assert await _webhooks_status(world, team_id, mallory) == 403
    created = await world.client.post(
        f"/api/v1/teams/{team_id}/webhooks",
        json={"url": "https://attacker.example/hook", "event_types": ["*"]},
        headers=mallory["headers"],
    )
    check_problem(created, 403)
    # A later edit, in order, still reaches the member.
    await _role_edited(world, team_id, role_r, [P.WEBHOOKS_MANAGE], 5)
    assert await _webhooks_status(world, team_id, mallory) == 200


async def test_a_removal_arriving_after_a_later_edit_of_the_member_s_role_still_removes(
    world: World,
) -> None:
    """Seq 3 removes the member, seq 4 edits the role they held; 4 arrives first. The edit
    is the role's news, not the member's: the removal still applies (404, a non-member)."""
    team_id, role = uuid.uuid4(), uuid.uuid4()
    gone = await world.person("gone")
    await _given_role(world, team_id, gone, role, [P.WEBHOOKS_MANAGE], 2, joined=True)
    assert await _webhooks_status(world, team_id, gone) == 200
    await _role_edited(world, team_id, role, [P.WEBHOOKS_MANAGE, P.TASKS_CREATE], 4)
    await world.event(teams.MemberRemoved(team_id=team_id, user_id=gone["id"], team_seq=3))
    assert await _webhooks_status(world, team_id, gone) == 404


async def test_a_role_change_arriving_after_a_later_edit_of_the_old_role_still_moves_the_member(
    world: World,
) -> None:
    """Seq 3 moves the member from role A (webhooks.manage) to role B (without), seq 4
    edits A; 4 arrives first. The member ends on B, without webhooks.manage."""
    team_id, role_a, role_b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    moved = await world.person("moved")
    await _given_role(world, team_id, moved, role_a, [P.WEBHOOKS_MANAGE], 2, joined=True)
    await _role_edited(world, team_id, role_a, [P.WEBHOOKS_MANAGE, P.TASKS_CREATE], 4)
    await _given_role(world, team_id, moved, role_b, sorted(P.BUILT_IN_ROLES[P.VIEWER]), 3)
    assert await _webhooks_status(world, team_id, moved) == 403

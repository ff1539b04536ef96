"""Personal API tokens at work: a token kept to one team sees nothing of the others, by any
route, and an ``Idempotency-Key`` answer belongs to the credential that earned it."""

from __future__ import annotations

import uuid
from typing import Any

from taskflow_contracts import permissions as P
from taskflow_contracts import teams
from taskflow_contracts.permissions import BUILT_IN_ROLES

from .conftest import World

INSUFFICIENT = "/problems/insufficient-scope"


def token_headers(
    world: World, user_id: uuid.UUID, scopes: list[str], team: uuid.UUID | None = None
) -> dict[str, str]:
    claims: dict[str, Any] = {"type": "api", "scp": scopes}
    if team is not None:
        claims["team"] = str(team)
    return {"Authorization": "Bearer tfp_" + world.tokens.access_token(user_id, **claims)}


async def leader_of_two_teams(world: World) -> tuple[uuid.UUID, uuid.UUID, Any]:
    team_a, team_b = await world.team("A"), await world.team("B")
    me = await world.member(team_a)
    await world.teams_event(
        teams.MemberJoined(
            team_id=team_b,
            user_id=me.user_id,
            role_id=world.role_id(team_b, "Team Leader"),
            role_name="Team Leader",
            permissions=sorted(BUILT_IN_ROLES["Team Leader"]),
        )
    )
    return team_a, team_b, me


async def test_a_token_kept_to_one_team_lists_no_task_of_another(world: World) -> None:
    team_a, team_b, me = await leader_of_two_teams(world)
    project_b = await world.project(team_b, me)
    await world.task(project_b["id"], me, title="B's confidential task")
    kept_to_a = token_headers(world, me.user_id, [P.TASKS_READ, P.PROJECTS_READ], team_a)
    project = await world.client.get(f"/api/v1/projects/{project_b['id']}", headers=kept_to_a)
    assert project.status_code == 404
    listed = await world.client.get(
        "/api/v1/tasks", params={"project_id": project_b["id"]}, headers=kept_to_a
    )
    assert listed.status_code == 404, listed.json()
    by_team = await world.client.get(
        "/api/v1/tasks", params={"team_id": str(team_b)}, headers=kept_to_a
    )
    assert by_team.status_code == 404
    everything = await world.client.get("/api/v1/tasks", headers=kept_to_a)
    assert everything.status_code == 200
    assert {task["team_id"] for task in everything.json()["items"]} <= {str(team_a)}
    # The same person's session and an unrestricted token see team B's tasks.
    for caller in (me.headers, token_headers(world, me.user_id, [P.TASKS_READ])):
        seen = await world.client.get(
            "/api/v1/tasks", params={"project_id": project_b["id"]}, headers=caller
        )
        assert [t["title"] for t in seen.json()["items"]] == ["B's confidential task"]


async def test_a_bulk_change_naming_another_teams_task_changes_nothing(world: World) -> None:
    team_a, team_b, me = await leader_of_two_teams(world)
    task_a = await world.task((await world.project(team_a, me))["id"], me)
    task_b = await world.task((await world.project(team_b, me))["id"], me)
    kept_to_a = token_headers(world, me.user_id, [P.TASKS_READ, P.TASKS_UPDATE], team_a)
    answer = await world.client.post(
        "/api/v1/tasks/bulk",
        headers=kept_to_a,
        json={"task_ids": [task_a["id"], task_b["id"]], "changes": {"status": "in_progress"}},
    )
    assert answer.status_code == 404
    assert [error["field"] for error in answer.json()["errors"]] == ["task_ids[1]"]
    unchanged = await world.client.get(f"/api/v1/tasks/{task_a['id']}", headers=me.headers)
    assert unchanged.json()["status"] == task_a["status"]


async def test_a_narrow_token_never_gets_the_sessions_stored_answer(world: World) -> None:
    team = await world.team()
    leader = await world.member(team)
    body = {"team_id": str(team), "name": "Secret plans"}
    key = {"Idempotency-Key": "plans-1"}
    first = await world.client.post(
        "/api/v1/projects", headers={**leader.headers, **key}, json=body
    )
    assert first.status_code == 201
    narrow = token_headers(world, leader.user_id, [P.PROFILE_READ])
    for headers in (narrow, {**narrow, **key}):
        refused = await world.client.post("/api/v1/projects", headers=headers, json=body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"] == INSUFFICIENT
        assert "idempotent-replayed" not in refused.headers
    # ... nor does the session get the narrow token's refusal for a key the token used.
    other_key = {"Idempotency-Key": "plans-2"}
    await world.client.post("/api/v1/projects", headers={**narrow, **other_key}, json=body)
    created = await world.client.post(
        "/api/v1/projects", headers={**leader.headers, **other_key}, json=body
    )
    assert created.status_code == 201
    assert "idempotent-replayed" not in created.headers


async def test_a_token_kept_to_another_team_never_gets_a_stored_answer(world: World) -> None:
    team_a, team_b, me = await leader_of_two_teams(world)
    body = {"team_id": str(team_a), "name": "A's plans"}
    key = {"Idempotency-Key": "a-plans"}
    wide = token_headers(world, me.user_id, [P.PROJECTS_CREATE])
    first = await world.client.post("/api/v1/projects", headers={**wide, **key}, json=body)
    assert first.status_code == 201
    again = await world.client.post("/api/v1/projects", headers={**wide, **key}, json=body)
    assert again.headers["idempotent-replayed"] == "true"  # the same token: its answer
    kept_to_b = token_headers(world, me.user_id, [P.PROJECTS_CREATE], team_b)
    replay = await world.client.post("/api/v1/projects", headers={**kept_to_b, **key}, json=body)
    assert replay.status_code == 404
    assert "idempotent-replayed" not in replay.headers


async def test_an_api_token_spelt_otherwise_is_refused_with_a_key_too(world: World) -> None:
    team = await world.team()
    leader = await world.member(team)
    body = {"team_id": str(team), "name": "x"}
    key = {"Idempotency-Key": "spelling"}
    token = token_headers(world, leader.user_id, [P.PROJECTS_CREATE])["Authorization"]
    first = await world.client.post(
        "/api/v1/projects", headers={"Authorization": token, **key}, json=body
    )
    assert first.status_code == 201
    lowercase = {"Authorization": "bearer " + token.split(" ", 1)[1], **key}
    replay = await world.client.post("/api/v1/projects", headers=lowercase, json=body)
    assert replay.status_code == 401
    assert "idempotent-replayed" not in replay.headers


async def test_api_tokens_wait_until_the_revoked_ones_are_known(world: World) -> None:
    """A process that has not loaded auth's revocations yet (auth away at its start) cannot
    tell a revoked personal API token, which may live a year: 503 until it can. A session's
    access token (minutes) still passes."""
    team = await world.team()
    me = await world.member(team)
    world.app.state.revocations.complete = False
    token = token_headers(world, me.user_id, [P.PROJECTS_READ])
    waiting = await world.client.get("/api/v1/projects", headers=token)
    assert waiting.status_code == 503
    assert waiting.headers["retry-after"] == "5"
    assert waiting.json()["type"] == "/problems/service-unavailable"
    keyed = await world.client.post(
        "/api/v1/projects",
        headers={**token, "Idempotency-Key": "early"},
        json={"team_id": str(team), "name": "x"},
    )
    assert keyed.status_code == 503
    session = await world.client.get("/api/v1/projects", headers=me.headers)
    assert session.status_code == 200
    world.app.state.revocations.complete = True
    assert (await world.client.get("/api/v1/projects", headers=token)).status_code == 200

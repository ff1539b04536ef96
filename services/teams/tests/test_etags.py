"""Entity tags in teams: a team, a member, a role and an invitation carry a strong ETag, the
same from their GET (where there is one) as from the write that answered them, 304 while
current; PATCH and DELETE honour If-Match (412 with the current tag, ``*`` matches, 428
where required); two renames of one team at once on one tag: exactly one wins."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

Headers = dict[str, str]


async def tag_of(client: httpx.AsyncClient, url: str, headers: Headers) -> str:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


def matching(headers: Headers, tag: str) -> Headers:
    return {**headers, "If-Match": tag}


async def test_a_team_is_tagged_and_changed_only_on_its_current_tag(world: Any) -> None:
    lead = await world.person("lead")
    created = await world.client.post("/api/v1/teams", headers=lead.headers, json={"name": "A"})
    url = f"/api/v1/teams/{created.json()['id']}"
    tag = await tag_of(world.client, url, lead.headers)
    assert created.headers["ETag"] == tag
    same = await world.client.get(url, headers={**lead.headers, "If-None-Match": tag})
    assert same.status_code == 304 and same.headers["ETag"] == tag

    renamed = await world.client.patch(url, headers=matching(lead.headers, tag), json={"name": "B"})
    assert renamed.status_code == 200, renamed.text
    new_tag = renamed.headers["ETag"]
    assert new_tag != tag and await tag_of(world.client, url, lead.headers) == new_tag
    stale = await world.client.patch(url, headers=matching(lead.headers, tag), json={"name": "C"})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["etag"] == new_tag and stale.headers["ETag"] == new_tag
    assert (await world.client.get(url, headers=lead.headers)).json()["name"] == "B"

    assert (await world.client.delete(url, headers=matching(lead.headers, tag))).status_code == 412
    assert (await world.client.delete(url, headers=matching(lead.headers, "*"))).status_code == 204


async def test_two_renames_of_one_team_on_one_tag_at_once_one_wins(world: Any) -> None:
    lead = await world.person("lead")
    team = await world.team(lead)
    url = f"/api/v1/teams/{team['id']}"
    for round in range(4):
        tag = await tag_of(world.client, url, lead.headers)
        answers = await asyncio.gather(
            *(
                world.client.patch(
                    url, headers=matching(lead.headers, tag), json={"name": f"R{round}-{i}"}
                )
                for i in range(2)
            )
        )
        assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]
        [winner] = [a for a in answers if a.status_code == 200]
        now = await world.client.get(url, headers=lead.headers)
        assert now.json()["name"] == winner.json()["name"]
        assert now.headers["ETag"] == winner.headers["ETag"]


async def test_a_member_is_tagged_and_changed_only_on_their_current_tag(world: Any) -> None:
    lead = await world.person("lead")
    team = await world.team(lead)
    dev = await world.join(team["id"], lead, "Developer")
    roles = await world.roles(team["id"], lead.headers)
    url = f"/api/v1/teams/{team['id']}/members/{dev.user_id}"
    tag = await tag_of(world.client, url, lead.headers)
    assert await tag_of(world.client, f"/api/v1/teams/{team['id']}/members/me", dev.headers)
    assert (
        await world.client.get(url, headers={**lead.headers, "If-None-Match": tag})
    ).status_code == 304
    moved = await world.client.patch(
        url, headers=matching(lead.headers, tag), json={"role_id": roles["Project Manager"]}
    )
    assert moved.status_code == 200, moved.text
    assert moved.headers["ETag"] == await tag_of(world.client, url, lead.headers)
    stale = await world.client.patch(
        url, headers=matching(lead.headers, tag), json={"role_id": roles["Developer"]}
    )
    assert stale.status_code == 412 and stale.json()["etag"] == moved.headers["ETag"]
    assert (await world.client.delete(url, headers=matching(lead.headers, tag))).status_code == 412
    removed = await world.client.delete(url, headers=matching(lead.headers, moved.headers["ETag"]))
    assert removed.status_code == 204


async def test_a_role_is_tagged_by_its_writes(world: Any) -> None:
    lead = await world.person("lead")
    team = await world.team(lead)
    base = f"/api/v1/teams/{team['id']}/roles"
    created = await world.client.post(
        base, headers=lead.headers, json={"name": "Auditor", "permissions": ["tasks.review"]}
    )
    assert created.status_code == 201, created.text
    url = f"{base}/{created.json()['id']}"
    tag = created.headers["ETag"]
    renamed = await world.client.patch(
        url, headers=matching(lead.headers, tag), json={"name": "Checker"}
    )
    assert renamed.status_code == 200, renamed.text
    stale = await world.client.patch(
        url, headers=matching(lead.headers, tag), json={"name": "Lost"}
    )
    assert stale.status_code == 412 and stale.json()["etag"] == renamed.headers["ETag"]
    assert (await world.client.delete(url, headers=matching(lead.headers, tag))).status_code == 412
    deleted = await world.client.delete(
        url, headers=matching(lead.headers, renamed.headers["ETag"])
    )
    assert deleted.status_code == 204


async def test_an_invitation_is_revoked_only_on_its_current_tag(world: Any) -> None:
    lead = await world.person("lead")
    team = await world.team(lead)
    roles = await world.roles(team["id"], lead.headers)
    sent = await world.client.post(
        f"/api/v1/teams/{team['id']}/invitations",
        headers=lead.headers,
        json={"email": "new@example.com", "role_id": roles["Developer"]},
    )
    assert sent.status_code == 201, sent.text
    url = f"/api/v1/teams/{team['id']}/invitations/{sent.json()['id']}"
    assert (
        await world.client.delete(url, headers=matching(lead.headers, '"stale"'))
    ).status_code == 412
    revoked = await world.client.delete(url, headers=matching(lead.headers, sent.headers["ETag"]))
    assert revoked.status_code == 204


async def test_if_match_required_answers_428(world: Any) -> None:
    lead = await world.person("lead")
    team = await world.team(lead)
    url = f"/api/v1/teams/{team['id']}"
    world.app.state.settings.require_if_match = True
    missing = await world.client.patch(url, headers=lead.headers, json={"name": "X"})
    assert missing.status_code == 428
    assert missing.json()["type"].endswith("/precondition-required")
    assert (await world.client.delete(url, headers=lead.headers)).status_code == 428
    tag = await tag_of(world.client, url, lead.headers)
    ok = await world.client.patch(url, headers=matching(lead.headers, tag), json={"name": "X"})
    assert ok.status_code == 200

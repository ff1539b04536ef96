"""Names beside ids (issue 18): a member and an invitation's inviter are named with their
username and display name (PersonRef, from the replica of auth's people); one member is
read by id, by members of the team only."""

from __future__ import annotations

import uuid
from typing import Any


def ref(person: Any) -> dict[str, Any]:
    """As the conftest's participants are named: the display name is the username titled."""
    return {
        "id": str(person.user_id),
        "username": person.username,
        "display_name": person.username.title(),
    }


async def test_one_member_by_id_with_names(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    bob = await world.join(team["id"], ada, "Developer", "bob")
    url = f"/api/v1/teams/{team['id']}/members"
    got = await world.client.get(f"{url}/{bob.user_id}", headers=ada.headers)
    assert got.status_code == 200, got.text
    member = got.json()
    assert member["user_id"] == str(bob.user_id) and member["role_name"] == "Developer"
    assert member["user"] == ref(bob) and member["username"] == "bob"
    listed = (await world.client.get(url, headers=bob.headers)).json()["items"]
    assert {m["user_id"]: m["user"] for m in listed} == {
        str(ada.user_id): ref(ada),
        str(bob.user_id): ref(bob),
    }
    me = (await world.client.get(f"{url}/me", headers=bob.headers)).json()
    assert me["user"] == ref(bob)

    # Someone not in the team, and a stranger asking: 404, as for no such team.
    carol = await world.person("carol")
    for headers, user_id in (
        (ada.headers, carol.user_id),
        (ada.headers, uuid.uuid4()),
        (carol.headers, bob.user_id),
    ):
        missing = await world.client.get(f"{url}/{user_id}", headers=headers)
        assert missing.status_code == 404, missing.text
        assert missing.headers["content-type"].startswith("application/problem+json")
    bad = await world.client.get(f"{url}/not-a-uuid", headers=ada.headers)
    assert bad.status_code == 422
    assert (await world.client.get(f"{url}/{bob.user_id}")).status_code == 401


async def test_invitations_name_the_inviter(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    roles = await world.roles(team["id"], ada.headers)
    dan = await world.person("dan")
    invitation, token = await world.invite(team["id"], ada, dan.email, roles["Viewer"])
    assert invitation["invited_by"] == str(ada.user_id) and invitation["inviter"] == ref(ada)
    listed = await world.client.get(f"/api/v1/teams/{team['id']}/invitations", headers=ada.headers)
    mine = await world.client.get("/api/v1/invitations", headers=dan.headers)
    assert listed.json()["items"][0]["inviter"] == mine.json()["items"][0]["inviter"] == ref(ada)
    accepted = await world.client.post(
        "/api/v1/invitations/accept", headers=dan.headers, json={"token": token}
    )
    assert accepted.json()["inviter"] == ref(ada)

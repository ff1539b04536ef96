"""The invitation lifecycle and every way of misusing it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col
from taskflow_contracts import auth
from taskflow_teams.teams.models import Invitation

ACCEPT = "/api/v1/invitations/accept"
DECLINE = "/api/v1/invitations/decline"


async def setup(world: Any) -> tuple[Any, dict[str, Any], dict[str, str]]:
    leader = await world.person("lea")
    team = await world.team(leader)
    return leader, team, await world.roles(team["id"], leader.headers)


async def test_invite_accept_joins_with_the_role(world: Any) -> None:
    leader, team, roles = await setup(world)
    dev = await world.person("dev")
    invitation, token = await world.invite(
        team["id"], leader, "DEV@example.com", roles["Developer"]
    )
    assert invitation["status"] == "pending" and invitation["email"] == "dev@example.com"
    assert "token" not in invitation
    mine = (await world.client.get("/api/v1/invitations", headers=dev.headers)).json()["items"]
    assert [(i["team_name"], i["role_name"]) for i in mine] == [("Platform", "Developer")]
    accepted = await world.client.post(ACCEPT, headers=dev.headers, json={"token": token})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    me = (
        await world.client.get(f"/api/v1/teams/{team['id']}/members/me", headers=dev.headers)
    ).json()
    assert me["role_name"] == "Developer"
    assert (await world.client.get("/api/v1/invitations", headers=dev.headers)).json()[
        "items"
    ] == []
    await world.settle()
    [created] = world.of_type("taskflow.teams.invitation.created.v1")
    assert created.data["accept_url"].startswith(
        "https://taskflow.example/invitations/accept?token="
    )
    assert created.data["team_name"] == "Platform" and created.data["role_name"] == "Developer"
    [accepted_event] = world.of_type("taskflow.teams.invitation.accepted.v1")
    assert accepted_event.data["user_id"] == str(dev.user_id)
    joined = [e.data["user_id"] for e in world.of_type("taskflow.teams.member.joined.v1")]
    assert str(dev.user_id) in joined


async def test_token_is_stored_only_as_a_hash(world: Any) -> None:
    leader, team, roles = await setup(world)
    _, token = await world.invite(team["id"], leader, "x@example.com", roles["Viewer"])
    async with world.app.state.database.session() as session:
        stored = (await session.execute(select(col(Invitation.token_hash)))).scalar_one()
    assert token not in stored and len(stored) == 64


async def test_accept_by_the_wrong_user_is_refused(world: Any) -> None:
    leader, team, roles = await setup(world)
    await world.person("dev")
    intruder = await world.person("eve")
    _, token = await world.invite(team["id"], leader, "dev@example.com", roles["Developer"])
    response = await world.client.post(ACCEPT, headers=intruder.headers, json={"token": token})
    assert response.status_code == 403
    assert (
        await world.client.get(f"/api/v1/teams/{team['id']}", headers=intruder.headers)
    ).status_code == 404
    assert (
        await world.client.post(DECLINE, headers=intruder.headers, json={"token": token})
    ).status_code == 403


async def test_accept_twice(world: Any) -> None:
    leader, team, roles = await setup(world)
    dev = await world.person("dev")
    _, token = await world.invite(team["id"], leader, dev.email, roles["Developer"])
    assert (
        await world.client.post(ACCEPT, headers=dev.headers, json={"token": token})
    ).status_code == 200
    again = await world.client.post(ACCEPT, headers=dev.headers, json={"token": token})
    assert again.status_code == 409 and again.json()["type"].endswith("invitation-accepted")


async def test_accept_after_revoke(world: Any) -> None:
    leader, team, roles = await setup(world)
    dev = await world.person("dev")
    invitation, token = await world.invite(team["id"], leader, dev.email, roles["Developer"])
    revoked = await world.client.delete(
        f"/api/v1/teams/{team['id']}/invitations/{invitation['id']}", headers=leader.headers
    )
    assert revoked.status_code == 204
    response = await world.client.post(ACCEPT, headers=dev.headers, json={"token": token})
    assert response.status_code == 409 and response.json()["type"].endswith("invitation-revoked")
    assert (
        await world.client.get(f"/api/v1/teams/{team['id']}", headers=dev.headers)
    ).status_code == 404
    await world.settle()
    assert [
        e.data["invitation_id"] for e in world.of_type("taskflow.teams.invitation.revoked.v1")
    ] == [invitation["id"]]


async def test_resend_kills_the_old_token(world: Any) -> None:
    leader, team, roles = await setup(world)
    dev = await world.person("dev")
    invitation, old = await world.invite(team["id"], leader, dev.email, roles["Developer"])
    resent = await world.client.post(
        f"/api/v1/teams/{team['id']}/invitations/{invitation['id']}/resend", headers=leader.headers
    )
    assert resent.status_code == 200
    new = await world.token_for(invitation["id"])
    assert new != old
    assert (
        await world.client.post(ACCEPT, headers=dev.headers, json={"token": old})
    ).status_code == 404
    assert (
        await world.client.post(ACCEPT, headers=dev.headers, json={"token": new})
    ).status_code == 200
    assert len(world.of_type("taskflow.teams.invitation.resent.v1")) == 1


async def test_expired_invitation_is_410_and_can_be_resent(world: Any) -> None:
    leader, team, roles = await setup(world)
    dev = await world.person("dev")
    invitation, token = await world.invite(team["id"], leader, dev.email, roles["Developer"])
    world.clock.offset = timedelta(days=7, seconds=1)
    response = await world.client.post(ACCEPT, headers=dev.headers, json={"token": token})
    assert response.status_code == 410
    listed = (
        await world.client.get(f"/api/v1/teams/{team['id']}/invitations", headers=leader.headers)
    ).json()
    assert [i["status"] for i in listed["items"]] == ["expired"]
    only_expired = await world.client.get(
        f"/api/v1/teams/{team['id']}/invitations",
        params={"status": "expired"},
        headers=leader.headers,
    )
    assert len(only_expired.json()["items"]) == 1
    assert (await world.client.get("/api/v1/invitations", headers=dev.headers)).json()[
        "items"
    ] == []
    await world.client.post(
        f"/api/v1/teams/{team['id']}/invitations/{invitation['id']}/resend", headers=leader.headers
    )
    fresh = await world.token_for(invitation["id"])
    assert (
        await world.client.post(ACCEPT, headers=dev.headers, json={"token": fresh})
    ).status_code == 200


async def test_expiry_is_configurable(world: Any) -> None:
    world.app.state.settings.invitation_days = 1
    leader, team, roles = await setup(world)
    dev = await world.person("dev")
    _, token = await world.invite(team["id"], leader, dev.email, roles["Viewer"])
    world.clock.offset = timedelta(days=1, seconds=1)
    assert (
        await world.client.post(ACCEPT, headers=dev.headers, json={"token": token})
    ).status_code == 410


async def test_no_escalation_through_an_invite(world: Any) -> None:
    leader, team, roles = await setup(world)
    manager = await world.join(team["id"], leader, "Project Manager")
    for role in ("Team Leader",):
        response = await world.client.post(
            f"/api/v1/teams/{team['id']}/invitations",
            headers=manager.headers,
            json={"email": "friend@example.com", "role_id": roles[role]},
        )
        assert response.status_code == 403 and response.json()["type"].endswith(
            "permission-escalation"
        )
    custom = await world.client.post(
        f"/api/v1/teams/{team['id']}/roles",
        headers=leader.headers,
        json={"name": "Gatekeeper", "permissions": ["members.manage"]},
    )
    sneaky = await world.client.post(
        f"/api/v1/teams/{team['id']}/invitations",
        headers=manager.headers,
        json={"email": "friend@example.com", "role_id": custom.json()["id"]},
    )
    assert sneaky.status_code == 403
    fine = await world.client.post(
        f"/api/v1/teams/{team['id']}/invitations",
        headers=manager.headers,
        json={"email": "friend@example.com", "role_id": roles["Developer"]},
    )
    assert fine.status_code == 201


async def test_accept_needs_a_participant_profile(world: Any) -> None:
    leader, team, roles = await setup(world)
    newcomer = await world.person("nina", participant=False)
    _, token = await world.invite(team["id"], leader, newcomer.email, roles["Viewer"])
    response = await world.client.post(ACCEPT, headers=newcomer.headers, json={"token": token})
    assert response.status_code == 403 and "participants/register" in response.json()["detail"]


async def test_invite_before_sign_up_shows_after_sign_up(world: Any) -> None:
    leader, team, roles = await setup(world)
    await world.invite(team["id"], leader, "later@example.com", roles["Viewer"])
    person = await world.person("later", email="Later@Example.com")
    mine = (await world.client.get("/api/v1/invitations", headers=person.headers)).json()["items"]
    assert [i["email"] for i in mine] == ["later@example.com"]
    await world.auth_event(
        auth.UserUpdated(
            user_id=person.user_id, username="later", email="else@example.com", email_verified=True
        )
    )
    assert (await world.client.get("/api/v1/invitations", headers=person.headers)).json()[
        "items"
    ] == []


async def test_decline_then_accept(world: Any) -> None:
    leader, team, roles = await setup(world)
    dev = await world.person("dev")
    _, token = await world.invite(team["id"], leader, dev.email, roles["Developer"])
    declined = await world.client.post(DECLINE, headers=dev.headers, json={"token": token})
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    assert (
        await world.client.post(ACCEPT, headers=dev.headers, json={"token": token})
    ).status_code == 409
    listed = (
        await world.client.get(f"/api/v1/teams/{team['id']}/invitations", headers=leader.headers)
    ).json()
    assert [i["status"] for i in listed["items"]] == ["declined"]


async def test_unknown_token_and_duplicates(world: Any) -> None:
    leader, team, roles = await setup(world)
    dev = await world.person("dev")
    assert (
        await world.client.post(ACCEPT, headers=dev.headers, json={"token": "made-up"})
    ).status_code == 404
    await world.invite(team["id"], leader, dev.email, roles["Viewer"])
    twice = await world.client.post(
        f"/api/v1/teams/{team['id']}/invitations",
        headers=leader.headers,
        json={"email": dev.email, "role_id": roles["Viewer"]},
    )
    assert twice.status_code == 409
    member = await world.client.post(
        f"/api/v1/teams/{team['id']}/invitations",
        headers=leader.headers,
        json={"email": leader.email, "role_id": roles["Viewer"]},
    )
    assert member.status_code == 409 and member.json()["type"].endswith("already-member")
    other_team = await world.team(leader, "Other")
    other_roles = await world.roles(other_team["id"], leader.headers)
    wrong_role = await world.client.post(
        f"/api/v1/teams/{team['id']}/invitations",
        headers=leader.headers,
        json={"email": "z@example.com", "role_id": other_roles["Viewer"]},
    )
    assert wrong_role.status_code == 422


async def test_an_unverified_address_sees_and_answers_no_invitation(world: Any) -> None:
    """Finding 5: signing up with (or moving to) an invited address nobody proved to own
    showed its invitations and joined with a leaked link."""
    leader, team, roles = await setup(world)
    _, token = await world.invite(team["id"], leader, "victim@example.com", roles["Developer"])
    squatter = await world.person("squatter", email="victim@example.com", verified=False)
    listed = await world.client.get("/api/v1/invitations", headers=squatter.headers)
    assert listed.status_code == 403
    assert listed.json()["type"].endswith("/email-not-verified")
    for path in (ACCEPT, DECLINE):
        answered = await world.client.post(path, headers=squatter.headers, json={"token": token})
        assert answered.status_code == 403, path
        assert answered.json()["type"].endswith("/email-not-verified")
        assert answered.json()["title"] == "Verify your email address first"
    members = await world.client.get(f"/api/v1/teams/{team['id']}/members", headers=leader.headers)
    assert str(squatter.user_id) not in members.text
    # The owner of the address follows the sign-up link: the invitation is theirs to take.
    await world.verify_email(squatter.user_id, squatter.username, squatter.email)
    mine = await world.client.get("/api/v1/invitations", headers=squatter.headers)
    assert [i["email"] for i in mine.json()["items"]] == ["victim@example.com"]
    accepted = await world.client.post(ACCEPT, headers=squatter.headers, json={"token": token})
    assert accepted.status_code == 200, accepted.text


async def test_a_new_email_is_unverified_until_auth_says_otherwise(world: Any) -> None:
    leader, team, roles = await setup(world)
    dev = await world.person("dev")
    _, token = await world.invite(team["id"], leader, "dev@new.example", roles["Viewer"])
    # A participant event (which carries no verification) brings a new email first.
    await world.auth_event(
        auth.ParticipantUpdated(
            user_id=dev.user_id,
            username="dev",
            email="dev@new.example",
            display_name="Dev",
            phone_number="+14155552671",
        )
    )
    refused = await world.client.post(ACCEPT, headers=dev.headers, json={"token": token})
    assert refused.status_code == 403 and refused.json()["type"].endswith("/email-not-verified")
    # Auth's update (the change link was followed) says the new address is verified.
    await world.verify_email(dev.user_id, "dev", "dev@new.example")
    assert (
        await world.client.post(ACCEPT, headers=dev.headers, json={"token": token})
    ).status_code == 200

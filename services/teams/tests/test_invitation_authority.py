"""Nobody revokes or resends an invitation offering a role with permissions they lack,
as nobody may create one (a Project Manager cannot cancel a Team Leader's invitation)."""

from __future__ import annotations

from typing import Any


async def test_a_manager_cannot_revoke_or_resend_a_leader_invitation(world: Any) -> None:
    leader = await world.person("lea")
    team = await world.team(leader)
    roles = await world.roles(team["id"], leader.headers)
    manager = await world.join(team["id"], leader, "Project Manager", "pam")
    base = f"/api/v1/teams/{team['id']}/invitations"
    invitation, _ = await world.invite(team["id"], leader, "heir@example.com", roles["Team Leader"])

    for attempt in (
        world.client.delete(f"{base}/{invitation['id']}", headers=manager.headers),
        world.client.post(f"{base}/{invitation['id']}/resend", headers=manager.headers),
    ):
        response = await attempt
        assert response.status_code == 403, response.text
        assert response.json()["type"].endswith("permission-escalation")
    listed = await world.client.get(base, headers=leader.headers)
    [still] = [i for i in listed.json()["items"] if i["id"] == invitation["id"]]
    assert still["status"] == "pending"
    await world.settle()
    assert world.of_type("taskflow.teams.invitation.revoked.v1") == []
    assert world.of_type("taskflow.teams.invitation.resent.v1") == []

    # Within their own rights they still can; and the leader can revoke the leader's.
    developer, _ = await world.invite(team["id"], manager, "dev@example.com", roles["Developer"])
    for response in (
        await world.client.post(f"{base}/{developer['id']}/resend", headers=manager.headers),
        await world.client.delete(f"{base}/{developer['id']}", headers=manager.headers),
        await world.client.delete(f"{base}/{invitation['id']}", headers=leader.headers),
    ):
        assert response.status_code in {200, 204}, response.text

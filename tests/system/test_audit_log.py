"""The security audit log on the distributed runtime (PostgreSQL, RabbitMQ, each service
its own process, through the gateway): a real log-in, a failed log-in, a password change,
an invitation's acceptance and a role change each appear once, in the right logs, from
the events auth and teams publish through their outboxes."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from .conftest import PASSWORD, SHARED_STACK_TESTS, System, next_phone, shared_stack

pytestmark = [SHARED_STACK_TESTS, pytest.mark.timeout(300)]
system = shared_stack()

NEW_PASSWORD = "another-long-secret"


async def log_in(system: System, name: str, password: str = PASSWORD) -> dict[str, str]:
    response = await system.client.post(
        "/api/v1/auth/jwt/create", json={"username": name, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access']}"}


async def entries(system: System, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every entry of a log, page after page."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 200}
    while True:
        response = await system.client.get(path, headers=headers, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        found += page["items"]
        if not page["next_cursor"]:
            return found
        params["cursor"] = page["next_cursor"]


async def test_each_fact_appears_once_in_the_right_logs(system: System) -> None:
    client = system.client
    lead = await system.sign_up("audit_lead", phone=next_phone())
    lead_key = {"Authorization": lead["Authorization"]}

    async def create_team() -> Any:
        response = await client.post("/api/v1/teams", headers=lead_key, json={"name": "Audited"})
        return response.json() if response.status_code == 201 else None

    team = await system.wait_for(create_team, what="the lead's profile to reach teams")
    roles = (await client.get(f"/api/v1/teams/{team['id']}/roles", headers=lead_key)).json()
    role_ids = {r["name"]: r["id"] for r in roles["items"]}
    invited = await client.post(
        f"/api/v1/teams/{team['id']}/invitations",
        headers=lead_key,
        json={"email": "audit_dev@example.com", "role_id": role_ids["Developer"]},
    )
    assert invited.status_code == 201, invited.text
    [invitation] = await system.wait_for(
        lambda: system.emails("audit_dev@example.com"), what="the invitation email"
    )
    dev = await system.sign_up("audit_dev", phone=next_phone())
    dev_key = {"Authorization": dev["Authorization"]}

    async def accept() -> bool:
        response = await client.post(
            "/api/v1/invitations/accept",
            headers=dev_key,
            json={"token": system.email_token(invitation)},
        )
        return response.status_code == 200

    await system.wait_for(accept, what="the invitee's profile to reach teams")
    # The developer: a failed log-in, then a password change (which signs every session out).
    failed = await client.post(
        "/api/v1/auth/jwt/create", json={"username": "audit_dev", "password": "not-it-at-all"}
    )
    assert failed.status_code == 401, failed.text
    changed = await client.post(
        "/api/v1/auth/users/set_password",
        headers=dev_key,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204, changed.text
    dev_key = await log_in(system, "audit_dev", NEW_PASSWORD)
    # The leader makes the developer a reviewer.
    promoted = await client.patch(
        f"/api/v1/teams/{team['id']}/members/{dev['id']}",
        headers=lead_key,
        json={"role_id": role_ids["Reviewer"]},
    )
    assert promoted.status_code == 200, promoted.text

    async def own_log_complete() -> list[dict[str, Any]] | None:
        found = await entries(system, "/api/v1/audit", dev_key)
        kinds = {e["kind"] for e in found}
        wanted = {"login.failed", "password.changed", "member.role_changed"}
        return found if wanted <= kinds else None

    own = await system.wait_for(own_log_complete, what="the developer's own log")
    counted = Counter(e["kind"] for e in own)
    # Sign-ups' log-in, the one after the password change: real log-ins, each recorded.
    assert counted["login.succeeded"] == 2, counted
    for kind in (
        "login.failed",
        "password.changed",
        "member.joined",
        "invitation.accepted",
        "member.role_changed",
    ):
        assert counted[kind] == 1, (kind, counted)
    by_kind = {e["kind"]: e for e in own}
    assert by_kind["login.failed"]["subject_id"] == dev["id"]
    assert by_kind["login.failed"]["actor_id"] is None
    assert by_kind["login.failed"]["address"]  # the client's, as the gateway passed it
    assert by_kind["password.changed"]["details"] == {"how": "changed"}
    role_change = by_kind["member.role_changed"]
    assert role_change["actor"]["username"] == "audit_lead"
    assert role_change["details"] == {"role_name": "Reviewer", "previous_role_name": "Developer"}
    assert counted["sessions.revoked"] >= 1  # the password change signed the sessions out

    team_log = await entries(system, f"/api/v1/teams/{team['id']}/audit", lead_key)
    team_counted = Counter((e["kind"], e["subject_id"]) for e in team_log)
    assert team_counted[("member.role_changed", dev["id"])] == 1
    assert team_counted[("invitation.accepted", dev["id"])] == 1
    assert team_counted[("member.joined", dev["id"])] == 1
    assert team_counted[("member.joined", lead["id"])] == 1
    # Log-ins and password changes are personal: never in the team's log.
    assert not {e["kind"] for e in team_log} & {
        "login.succeeded",
        "login.failed",
        "password.changed",
    }
    # The reviewer may not read the team's log; the lead's own log has none of dev's log-ins.
    refused = await client.get(f"/api/v1/teams/{team['id']}/audit", headers=dev_key)
    assert refused.status_code == 403, refused.text
    lead_own = await entries(system, "/api/v1/audit", lead_key)
    assert all(
        dev["id"] not in {e["actor_id"], e["subject_id"]}
        for e in lead_own
        if e["kind"].startswith("login")
    )
    # In the database: one row per event, whatever the broker redelivered.
    rows = await system.sql(
        "teams", "SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS d FROM audit_entries"
    )
    assert rows[0]["n"] == rows[0]["d"]

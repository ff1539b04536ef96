"""The teams, members, roles and invitations pages as people use them: a team's leader
(every permission), a developer (no team management), an outsider, and people invited by
email who open the link signed out, sign up or in, and accept or decline; against the
real four services of the embedded runtime (one runtime for the module)."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from .conftest import (
    ORIGIN,
    PASSWORD,
    Browser,
    browser_for,
    emailed_token,
    embedded_runtime,
    participant,
    until_status,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHANGED = "Someone else changed this since you opened the page"


@dataclass
class World:
    api: httpx.AsyncClient
    web: FastAPI
    mail: Path
    ada: Browser  # leads the team: every permission
    bob: Browser  # a Developer: no team management
    eve: Browser  # in no team of ada's
    tokens: dict[str, str]
    ids: dict[str, str]
    team_id: str

    async def call(self, method: str, path: str, who: str = "ada", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        response = await self.api.request(method, path, headers=headers, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def role_id(self, name: str, team_id: str | None = None) -> str:
        roles = await self.call("GET", f"/api/v1/teams/{team_id or self.team_id}/roles")
        return str(next(r["id"] for r in roles["items"] if r["name"] == name))


async def _login(api: httpx.AsyncClient, name: str) -> str:
    login = await api.post("/api/v1/auth/jwt/create", json={"username": name, "password": PASSWORD})
    return str(login.json()["access"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    data = tmp_path_factory.mktemp("teams-pages")
    async with embedded_runtime(data) as dispatcher:
        mail = data / "mail"
        web = dispatcher.apps["web"]
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=dispatcher), base_url=ORIGIN)
        ada, bob, eve = (browser_for(web, mail) for _ in range(3))
        async with api, ada.client, bob.client, eve.client:
            tokens = {
                "ada": await participant(api, ada, "ada", "+14155550121"),
                "bob": await participant(api, bob, "bob", "+14155550122"),
                "eve": await participant(api, eve, "eve", "+14155550123"),
            }
            ids = {}
            for name, token in tokens.items():
                me = await api.get(
                    "/api/v1/auth/users/me", headers={"Authorization": f"Bearer {token}"}
                )
                ids[name] = str(me.json()["id"])
            lead = {"Authorization": f"Bearer {tokens['ada']}"}
            team = await until_status(
                lambda: api.post("/api/v1/teams", headers=lead, json={"name": "Launch crew"}),
                201,
            )
            world = World(api, web, mail, ada, bob, eve, tokens, ids, team.json()["id"])
            developer = await world.role_id("Developer")
            await world.call(
                "POST",
                f"/api/v1/teams/{world.team_id}/invitations",
                json={"email": "bob@example.com", "role_id": developer},
            )
            token = await emailed_token(mail, "bob@example.com", "You are invited")
            bob_key = {"Authorization": f"Bearer {tokens['bob']}"}
            await until_status(
                lambda: api.post(
                    "/api/v1/invitations/accept", headers=bob_key, json={"token": token}
                ),
                200,
            )
            yield world


def _hidden(page: str, action: str, name: str) -> str:
    """The value of the hidden ``name`` in the form posting to ``action``."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', page, re.S)
    assert form, page
    found = re.search(rf'name="{name}" value="([^"]*)"', form.group(0))
    assert found, form.group(0)
    return html.unescape(found.group(1))


async def _post_role(
    browser: Browser, path: str, name: str, permissions: list[str], etag: str = ""
) -> httpx.Response:
    """A role form as a browser posts it: one ``permissions`` field per ticked box."""
    data: dict[str, Any] = {"name": name, "permissions": permissions, "etag": etag}
    return await browser.client.post(
        path, data={"csrf_token": browser.csrf, **data}, headers={"Origin": ORIGIN}
    )


def _invalid(page: str, name: str) -> None:
    """The field is marked invalid, with its message beside it, and the detail at the top."""
    control = re.search(rf'<(?:input|select) id="f-{name}"[^>]*>', page)
    assert control and 'aria-invalid="true"' in control.group(0), page
    assert f'f-{name}-error"' in control.group(0)
    assert f'id="f-{name}-error"' in page and 'role="alert"' in page


# --- the list of teams, a new team --------------------------------------------------------------


async def test_teams_list_empty_state_and_create(world: World) -> None:
    empty = await world.eve.get("/teams")
    assert empty.status_code == 200
    assert "You are not in a team yet." in empty.text and "Create a team" in empty.text
    assert '<label for="f-name">' in empty.text

    nameless = await world.eve.post("/teams", {"name": "  ", "description": ""})
    assert nameless.status_code == 422, nameless.text
    _invalid(nameless.text, "name")

    created = await world.eve.post("/teams", {"name": "Eve's garden", "description": "Plants"})
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    overview = await world.eve.get(location)
    assert overview.status_code == 200, overview.text
    assert "Eve&#39;s garden" in overview.text and "is created. You lead it." in overview.text
    assert "Team Leader" in overview.text and "Plants" in overview.text
    listed = await world.eve.get("/teams")
    assert f'href="{location}"' in listed.text and "You are not in a team yet." not in listed.text


async def test_signed_out_teams_pages_ask_to_sign_in(world: World) -> None:
    anonymous = browser_for(world.web, world.mail)
    async with anonymous.client:
        for path in ("/teams", f"/teams/{world.team_id}", f"/teams/{world.team_id}/roles"):
            answer = await anonymous.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith(
                "/login?next="
            )


# --- the overview -----------------------------------------------------------------------------


async def test_overview_for_the_leader_a_developer_and_an_outsider(world: World) -> None:
    team = f"/teams/{world.team_id}"
    lead = await world.ada.get(team)
    assert lead.status_code == 200, lead.text
    assert "Launch crew" in lead.text and "@ada" in lead.text and "@bob" in lead.text
    assert f'href="{team}/projects"' in lead.text and f'href="{team}/roles"' in lead.text
    assert f'href="{team}/invitations"' in lead.text
    assert f'action="{team}/members/{world.ids["bob"]}/role"' in lead.text
    assert f'action="{team}/edit"' in lead.text and f'action="{team}/delete"' in lead.text
    assert "restore it for 30 days" in lead.text
    assert f'<label for="role-{world.ids["bob"]}" class="vh">Role of bob</label>' in lead.text

    member = await world.bob.get(team)
    assert member.status_code == 200 and "Developer" in member.text
    ada_role = f"{team}/members/{world.ids['ada']}/role"
    for hidden in (ada_role, f"{team}/edit", f"{team}/delete", f"{team}/invitations"):
        assert hidden not in member.text
    assert f'action="{team}/members/{world.ids["bob"]}/remove"' in member.text  # leave

    # The API decides all the same: a forged form is a 403 page, not a change.
    refused = await world.bob.post(
        f"{team}/members/{world.ids['ada']}/role",
        {"role_id": await world.role_id("Viewer"), "etag": ""},
    )
    assert refused.status_code == 403 and "members.manage" in refused.text

    outsider = await world.eve.get(team)
    assert outsider.status_code == 404 and "No team with this id" in outsider.text
    assert (await world.eve.get(f"{team}/roles")).status_code == 404
    assert (await world.eve.get(f"{team}/invitations")).status_code == 404
    assert (await world.eve.get("/teams/not-an-id")).status_code == 400


async def test_rename_a_team_with_its_tag(world: World) -> None:
    team = f"/teams/{world.team_id}"
    page = await world.ada.get(team)
    tag = _hidden(page.text, f"{team}/edit", "etag")
    assert tag.startswith('"')

    empty = await world.ada.post(f"{team}/edit", {"name": "", "description": "", "etag": tag})
    assert empty.status_code == 422, empty.text
    _invalid(empty.text, "name")

    renamed = await world.ada.post(
        f"{team}/edit", {"name": "Launch crew", "description": "Ships things", "etag": tag}
    )
    assert renamed.status_code == 303, renamed.text
    shown = await world.ada.get(team)
    assert "The team is saved." in shown.text and "Ships things" in shown.text

    # Someone else's change since: the old tag answers 412, said plainly.
    stale = await world.ada.post(
        f"{team}/edit", {"name": "Launch squad", "description": "", "etag": tag}
    )
    assert stale.status_code == 412, stale.text
    assert CHANGED in stale.text and 'value="Launch squad"' in stale.text
    assert "Launch squad" not in (await world.call("GET", f"/api/v1/{team.lstrip('/')}"))["name"]


async def test_change_a_members_role_and_the_last_leader(world: World) -> None:
    team = f"/teams/{world.team_id}"
    bob = world.ids["bob"]
    page = await world.ada.get(team)
    tag = _hidden(page.text, f"{team}/members/{bob}/role", "etag")
    reviewer = await world.role_id("Reviewer")
    changed = await world.ada.post(f"{team}/members/{bob}/role", {"role_id": reviewer, "etag": tag})
    assert changed.status_code == 303, changed.text
    shown = await world.ada.get(team)
    assert "The member&#39;s role is changed." in shown.text
    assert (await world.call("GET", f"/api/v1/teams/{world.team_id}/members/{bob}"))[
        "role_name"
    ] == "Reviewer"

    stale = await world.ada.post(
        f"{team}/members/{bob}/role", {"role_id": await world.role_id("Developer"), "etag": tag}
    )
    assert stale.status_code == 412 and CHANGED in stale.text
    assert f'aria-describedby="member-{bob}-error"' in stale.text
    fresh = _hidden(stale.text, f"{team}/members/{bob}/role", "etag")
    back = await world.ada.post(
        f"{team}/members/{bob}/role",
        {"role_id": await world.role_id("Developer"), "etag": fresh},
    )
    assert back.status_code == 303

    # The only leader cannot leave: the 409 is said next to the button.
    leave = await world.ada.post(f"{team}/members/{world.ids['ada']}/remove", {"etag": ""})
    assert leave.status_code == 409, leave.text
    assert "A team keeps at least one Team Leader" in leave.text or (
        "Make another member Team Leader first." in leave.text
    )
    assert 'id="leave-error"' in leave.text


# --- roles ----------------------------------------------------------------------------------


async def test_roles_page_create_edit_delete(world: World) -> None:
    roles = f"/teams/{world.team_id}/roles"
    page = await world.ada.get(roles)
    assert page.status_code == 200, page.text
    assert "Team Leader" in page.text and "holds every permission" in page.text
    assert "Comment on tasks" in page.text  # the catalogue's descriptions
    assert "<legend>Permissions</legend>" in page.text
    assert '<label for="p-tasks.review"><code>tasks.review</code></label>' in page.text

    nameless = await _post_role(world.ada, roles, "", ["tasks.review"])
    assert nameless.status_code == 422, nameless.text
    _invalid(nameless.text, "name")
    assert 'value="tasks.review"' in nameless.text and re.search(
        r'id="p-tasks.review"[^>]*checked', nameless.text
    )  # the ticked boxes stay ticked

    created = await _post_role(world.ada, roles, "Editor", ["tasks.review", "comments.create"])
    assert created.status_code == 303, created.text
    listed = await world.ada.get(roles)
    assert "The role “Editor” is created." in listed.text
    role_id = await world.role_id("Editor")
    role_page = f"{roles}/{role_id}"
    assert f'href="{role_page}"' in listed.text

    edit = await world.ada.get(role_page)
    assert edit.status_code == 200
    assert re.search(r'id="p-comments.create"[^>]*checked', edit.text)
    assert not re.search(r'id="p-tasks.delete"[^>]*checked', edit.text)
    tag = _hidden(edit.text, role_page, "etag")
    saved = await _post_role(world.ada, role_page, "Editor", ["tasks.review"], tag)
    assert saved.status_code == 303, saved.text
    stale = await _post_role(world.ada, role_page, "Editor", ["tasks.delete"], tag)
    assert stale.status_code == 412 and CHANGED in stale.text
    assert re.search(r'id="p-tasks.delete"[^>]*checked', stale.text)  # what was ticked

    # A role someone holds is not deleted: the 409 says why.
    editor_page = await world.ada.get(f"/teams/{world.team_id}")
    bob = world.ids["bob"]
    member_tag = _hidden(editor_page.text, f"/teams/{world.team_id}/members/{bob}/role", "etag")
    await world.ada.post(
        f"/teams/{world.team_id}/members/{bob}/role", {"role_id": role_id, "etag": member_tag}
    )
    current = await world.ada.get(role_page)
    in_use = await world.ada.post(
        f"{role_page}/delete", {"etag": _hidden(current.text, f"{role_page}/delete", "etag")}
    )
    assert in_use.status_code == 409 and "give them another role first" in in_use.text
    overview = await world.ada.get(f"/teams/{world.team_id}")
    await world.ada.post(
        f"/teams/{world.team_id}/members/{bob}/role",
        {
            "role_id": await world.role_id("Developer"),
            "etag": _hidden(overview.text, f"/teams/{world.team_id}/members/{bob}/role", "etag"),
        },
    )
    current = await world.ada.get(role_page)
    deleted = await world.ada.post(
        f"{role_page}/delete", {"etag": _hidden(current.text, f"{role_page}/delete", "etag")}
    )
    assert deleted.status_code == 303
    assert "The role is deleted." in (await world.ada.get(roles)).text

    # A developer reads the roles, and changes none.
    seen = await world.bob.get(roles)
    assert seen.status_code == 200 and "Team Leader" in seen.text
    assert "Create a role" not in seen.text and f"{roles}/" not in seen.text
    developer = await world.role_id("Developer")
    assert "Only members whose role grants" in (await world.bob.get(f"{roles}/{developer}")).text
    forged = await _post_role(world.bob, f"{roles}/{developer}", "Developer", [])
    assert forged.status_code == 403
    missing = await world.ada.get(f"{roles}/{world.ids['ada']}")
    assert missing.status_code == 404 and "no role with this id" in missing.text


# --- invitations ------------------------------------------------------------------------------


async def test_invitations_send_resend_revoke(world: World) -> None:
    page_path = f"/teams/{world.team_id}/invitations"
    page = await world.ada.get(page_path)
    assert page.status_code == 200, page.text
    assert "No invitation is waiting for an answer." in page.text
    assert '<label for="f-role_id">Role</label>' in page.text

    developer = await world.role_id("Developer")
    wrong = await world.ada.post(page_path, {"email": "not-an-address", "role_id": developer})
    assert wrong.status_code == 422, wrong.text
    _invalid(wrong.text, "email")
    assert 'value="not-an-address"' in wrong.text

    sent = await world.ada.post(page_path, {"email": "fay@example.com", "role_id": developer})
    assert sent.status_code == 303, sent.text
    listed = await world.ada.get(page_path)
    assert "The invitation to fay@example.com is on its way." in listed.text
    assert "fay@example.com" in listed.text and "from ada" in listed.text
    first = await emailed_token(world.mail, "fay@example.com", "You are invited")

    again = await world.ada.post(page_path, {"email": "fay@example.com", "role_id": developer})
    assert again.status_code == 409 and "resend it instead" in again.text
    _invalid(again.text, "email")

    invitation = re.search(r'id="invitation-([0-9a-f-]{36})"', listed.text)
    assert invitation
    resend = f"{page_path}/{invitation.group(1)}/resend"
    resent = await world.ada.post(resend)
    assert resent.status_code == 303
    assert "the old one no longer works" in (await world.ada.get(page_path)).text
    for _ in range(100):
        newer = await emailed_token(world.mail, "fay@example.com", "You are invited")
        if newer != first:
            break
        await asyncio.sleep(0.05)
    assert newer != first

    listed = await world.ada.get(page_path)
    revoke = f"{page_path}/{invitation.group(1)}/revoke"
    revoked = await world.ada.post(revoke, {"etag": _hidden(listed.text, revoke, "etag")})
    assert revoked.status_code == 303, revoked.text
    after = await world.ada.get(page_path)
    assert "The invitation is revoked" in after.text and "fay@example.com" not in after.text
    twice = await world.ada.post(revoke, {"etag": ""})
    assert twice.status_code == 409 and "already revoked" in twice.text

    # Without members.invite: no link on the overview (above), and the page is a 403.
    refused = await world.bob.get(page_path)
    assert refused.status_code == 403 and "members.invite" in refused.text
    assert (await world.bob.post(page_path, {"email": "x@example.com"})).status_code == 403


async def test_an_emailed_link_signed_out_then_sign_up_and_accept(world: World) -> None:
    developer = await world.role_id("Developer")
    await world.ada.post(
        f"/teams/{world.team_id}/invitations", {"email": "cyrus@example.com", "role_id": developer}
    )
    token = await emailed_token(world.mail, "cyrus@example.com", "You are invited")
    cy = browser_for(world.web, world.mail)
    async with cy.client:
        link = f"/invitations/accept?token={token}"
        opened = await cy.get(link)
        assert opened.status_code == 200, opened.text
        assert "You were invited to join a team" in opened.text
        back = "next=%2Finvitations%2Faccept%3Ftoken%3D" + token
        assert f'href="/login?{back}"' in opened.text and f'href="/signup?{back}"' in opened.text
        assert 'action="/invitations/accept"' not in opened.text  # nothing to answer yet

        # Sign up from the link: the way back is kept through the "check your email" page.
        form = await cy.get(f"/signup?{back}")
        assert f'name="next" value="/invitations/accept?token={token}"' in form.text
        signed_up = await cy.post(
            "/signup",
            {
                "username": "cyrus",
                "email": "cyrus@example.com",
                "password": PASSWORD,
                "next": f"/invitations/accept?token={token}",
            },
        )
        assert signed_up.status_code == 303
        check = await cy.get(signed_up.headers["location"])
        assert f'href="/login?{back}"' in check.text
        verify = await emailed_token(world.mail, "cyrus@example.com", "Verify")
        assert (await cy.get("/verify-email", params={"token": verify})).status_code == 200
        login = await cy.get(f"/login?{back}")
        assert f'name="next" value="/invitations/accept?token={token}"' in login.text
        entered = await cy.post(
            "/login",
            {"username": "cyrus", "password": PASSWORD, "next": link},
        )
        assert entered.headers["location"] == link

        signed_in = await cy.get(link)
        assert 'action="/invitations/accept"' in signed_in.text
        assert 'action="/invitations/decline"' in signed_in.text
        assert "register your participant profile" in signed_in.text
        # Accepting before the profile exists says what to do.
        too_soon = await until_status(lambda: cy.post("/invitations/accept", {"token": token}), 403)
        assert "Register your participant profile" in too_soon.text
        assert "Launch crew" in too_soon.text  # the invitation waiting, named

        registered = await world.api.post(
            "/api/v1/participants/register",
            json={"phone_number": "+14155550124"},
            headers={"Authorization": f"Bearer {await _login(world.api, 'cyrus')}"},
        )
        assert registered.status_code == 201, registered.text
        joined = await until_status(lambda: cy.post("/invitations/accept", {"token": token}), 303)
        assert joined.headers["location"] == f"/teams/{world.team_id}"
        team = await cy.get(joined.headers["location"])
        assert "Welcome to Launch crew: you joined as Developer." in team.text

        used = await cy.post("/invitations/accept", {"token": token})
        assert used.status_code == 409 and "already accepted" in used.text
        assert 'action="/invitations/decline"' not in used.text

        # The leader removes cy; cy's page of the team is then a 404.
        overview = await world.ada.get(f"/teams/{world.team_id}")
        cy_id = re.search(r'id="member-([0-9a-f-]{36})">\s*<span class="name">cyrus', overview.text)
        assert cy_id, overview.text
        remove = f"/teams/{world.team_id}/members/{cy_id.group(1)}/remove"
        removed = await world.ada.post(remove, {"etag": _hidden(overview.text, remove, "etag")})
        assert removed.status_code == 303
        assert "The member is removed" in (await world.ada.get(f"/teams/{world.team_id}")).text
        assert (await cy.get(f"/teams/{world.team_id}")).status_code == 404


async def test_decline_wrong_account_and_bad_links(world: World) -> None:
    developer = await world.role_id("Developer")
    await world.ada.post(
        f"/teams/{world.team_id}/invitations", {"email": "eve@example.com", "role_id": developer}
    )
    token = await emailed_token(world.mail, "eve@example.com", "You are invited")

    wrong = await world.bob.post("/invitations/accept", {"token": token})
    assert wrong.status_code == 403 and "another email address" in wrong.text
    assert 'role="alert"' in wrong.text
    assert 'action="/invitations/accept"' in wrong.text  # once signed in as eve, it works

    unknown = await world.eve.post("/invitations/accept", {"token": "no-such-token"})
    assert unknown.status_code == 404 and "This invitation link is not valid" in unknown.text
    assert 'action="/invitations/accept"' not in unknown.text  # no answer can work
    empty = await world.eve.get("/invitations/accept")
    assert empty.status_code == 400 and "This invitation link is not valid" in empty.text

    declined = await world.eve.post("/invitations/decline", {"token": token})
    assert declined.status_code == 303 and declined.headers["location"] == "/teams"
    assert "You declined the invitation to Launch crew." in (await world.eve.get("/teams")).text
    again = await world.eve.post("/invitations/accept", {"token": token})
    assert again.status_code == 409 and "already declined" in again.text


async def test_leave_delete_and_restore(world: World) -> None:
    # bob leaves ada's team
    team = f"/teams/{world.team_id}"
    left = await world.bob.post(f"{team}/members/{world.ids['bob']}/remove", {"etag": ""})
    assert left.status_code == 303 and left.headers["location"] == "/teams"
    assert "You left the team." in (await world.bob.get("/teams")).text
    assert (await world.bob.get(team)).status_code == 404

    # ada deletes the team, is offered to restore it, and restores it.
    page = await world.ada.get(team)
    deleted = await world.ada.post(
        f"{team}/delete", {"etag": _hidden(page.text, f"{team}/delete", "etag")}
    )
    assert deleted.status_code == 303, deleted.text
    listed = await world.ada.get(deleted.headers["location"])
    assert "It can be restored for 30 days" in listed.text
    assert f'action="{team}/restore"' in listed.text and "Launch crew" not in listed.text
    assert (await world.ada.get(team)).status_code == 404
    assert parse_qs(urlsplit(deleted.headers["location"]).query)["restore"] == [world.team_id]

    restored = await world.ada.post(f"{team}/restore")
    assert restored.status_code == 303 and restored.headers["location"] == team
    back = await world.ada.get(team)
    assert back.status_code == 200 and "is restored with its members and projects" in back.text

    # Someone else's team is not theirs to restore: a page says so.
    refused = await world.eve.post(f"{team}/restore")
    assert refused.status_code == 404 and "<h1>" in refused.text

"""Entity tags on the account and the participant profile: GET tags (304 while current),
PATCH and DELETE honour If-Match (412 with the current tag, ``*`` matches, 428 where
required), and two changes made at once on one tag: exactly one wins."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

ME = "/api/v1/auth/users/me"
PARTICIPANT = "/api/v1/participants/me"


async def test_the_account_is_tagged_and_changed_only_on_its_current_tag(
    client: httpx.AsyncClient, api: Any
) -> None:
    signed_up = await api.client.post(
        "/api/v1/auth/users",
        json={"username": "alice", "email": "alice@example.com", "password": api.password},
    )
    headers = api.bearer(await api.log_in("alice"))
    read = await client.get(ME, headers=headers)
    tag = read.headers["ETag"]
    assert signed_up.headers["ETag"] == tag  # the account as it was created, as GET shows it
    assert tag.startswith('"')
    again = await client.get(ME, headers={**headers, "If-None-Match": tag})
    assert again.status_code == 304 and again.headers["ETag"] == tag

    changed = await client.patch(
        ME, headers={**headers, "If-Match": tag}, json={"username": "alice2"}
    )
    assert changed.status_code == 200, changed.text
    new_tag = changed.headers["ETag"]
    assert new_tag != tag and (await client.get(ME, headers=headers)).headers["ETag"] == new_tag

    stale = await client.patch(
        ME, headers={**headers, "If-Match": tag}, json={"username": "xavier"}
    )
    assert stale.status_code == 412
    assert stale.json()["etag"] == new_tag and stale.headers["ETag"] == new_tag
    assert (await client.get(ME, headers=headers)).json()["username"] == "alice2"

    body = {"current_password": api.password}
    gone = await client.request("DELETE", ME, headers={**headers, "If-Match": tag}, json=body)
    assert gone.status_code == 412
    deleted = await client.request("DELETE", ME, headers={**headers, "If-Match": "*"}, json=body)
    assert deleted.status_code == 204


async def test_the_participant_profile_is_tagged(client: httpx.AsyncClient, api: Any) -> None:
    headers = await api.signed_in()
    registered = await client.post(
        "/api/v1/participants/register",
        headers=headers,
        json={"phone_number": "+44 20 7946 0958", "display_name": "Alice"},
    )
    assert registered.status_code == 201
    tag = (await client.get(PARTICIPANT, headers=headers)).headers["ETag"]
    assert registered.headers["ETag"] == tag
    assert (
        await client.get(PARTICIPANT, headers={**headers, "If-None-Match": tag})
    ).status_code == 304
    changed = await client.patch(
        PARTICIPANT, headers={**headers, "If-Match": tag}, json={"display_name": "Al"}
    )
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    stale = await client.patch(
        PARTICIPANT, headers={**headers, "If-Match": tag}, json={"display_name": "A"}
    )
    assert stale.status_code == 412
    assert stale.json()["etag"] == changed.headers["ETag"]


async def test_two_changes_on_one_tag_at_once_one_wins(client: httpx.AsyncClient, api: Any) -> None:
    headers = await api.signed_in()
    for round in range(4):
        tag = (await client.get(ME, headers=headers)).headers["ETag"]
        answers = await asyncio.gather(
            *(
                client.patch(
                    ME, headers={**headers, "If-Match": tag}, json={"username": f"u{round}x{i}"}
                )
                for i in range(2)
            )
        )
        assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]
        [winner] = [a for a in answers if a.status_code == 200]
        current = await client.get(ME, headers=headers)
        assert current.json()["username"] == winner.json()["username"]
        assert current.headers["ETag"] == winner.headers["ETag"]


async def test_if_match_required_answers_428(
    app: FastAPI, client: httpx.AsyncClient, api: Any
) -> None:
    headers = await api.signed_in()
    app.state.settings.require_if_match = True
    missing = await client.patch(ME, headers=headers, json={"username": "bob"})
    assert missing.status_code == 428
    assert missing.json()["type"].endswith("/precondition-required")
    tag = (await client.get(ME, headers=headers)).headers["ETag"]
    ok = await client.patch(ME, headers={**headers, "If-Match": tag}, json={"username": "bob"})
    assert ok.status_code == 200

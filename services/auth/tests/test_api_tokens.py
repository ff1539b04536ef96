"""Personal API tokens: created with bounded expiry and known scopes, shown once, stored
hashed, listed without the secret, revoked (announced to every service), and never able to
manage tokens, the password, the email or the account."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlmodel import select
from taskflow_auth.api_tokens.models import ApiToken
from taskflow_auth.api_tokens.service import MAX_TOKENS_PER_USER
from taskflow_chassis.revocation import TOKENS_REVOKED

TOKENS = "/api/v1/tokens"
GOOD = {"name": "CI", "scopes": ["tasks.read", "profile.read"], "expires_in_days": 30}


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post(TOKENS, headers=headers, json={**GOOD, **body})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_created_once_stored_hashed_listed_without_secret(
    client: httpx.AsyncClient, api: Any, app: FastAPI, event_log: Any
) -> None:
    headers = await api.signed_in()
    response = await create(client, headers)
    assert response.status_code == 201, response.text
    body = response.json()
    secret = body["token"]
    assert secret.startswith("tfp_")
    assert body["scopes"] == ["profile.read", "tasks.read"] and body["team_id"] is None
    expires = datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)
    claims = jwt.decode(secret.removeprefix("tfp_"), options={"verify_signature": False})
    assert claims["type"] == "api" and claims["jti"] == body["id"]
    assert claims["scp"] == ["profile.read", "tasks.read"]

    async with app.state.database.session() as session:
        row = (await session.execute(select(ApiToken))).scalar_one()
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(row.model_dump())

    listed = await client.get(TOKENS, headers=headers)
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert item["id"] == body["id"] and "token" not in item
    assert secret not in listed.text

    # The token works where its scope opens the route, and only there.
    me = await client.get("/api/v1/auth/users/me", headers=bearer(secret))
    assert me.status_code == 200, me.text
    participant = await client.patch(
        "/api/v1/participants/me", headers=bearer(secret), json={"display_name": "X"}
    )
    assert participant.status_code == 403
    assert participant.json()["type"].endswith("/insufficient-scope")

    await event_log.settle()
    [created] = event_log.of_type("taskflow.auth.api_token.created.v1")
    assert created.data["token_id"] == body["id"] and created.data["name"] == "CI"
    assert "token" not in created.data


async def test_expiry_is_required_and_at_most_a_year(client: httpx.AsyncClient, api: Any) -> None:
    headers = await api.signed_in()
    no_expiry = {"name": "CI", "scopes": ["tasks.read"]}
    assert (await client.post(TOKENS, headers=headers, json=no_expiry)).status_code == 422
    both = {"expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    assert (await create(client, headers, **both)).status_code == 422
    assert (await create(client, headers, expires_in_days=366)).status_code == 422
    assert (await create(client, headers, expires_in_days=0)).status_code == 422
    late = (datetime.now(UTC) + timedelta(days=366)).isoformat()
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for when in (late, past):
        answer = await client.post(
            TOKENS,
            headers=headers,
            json={"name": "CI", "scopes": ["tasks.read"], "expires_at": when},
        )
        assert answer.status_code == 422, when
        assert answer.headers["content-type"].startswith("application/problem+json")
    ok = (datetime.now(UTC) + timedelta(days=364)).isoformat()
    fine = await client.post(
        TOKENS, headers=headers, json={"name": "CI", "scopes": ["tasks.read"], "expires_at": ok}
    )
    assert fine.status_code == 201, fine.text


async def test_scopes_must_be_known_and_non_empty(client: httpx.AsyncClient, api: Any) -> None:
    headers = await api.signed_in()
    assert (await create(client, headers, scopes=[])).status_code == 422
    assert (await create(client, headers, scopes=["tasks.read", "root"])).status_code == 422
    assert (await create(client, headers, unexpected=True)).status_code == 422
    # A team-restricted token holds no personal scope.
    team = str(uuid.uuid4())
    assert (await create(client, headers, team_id=team)).status_code == 422
    restricted = await create(client, headers, team_id=team, scopes=["tasks.read"])
    assert restricted.status_code == 201 and restricted.json()["team_id"] == team


async def test_revoked_token_refused_and_announced(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    headers = await api.signed_in()
    body = (await create(client, headers)).json()
    secret = body["token"]
    assert (await client.get("/api/v1/auth/verify", headers=bearer(secret))).status_code == 200
    revoked = await client.delete(f"{TOKENS}/{body['id']}", headers=headers)
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/auth/users/me", headers=bearer(secret))).status_code == 401
    assert (await client.get("/api/v1/auth/verify", headers=bearer(secret))).status_code == 401
    again = await client.delete(f"{TOKENS}/{body['id']}", headers=headers)
    assert again.status_code == 404
    assert (await client.get(TOKENS, headers=headers)).json()["items"] == []
    await event_log.settle()
    [fact] = [e for e in event_log.of_type(TOKENS_REVOKED) if e.data["key"] == body["id"]]
    assert fact.data["scope"] == "token"
    assert [
        e.data["token_id"] for e in event_log.of_type("taskflow.auth.api_token.revoked.v1")
    ] == [body["id"]]


async def test_another_users_token_is_404(client: httpx.AsyncClient, api: Any) -> None:
    alice = await api.signed_in("alice")
    bob = await api.signed_in("bob")
    body = (await create(client, alice)).json()
    assert (await client.delete(f"{TOKENS}/{body['id']}", headers=bob)).status_code == 404
    assert (await client.get(TOKENS, headers=bob)).json()["items"] == []
    still = await client.get("/api/v1/auth/users/me", headers=bearer(body["token"]))
    assert still.status_code == 200


async def test_a_token_manages_nothing_of_the_account(client: httpx.AsyncClient, api: Any) -> None:
    headers = await api.signed_in()
    every = ["tasks.read", "profile.read", "profile.update", "notifications.update"]
    body = (await create(client, headers, scopes=every)).json()
    token = bearer(body["token"])
    attempts = [
        ("POST", TOKENS, GOOD),
        ("GET", TOKENS, None),
        ("DELETE", f"{TOKENS}/{body['id']}", None),
        (
            "POST",
            "/api/v1/auth/users/set_password",
            {"current_password": api.password, "new_password": "another-long-secret"},
        ),
        (
            "POST",
            "/api/v1/auth/users/me/email",
            {"new_email": "x@example.com", "current_password": api.password},
        ),
        ("DELETE", "/api/v1/auth/users/me", {"current_password": api.password}),
        ("POST", "/api/v1/auth/jwt/revoke", {"refresh": "x"}),
        ("POST", "/api/v1/auth/jwt/revoke_all", None),
    ]
    for method, path, body in attempts:
        answer = await client.request(method, path, headers=token, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["type"].endswith("/insufficient-scope")
    # Nothing changed: the session still lists its token and logs in with its password.
    assert len((await client.get(TOKENS, headers=headers)).json()["items"]) == 1
    await api.log_in()


async def test_a_token_never_changes_the_username(client: httpx.AsyncClient, api: Any) -> None:
    """The username is what log-in asks: profile.update opens PATCH /users/me to a token,
    but its username field is a signed-in session's alone (403 naming the field)."""
    headers = await api.signed_in()
    body = (await create(client, headers, scopes=["profile.read", "profile.update"])).json()
    before = (await client.get("/api/v1/auth/users/me", headers=headers)).json()["username"]
    answer = await client.patch(
        "/api/v1/auth/users/me", headers=bearer(body["token"]), json={"username": "taken.over"}
    )
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"].endswith("/insufficient-scope")
    assert [(e["field"], e["loc"]) for e in problem["errors"]] == [
        ("username", ["body", "username"])
    ]
    me = (await client.get("/api/v1/auth/users/me", headers=headers)).json()
    assert me["username"] == before
    await api.log_in()  # still signs in as before
    # A session changes it.
    renamed = await client.patch(
        "/api/v1/auth/users/me", headers=headers, json={"username": "renamed.by.session"}
    )
    assert renamed.status_code == 200 and renamed.json()["username"] == "renamed.by.session"


async def test_password_change_keeps_tokens_and_account_deletion_ends_them(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    headers = await api.signed_in()
    body = (await create(client, headers)).json()
    changed = await client.post(
        "/api/v1/auth/users/set_password",
        headers=headers,
        json={"current_password": api.password, "new_password": "another-long-secret"},
    )
    assert changed.status_code == 204
    me = await client.get("/api/v1/auth/users/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    session = api.bearer(await api.log_in(password="another-long-secret"))
    gone = await client.request(
        "DELETE",
        "/api/v1/auth/users/me",
        headers=session,
        json={"current_password": "another-long-secret"},
    )
    assert gone.status_code == 204, gone.text
    assert (
        await client.get("/api/v1/auth/verify", headers=bearer(body["token"]))
    ).status_code == 401
    await event_log.settle()
    # Refused by id at every service until it would have expired, not only for 15 minutes.
    [fact] = [e for e in event_log.of_type(TOKENS_REVOKED) if e.data["key"] == body["id"]]
    assert fact.data["expires_at"][:10] == body["expires_at"][:10]


async def test_last_use_is_noted_at_most_once_a_minute(
    client: httpx.AsyncClient, api: Any, app: FastAPI
) -> None:
    headers = await api.signed_in()
    body = (await create(client, headers)).json()
    recorder = app.state.auth_deps.token_uses
    before = recorder.writes
    answers = await asyncio.gather(
        *(client.get("/api/v1/auth/verify", headers=bearer(body["token"])) for _ in range(20))
    )
    assert {a.status_code for a in answers} == {200}
    assert recorder.writes - before == 1
    [item] = (await client.get(TOKENS, headers=headers)).json()["items"]
    assert item["last_used_from"] == "203.0.113.7"
    assert item["last_used_at"] is not None
    # A session's access token is not an API token: nothing to note.
    await client.get("/api/v1/auth/verify", headers=headers)
    assert recorder.writes - before == 1


async def test_forged_or_altered_tokens_are_refused(client: httpx.AsyncClient, api: Any) -> None:
    headers = await api.signed_in()
    secret = (await create(client, headers)).json()["token"]
    jwt_part = secret.removeprefix("tfp_")
    header, _payload, signature = jwt_part.split(".")
    claims = jwt.decode(jwt_part, options={"verify_signature": False})
    wider = jwt.utils.base64url_encode(
        json.dumps({**claims, "scp": ["team.delete"]}).encode()
    ).decode()
    for forged in (
        f"tfp_{header}.{wider}.{signature}",
        jwt_part,  # an API token without its prefix is no access token
        "tfp_" + headers["Authorization"].removeprefix("Bearer "),  # nor the other way round
        "tfp_",
    ):
        answer = await client.get("/api/v1/auth/users/me", headers=bearer(forged))
        assert answer.status_code == 401, forged


async def test_login_and_account_facts_are_published(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    user = await api.sign_up()
    wrong = await client.post(
        "/api/v1/auth/jwt/create", json={"username": "alice", "password": "not-the-password"}
    )
    assert wrong.status_code == 401
    unknown = await client.post(
        "/api/v1/auth/jwt/create", json={"username": "nobody", "password": "not-the-password"}
    )
    assert unknown.status_code == 401
    tokens = await client.post(
        "/api/v1/auth/jwt/create",
        json={"username": "alice", "password": api.password},
        headers={"User-Agent": "curl/8.5"},
    )
    assert tokens.status_code == 200
    changed = await client.post(
        "/api/v1/auth/users/set_password",
        headers=api.bearer(tokens.json()),
        json={"current_password": api.password, "new_password": "another-long-secret"},
    )
    assert changed.status_code == 204
    await event_log.settle()
    failed = [e.data for e in event_log.of_type("taskflow.auth.login.failed.v1")]
    assert failed == [
        {
            "login": "alice",
            "user_id": user["id"],
            "address": "203.0.113.7",
            "reason": "wrong-password",
        },
        {"login": "", "user_id": None, "address": "203.0.113.7", "reason": "unknown-account"},
    ]
    [succeeded] = [e.data for e in event_log.of_type("taskflow.auth.login.succeeded.v1")]
    assert succeeded == {
        "user_id": user["id"],
        "username": "alice",
        "address": "203.0.113.7",
        "user_agent": "curl/8.5",
    }
    [password] = [e.data for e in event_log.of_type("taskflow.auth.password.changed.v1")]
    assert password == {"user_id": user["id"], "how": "changed", "address": "203.0.113.7"}


async def test_two_revocations_at_once_revoke_once(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    headers = await api.signed_in()
    body = (await create(client, headers)).json()
    answers = await asyncio.gather(
        *(client.delete(f"{TOKENS}/{body['id']}", headers=headers) for _ in range(2))
    )
    assert sorted(a.status_code for a in answers) == [204, 404]
    await event_log.settle()
    assert len(event_log.of_type("taskflow.auth.api_token.revoked.v1")) == 1
    assert len([e for e in event_log.of_type(TOKENS_REVOKED) if e.data["key"] == body["id"]]) == 1


async def test_revocation_honours_if_match(client: httpx.AsyncClient, api: Any) -> None:
    headers = await api.signed_in()
    created = await create(client, headers)
    tag = created.headers["etag"]
    stale = await client.delete(
        f"{TOKENS}/{created.json()['id']}", headers={**headers, "If-Match": '"not-it"'}
    )
    assert stale.status_code == 412
    assert (await client.get(TOKENS, headers=headers)).json()["items"] != []
    fresh = await client.delete(
        f"{TOKENS}/{created.json()['id']}", headers={**headers, "If-Match": tag}
    )
    assert fresh.status_code == 204


async def test_a_token_is_never_kept_for_a_retry(
    client: httpx.AsyncClient, api: Any, app: FastAPI
) -> None:
    """Idempotency-Key is ignored here: a replay would have to keep the secret for 24 h."""
    headers = {**(await api.signed_in()), "Idempotency-Key": "make-one-token"}
    first, again = [(await create(client, headers)).json() for _ in range(2)]
    assert first["token"] != again["token"]
    async with app.state.database.session() as session:
        kept = (await session.execute(text("SELECT body FROM idempotency_keys"))).scalars().all()
    assert not any(first["token"] in str(body) for body in kept)


async def test_creations_at_the_same_instant_never_pass_the_limit(
    client: httpx.AsyncClient, api: Any, app: FastAPI
) -> None:
    headers = await api.signed_in()
    for _ in range(MAX_TOKENS_PER_USER - 2):
        assert (await create(client, headers)).status_code == 201
    answers = await asyncio.gather(*(create(client, headers) for _ in range(8)))
    assert sorted(a.status_code for a in answers) == [201] * 2 + [409] * 6
    assert {a.json()["type"] for a in answers if a.status_code == 409} == {
        "/problems/too-many-api-tokens"
    }
    async with app.state.database.session() as session:
        live = await session.execute(
            text("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL")
        )
    assert live.scalar_one() == MAX_TOKENS_PER_USER


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_token_asked_for_while_its_account_is_deleted_is_made_or_refused_with_401(
    client: httpx.AsyncClient, api: Any, app: FastAPI
) -> None:
    """Made first, the token goes with its account; asked for after the deletion, the
    request is refused as any of a deleted account's is (401), and nothing is left."""
    for round_ in range(15):
        headers = await api.signed_in(f"user{round_}")
        _, created = await api.racing_deletion(headers, partial(create, client, headers))
        assert created.status_code in {201, 401}, (round_, created.text)
    async with app.state.database.session() as session:
        left = await session.execute(text("SELECT count(*) FROM api_tokens"))
    assert left.scalar_one() == 0

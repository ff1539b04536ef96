"""Personal API tokens in the chassis: ``tfp_`` verified from the JWKS like an access token
(and never mistaken for one, nor for a refresh token), their scopes and team read from the
claims, the revocation list's rules for them, and the scope check of every route."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from taskflow_chassis.problems import install_problem_handlers
from taskflow_chassis.revocation import RevocationList
from taskflow_chassis.security import CurrentClaims, InvalidToken, JwtVerifier, TokenClaims
from taskflow_chassis.testing import TestTokens


def sign(tokens: TestTokens, **claims: Any) -> str:
    """An API token's JWT as auth signs it (without its ``tfp_``); ``claims`` override."""
    return tokens.access_token(
        uuid.uuid4(), **{"type": "api", "scp": ["tasks.read"], "team": None, **claims}
    )


@pytest.fixture
def tokens() -> TestTokens:
    return TestTokens()


@pytest.fixture
def verifier(tokens: TestTokens) -> JwtVerifier:
    return JwtVerifier(tokens.jwks, issuer=tokens.issuer, audience=tokens.audience)


async def test_a_tfp_token_is_verified_with_its_scopes_and_team(
    tokens: TestTokens, verifier: JwtVerifier
) -> None:
    team = uuid.uuid4()
    claims = await verifier.verify("tfp_" + sign(tokens, scp=["tasks.read", "b"], team=str(team)))
    assert claims.is_api_token and claims.scopes == frozenset({"tasks.read", "b"})
    assert claims.team_id == team and claims.sees_team(team) and not claims.sees_team(uuid.uuid4())
    assert claims.limit(frozenset({"tasks.read", "tasks.delete"})) == frozenset({"tasks.read"})
    session = await verifier.verify(tokens.access_token(uuid.uuid4()))
    assert session.scopes is None and session.team_id is None and session.sees_team(team)
    assert session.limit(frozenset({"tasks.delete"})) == frozenset({"tasks.delete"})


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda t: sign(t), "an API token without its prefix"),
        (lambda t: "tfp_" + t.access_token(uuid.uuid4()), "an access token with the prefix"),
        (lambda t: "tfp_" + sign(t, scp="tasks.read"), "scopes not a list"),
        (lambda t: "tfp_" + sign(t, scp=[1]), "a scope not a string"),
        (lambda t: "tfp_" + sign(t, team="not-a-team"), "a team that is no id"),
        (lambda t: "tfp_" + sign(t, exp=int(time.time()) - 1), "expired"),
        (lambda t: "tfp_" + sign(TestTokens(own_key=True)), "signed by another key"),
    ],
)
async def test_what_is_no_api_token_is_refused(
    tokens: TestTokens, verifier: JwtVerifier, make: Any, why: str
) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify(make(tokens))


async def test_an_api_token_is_never_a_refresh_token(
    tokens: TestTokens, verifier: JwtVerifier
) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify("tfp_" + sign(tokens), expected_type="refresh")


def api_claims(user: str, jti: str) -> TokenClaims:
    now = int(time.time())
    return TokenClaims(
        sub=user, jti=jti, type="api", iat=now, exp=now + 600, iss="i", aud="a",
        raw={"sub": user, "jti": jti, "type": "api", "scp": []},
    )  # fmt: skip


def test_revocations_of_an_api_token_by_id_and_with_its_account_only() -> None:
    user, token_id = str(uuid.uuid4()), str(uuid.uuid4())
    later = datetime.fromtimestamp(time.time() + 900, UTC).isoformat()
    revoked = RevocationList()
    # A password change (tokens below a version) leaves API tokens alone...
    revoked.add({"scope": "user", "key": user, "user_id": user, "min_version": 4,
                 "expires_at": later})  # fmt: skip
    assert not revoked.is_revoked(api_claims(user, token_id))
    # ... revoking it by id ends it ...
    revoked.add({"scope": "token", "key": token_id, "user_id": user, "expires_at": later})
    assert revoked.is_revoked(api_claims(user, token_id))
    assert not revoked.is_revoked(api_claims(user, str(uuid.uuid4())))
    # ... and so does deleting the account (every token, whatever its version).
    revoked.add({"scope": "user", "key": user, "user_id": user, "min_version": None,
                 "expires_at": later})  # fmt: skip
    assert revoked.is_revoked(api_claims(user, str(uuid.uuid4())))


async def test_every_route_checks_the_scope_map_for_token_callers(tokens: TestTokens) -> None:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.jwt_verifier = JwtVerifier(
        tokens.jwks, issuer=tokens.issuer, audience=tokens.audience
    )
    router = APIRouter()

    @router.get("/api/v1/tasks/{task_id}", name="tasks.get")
    async def read(task_id: str, claims: CurrentClaims) -> dict[str, str]:
        return {"sub": claims.sub}

    @router.get("/api/v1/teams/{team_id}/roles", name="teams.roles.list")
    async def roles(team_id: str, claims: CurrentClaims) -> dict[str, str]:
        return {"team": team_id}

    @router.get("/api/v1/unmapped", name="unmapped.get")
    async def unmapped(claims: CurrentClaims) -> dict[str, str]:
        return {}

    app.include_router(router)
    team = uuid.uuid4()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

        async def status(path: str, token: str) -> int:
            answer = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            return answer.status_code

        reader = "tfp_" + sign(tokens, scp=["tasks.read"])
        assert await status("/api/v1/tasks/1", reader) == 200
        assert await status("/api/v1/tasks/1", "tfp_" + sign(tokens, scp=["teams.read"])) == 403
        assert await status("/api/v1/unmapped", reader) == 403  # not in the map: closed
        assert await status("/api/v1/unmapped", tokens.access_token(uuid.uuid4())) == 200
        restricted = "tfp_" + sign(tokens, scp=["teams.read"], team=str(team))
        assert await status(f"/api/v1/teams/{team}/roles", restricted) == 200
        assert await status(f"/api/v1/teams/{uuid.uuid4()}/roles", restricted) == 404


async def test_a_token_has_one_spelling(tokens: TestTokens) -> None:
    """The gateway limits each token by the header's value: no other spelling of the same
    token (the scheme's case, spaces, base64url's spare bits) is taken, so none escapes
    its bucket."""
    app = FastAPI()
    install_problem_handlers(app)
    app.state.jwt_verifier = JwtVerifier(
        tokens.jwks, issuer=tokens.issuer, audience=tokens.audience
    )

    @app.get("/api/v1/auth/users/me", name="auth.users.me.get")
    async def me(claims: CurrentClaims) -> dict[str, str]:
        return {"sub": claims.sub}

    token = "tfp_" + sign(tokens, scp=["profile.read"])
    head, payload, signature = token.split(".")
    last = signature[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = next(
        c for c in alphabet if c != last and alphabet.index(c) >> 4 == alphabet.index(last) >> 4
    )  # the same bytes: 2048 bits of signature leave 4 spare bits in the last character
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

        async def status(header: str) -> int:
            answer = await client.get("/api/v1/auth/users/me", headers={"Authorization": header})
            return answer.status_code

        assert await status(f"Bearer {token}") == 200
        for variant in (
            f"bearer {token}",
            f"BEARER {token}",
            f"Bearer  {token}",
            f"Bearer {token} ",
            f"Bearer {head}.{payload}.{signature[:-1]}{twin}",
            f"Bearer {token}=",
        ):
            assert await status(variant) == 401, variant

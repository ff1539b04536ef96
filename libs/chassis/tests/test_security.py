"""JWT verification: what it accepts, and every forgery it must refuse."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from fastapi import FastAPI
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm
from taskflow_chassis.problems import install_problem_handlers
from taskflow_chassis.security import (
    CurrentUserId,
    InvalidToken,
    JwtVerifier,
    held_token_claims,
)

ISS, AUD = "taskflow-auth", "taskflow"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def jwk_of(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if alg == "RS256" else OKPAlgorithm
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


class Jwks:
    def __init__(self, *keys: dict[str, Any]) -> None:
        self.keys = list(keys)
        self.calls = 0
        self.fail = False

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.fail:
            raise httpx.ConnectError("auth is down")
        return {"keys": self.keys}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISS,
        "aud": AUD,
        "sub": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "type": "access",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = RSA_KEY, kid: str = "k1", alg: str = "RS256") -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.fixture
def jwks() -> Jwks:
    return Jwks(jwk_of(RSA_KEY, "k1", "RS256"), jwk_of(ED_KEY, "e1", "EdDSA"))


@pytest.fixture
def verifier(jwks: Jwks) -> JwtVerifier:
    return JwtVerifier(jwks, issuer=ISS, audience=AUD, algorithms=["RS256", "EdDSA"])


async def test_accepts_a_good_token(verifier: JwtVerifier) -> None:
    payload = claims()
    verified = await verifier.verify(sign(payload))
    assert str(verified.user_id) == payload["sub"] and verified.jti == payload["jti"]
    ed = await verifier.verify(sign(claims(), ED_KEY, "e1", "EdDSA"))
    assert ed.type == "access"


async def test_rejects_alg_none(verifier: JwtVerifier) -> None:
    header = b64(json.dumps({"alg": "none", "kid": "k1", "typ": "JWT"}).encode())
    token = f"{header}.{b64(json.dumps(claims()).encode())}."
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


async def test_rejects_hs256_signed_with_the_public_key(verifier: JwtVerifier) -> None:
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims()).encode())
    signature = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken):
        await verifier.verify(f"{header}.{body}.{b64(signature)}")


async def test_rejects_alg_swapped_to_another_key_type(verifier: JwtVerifier) -> None:
    # An EdDSA token claiming the RSA key's kid must not verify.
    with pytest.raises(InvalidToken):
        await verifier.verify(sign(claims(), ED_KEY, "k1", "EdDSA"))


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 1},
        {"aud": "someone-else"},
        {"iss": "evil-issuer"},
        {"type": "refresh"},
        {"sub": "not-a-uuid"},
    ],
    ids=["expired", "wrong-aud", "wrong-iss", "refresh-as-access", "sub-not-uuid"],
)
async def test_rejects_bad_claims(verifier: JwtVerifier, overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify(sign(claims(**overrides)))


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "sub", "jti", "type"])
async def test_rejects_a_missing_required_claim(verifier: JwtVerifier, missing: str) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify(sign(claims(**{missing: None})))


async def test_rejects_tampered_payload(verifier: JwtVerifier) -> None:
    header, body, signature = sign(claims()).split(".")
    forged = json.loads(base64.urlsafe_b64decode(body + "=="))
    forged["sub"] = str(uuid.uuid4())
    with pytest.raises(InvalidToken):
        await verifier.verify(f"{header}.{b64(json.dumps(forged).encode())}.{signature}")


async def test_rejects_a_foreign_key_with_a_known_kid(verifier: JwtVerifier) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify(sign(claims(), OTHER_RSA_KEY, "k1"))


async def test_unknown_kid_refetches_at_most_once_in_a_burst(
    verifier: JwtVerifier, jwks: Jwks
) -> None:
    await verifier.verify(sign(claims()))
    assert jwks.calls == 1
    for _ in range(20):
        with pytest.raises(InvalidToken):
            await verifier.verify(sign(claims(), OTHER_RSA_KEY, f"random-{uuid.uuid4().hex}"))
    assert jwks.calls == 1  # fetched within the refetch interval: no second round trip


async def test_rotated_key_is_picked_up(jwks: Jwks) -> None:
    now = [1000.0]
    verifier = JwtVerifier(jwks, issuer=ISS, audience=AUD, monotonic=lambda: now[0])
    await verifier.verify(sign(claims()))
    jwks.keys.append(jwk_of(OTHER_RSA_KEY, "k2", "RS256"))
    now[0] += 11  # past the refetch interval, within the cache time
    verified = await verifier.verify(sign(claims(), OTHER_RSA_KEY, "k2"))
    assert verified.type == "access" and jwks.calls == 2


async def test_jwks_outage_uses_the_cache_or_refuses(jwks: Jwks) -> None:
    now = [0.0]
    verifier = JwtVerifier(
        jwks, issuer=ISS, audience=AUD, cache_seconds=1, monotonic=lambda: now[0]
    )
    await verifier.verify(sign(claims()))
    jwks.fail = True
    now[0] += 5  # cache stale, auth down: keep the keys we had
    await verifier.verify(sign(claims()))
    cold = JwtVerifier(jwks, issuer=ISS, audience=AUD)
    with pytest.raises(InvalidToken, match="unavailable"):
        await cold.verify(sign(claims()))


async def test_a_remembered_token_still_expires(jwks: Jwks) -> None:
    clock = [float(int(time.time()))]
    verifier = JwtVerifier(jwks, issuer=ISS, audience=AUD, clock=lambda: clock[0])
    token = sign(claims(exp=int(clock[0]) + 60))
    await verifier.verify(token)
    await verifier.verify(token)  # answered from memory
    clock[0] += 61
    with pytest.raises(InvalidToken, match="expired"):
        await verifier.verify(token)


async def test_a_remembered_token_is_refused_once_its_key_is_withdrawn(jwks: Jwks) -> None:
    now = [1000.0]
    verifier = JwtVerifier(
        jwks, issuer=ISS, audience=AUD, cache_seconds=60, monotonic=lambda: now[0]
    )
    token = sign(claims())
    await verifier.verify(token)
    jwks.keys = [jwk_of(OTHER_RSA_KEY, "k2", "RS256")]  # k1 withdrawn from the JWKS
    await verifier.verify(token)  # the key set is still fresh: trusted as before
    now[0] += 61  # the key set is refetched on the next use
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(token)
    assert jwks.calls >= 2


async def test_a_remembered_token_is_checked_for_its_type(verifier: JwtVerifier) -> None:
    token = sign(claims())
    await verifier.verify(token)
    with pytest.raises(InvalidToken, match="expected a refresh token"):
        await verifier.verify(token, expected_type="refresh")


def test_refuses_to_be_configured_with_symmetric_or_none() -> None:
    for algorithms in (["HS256"], ["none"], []):
        with pytest.raises(ValueError):
            JwtVerifier(Jwks(), issuer=ISS, audience=AUD, algorithms=algorithms)


async def test_dependency_takes_identity_only_from_the_bearer_token(verifier: JwtVerifier) -> None:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.jwt_verifier = verifier

    @app.get("/me")
    async def me(user_id: CurrentUserId) -> dict[str, str]:
        return {"user_id": str(user_id)}

    payload = claims()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        missing = await client.get("/me", headers={"X-User-Id": payload["sub"]})
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert missing.headers["content-type"] == "application/problem+json"
        bad = await client.get("/me", headers={"Authorization": "Bearer garbage"})
        assert bad.status_code == 401 and "invalid_token" in bad.headers["www-authenticate"]
        ok = await client.get("/me", headers={"Authorization": f"Bearer {sign(payload)}"})
        assert ok.json() == {"user_id": payload["sub"]}


async def test_a_key_retired_by_a_refresh_is_refused_at_once(jwks: Jwks) -> None:
    """Auth rotates: a token of its new key makes the verifier refresh within its cache
    time, and the refreshed set no longer has the old key. A token of the old key, verified
    and remembered before, is refused from then on, and so is one verified while the
    refresh was under way: nothing is answered from the memory of the old set."""
    now = [1000.0]
    verifier = JwtVerifier(
        jwks, issuer=ISS, audience=AUD, cache_seconds=300, monotonic=lambda: now[0]
    )
    old, racing = sign(claims()), sign(claims())
    await verifier.verify(old)
    await verifier.verify(old)  # remembered
    jwks.keys = [jwk_of(OTHER_RSA_KEY, "k2", "RS256")]  # k1 retired, k2 in use
    now[0] += 11  # past the refetch interval, well within the cache time
    released = asyncio.Event()
    fetch = verifier._fetch

    async def slow_fetch() -> dict[str, Any]:
        await released.wait()
        return await fetch()

    verifier._fetch = slow_fetch
    refreshing = asyncio.create_task(verifier.verify(sign(claims(), OTHER_RSA_KEY, "k2")))
    during = asyncio.create_task(verifier.verify(racing))
    await asyncio.sleep(0)
    released.set()
    assert (await refreshing).type == "access"
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await during
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(old)
    assert jwks.calls == 2


def test_a_held_token_s_claims_are_read_even_expired_and_never_from_garbage() -> None:
    """What a token web holds says of itself (its id, family, version), expired too: the
    revocations are checked against it; what is no token with every claim is refused."""
    issued = claims(exp=int(time.time()) - 60, fam="family-1", ver=3)
    held = held_token_claims(sign(issued))
    assert (held.jti, held.sub, held.raw["fam"], held.raw["ver"]) == (
        issued["jti"],
        issued["sub"],
        "family-1",
        3,
    )
    for garbage in ("not-a-token", sign(claims(jti=None)), "a.b.c"):
        with pytest.raises(InvalidToken):
            held_token_claims(garbage)

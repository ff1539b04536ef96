"""Signing keys (generated at first start, or configured) and the tokens they sign."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from taskflow_auth.keys.service import KeyStore, SigningKey, TokenIssuer
from taskflow_chassis.security import InvalidToken, JwtVerifier

PRIVATE = {"d", "p", "q", "dp", "dq", "qi"}


def issuer_for(
    keys: KeyStore, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> TokenIssuer:
    return TokenIssuer(
        keys,
        issuer="taskflow-auth",
        audience="taskflow",
        access_ttl=timedelta(minutes=15),
        refresh_ttl=timedelta(days=14),
        clock=clock,
    )


def verifier_for(issuer: TokenIssuer, algorithm: str = "RS256") -> JwtVerifier:
    return JwtVerifier(
        issuer.local_jwks_fetcher(),
        issuer="taskflow-auth",
        audience="taskflow",
        algorithms=[algorithm],
    )


def test_generated_at_first_start_and_reused(tmp_path: Path) -> None:
    first = KeyStore.load_or_create(data_dir=tmp_path)
    [path] = (tmp_path / "keys").glob("signing-*.pem")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert path.name == f"signing-{first.current.kid}.pem"
    second = KeyStore.load_or_create(data_dir=tmp_path)
    assert second.current.kid == first.current.kid
    assert len(list((tmp_path / "keys").glob("*.pem"))) == 1


def test_configured_pem_wins_and_nothing_is_written(tmp_path: Path) -> None:
    pem = SigningKey.generate("RS256").pem().decode()
    keys = KeyStore.load_or_create(data_dir=tmp_path, private_key_pem=pem)
    assert keys.current.pem().decode() == pem
    assert not (tmp_path / "keys").exists()
    file = tmp_path / "key.pem"
    file.write_text(pem)
    assert (
        KeyStore.load_or_create(data_dir=tmp_path, private_key_file=file).current.kid
        == keys.current.kid
    )


def test_jwks_is_public_only(tmp_path: Path) -> None:
    jwks = KeyStore.load_or_create(data_dir=tmp_path).jwks()
    [key] = jwks["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
    assert not PRIVATE & set(key)


def test_unsupported_algorithm(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        KeyStore.load_or_create(data_dir=tmp_path, algorithm="HS256")


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
async def test_issued_tokens_verify_end_to_end(tmp_path: Path, algorithm: str) -> None:
    issuer = issuer_for(KeyStore.load_or_create(data_dir=tmp_path, algorithm=algorithm))
    verifier = verifier_for(issuer, algorithm)
    user = uuid.uuid4()
    access = issuer.access_token(user, extra={"ver": 3})
    claims = await verifier.verify(access.token)
    assert claims.user_id == user and claims.jti == access.jti and claims.raw["ver"] == 3
    family = uuid.uuid4()
    refresh = issuer.refresh_token(user, family_id=family)
    assert (await verifier.verify(refresh.token, expected_type="refresh")).raw["fam"] == str(family)
    with pytest.raises(InvalidToken):
        await verifier.verify(refresh.token)  # not an access token


async def test_rotation_keeps_old_tokens_valid(tmp_path: Path) -> None:
    old_store = KeyStore.load_or_create(data_dir=tmp_path, algorithm="EdDSA")
    old_token = issuer_for(old_store).access_token(uuid.uuid4()).token
    rotated = KeyStore.load_or_create(data_dir=tmp_path, algorithm="RS256")
    assert rotated.current.algorithm == "RS256" and len(rotated.keys) == 2
    issuer = issuer_for(rotated)
    verifier = JwtVerifier(
        issuer.local_jwks_fetcher(),
        issuer="taskflow-auth",
        audience="taskflow",
        algorithms=["RS256", "EdDSA"],
    )
    await verifier.verify(old_token)
    await verifier.verify(issuer.access_token(uuid.uuid4()).token)


async def test_expired_token_is_refused(tmp_path: Path) -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    issuer = issuer_for(KeyStore.load_or_create(data_dir=tmp_path), clock=lambda: past)
    with pytest.raises(InvalidToken):
        await verifier_for(issuer).verify(issuer.access_token(uuid.uuid4()).token)

"""Signing keys (configured for production, generated at first start for development)
and the access and refresh tokens they sign.

Production passes a PEM private key by env (``AUTH_SIGNING_KEY_PEM``) or file
(``AUTH_SIGNING_KEY_FILE``), and with several replicas must (``AUTH_REQUIRE_SIGNING_KEY``
refuses to start without one). Without one, keys live in ``<data_dir>/keys/`` as
``signing-<kid>.pem`` (mode 0600): the newest signs, every one stays in the JWKS
so tokens signed before a rotation still verify.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm
from taskflow_chassis.deployment import PLACEHOLDER, UnsafeConfiguration
from taskflow_chassis.security import API_TOKEN_PREFIX, API_TOKEN_TYPE, JwksFetcher

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
ALGORITHMS = {"RS256": rsa.RSAPrivateKey, "EdDSA": ed25519.Ed25519PrivateKey}
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# `use` is set instead; RFC 7517 advises against carrying both.
DROPPED_MEMBERS = PRIVATE_MEMBERS | {"key_ops"}


def _public_jwk(key: PrivateKey) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    else:
        jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    return {k: v for k, v in jwk.items() if k not in DROPPED_MEMBERS}


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (base64url SHA-256 of the required members)."""
    required = {
        "RSA": ("e", "kty", "n"),
        "OKP": ("crv", "kty", "x"),
        "EC": ("crv", "kty", "x", "y"),
    }
    members = {name: jwk[name] for name in required[jwk["kty"]]}
    digest = hashlib.sha256(
        json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private_key: PrivateKey

    @classmethod
    def from_private_key(cls, key: PrivateKey) -> SigningKey:
        algorithm = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "EdDSA"
        return cls(kid=thumbprint(_public_jwk(key)), algorithm=algorithm, private_key=key)

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise ValueError("the signing key must be an RSA or Ed25519 private key")
        return cls.from_private_key(key)

    @classmethod
    def generate(cls, algorithm: str) -> SigningKey:
        if algorithm == "RS256":
            return cls.from_private_key(
                rsa.generate_private_key(public_exponent=65537, key_size=2048)
            )
        if algorithm == "EdDSA":
            return cls.from_private_key(ed25519.Ed25519PrivateKey.generate())
        raise ValueError(f"unsupported signing algorithm {algorithm!r}: use RS256 or EdDSA")

    def pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_jwk(self) -> dict[str, Any]:
        return {
            **_public_jwk(self.private_key),
            "kid": self.kid,
            "alg": self.algorithm,
            "use": "sig",
        }


class KeyStore:
    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("a key store needs at least one signing key")
        self.keys = keys

    @property
    def current(self) -> SigningKey:
        return self.keys[0]

    def get(self, kid: str) -> SigningKey | None:
        return next((key for key in self.keys if key.kid == kid), None)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [key.public_jwk() for key in self.keys]}

    @classmethod
    def load_or_create(
        cls,
        *,
        data_dir: Path,
        algorithm: str = "RS256",
        private_key_pem: str | None = None,
        private_key_file: Path | None = None,
        require_configured: bool = False,
    ) -> KeyStore:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unsupported signing algorithm {algorithm!r}: use RS256 or EdDSA")
        if require_configured and not private_key_pem and not private_key_file:
            # Replicas that each generated a key would refuse each other's tokens.
            raise UnsafeConfiguration(
                "auth: refusing to start: AUTH_REQUIRE_SIGNING_KEY is set (several replicas "
                "share one key) but neither AUTH_SIGNING_KEY_PEM nor AUTH_SIGNING_KEY_FILE is"
            )
        configured = private_key_file.read_bytes() if private_key_file else None
        if private_key_pem:
            configured = private_key_pem.encode()
        if configured is not None and configured.strip() == PLACEHOLDER.encode():
            raise UnsafeConfiguration(
                "auth: refusing to start: the signing key (AUTH_SIGNING_KEY_PEM or the file "
                "AUTH_SIGNING_KEY_FILE names) is still the placeholder; give a PEM private key"
            )
        if configured:
            return cls([SigningKey.from_pem(configured)])
        key_dir = data_dir / "keys"
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        stored = sorted(
            key_dir.glob("signing-*.pem"), key=lambda p: p.stat().st_mtime, reverse=True
        )
        keys = [SigningKey.from_pem(path.read_bytes()) for path in stored]
        keys = [key for key in keys if isinstance(key.private_key, ALGORITHMS[algorithm])] + [
            key for key in keys if not isinstance(key.private_key, ALGORITHMS[algorithm])
        ]
        if not keys or keys[0].algorithm != algorithm:
            new = SigningKey.generate(algorithm)
            _write_private(key_dir / f"signing-{new.kid}.pem", new.pem())
            keys.insert(0, new)
        return cls(keys)


def _write_private(path: Path, data: bytes) -> None:
    # Written whole then renamed: two processes starting at once never read half a key.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime


class TokenIssuer:
    def __init__(
        self,
        keys: KeyStore,
        *,
        issuer: str,
        audience: str,
        access_ttl: timedelta,
        refresh_ttl: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.clock = clock

    def _issue(
        self,
        user_id: uuid.UUID,
        kind: str,
        ttl: timedelta,
        extra: dict[str, Any],
        *,
        jti: str | None = None,
    ) -> IssuedToken:
        key = self.keys.current
        now = self.clock()
        expires_at = now + ttl
        jti = jti or uuid.uuid4().hex
        claims = {
            **extra,
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": jti,
            "type": kind,
        }
        token = jwt.encode(
            claims, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid}
        )
        return IssuedToken(token=token, jti=jti, expires_at=expires_at)

    def access_token(
        self, user_id: uuid.UUID, *, extra: dict[str, Any] | None = None
    ) -> IssuedToken:
        return self._issue(user_id, "access", self.access_ttl, extra or {})

    def refresh_token(self, user_id: uuid.UUID, *, family_id: uuid.UUID) -> IssuedToken:
        return self._issue(user_id, "refresh", self.refresh_ttl, {"fam": str(family_id)})

    def api_token(
        self,
        user_id: uuid.UUID,
        *,
        token_id: uuid.UUID,
        scopes: list[str],
        team_id: uuid.UUID | None,
        expires_at: datetime,
    ) -> IssuedToken:
        """A personal API token: ``tfp_`` and a JWT every service verifies from the JWKS,
        carrying its id (``jti``), scopes (``scp``) and team restriction (``team``)."""
        ttl = expires_at - self.clock()
        claims: dict[str, Any] = {"scp": scopes, "team": str(team_id) if team_id else None}
        issued = self._issue(user_id, API_TOKEN_TYPE, ttl, claims, jti=str(token_id))
        return IssuedToken(
            token=API_TOKEN_PREFIX + issued.token, jti=issued.jti, expires_at=issued.expires_at
        )

    def local_jwks_fetcher(self) -> JwksFetcher:
        async def fetch() -> dict[str, Any]:
            return dict(self.keys.jwks())

        return fetch

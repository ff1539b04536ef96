"""Issuing access and refresh tokens, signed with the key store's current key."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from taskflow_chassis.security import JwksFetcher

from taskflow_auth.keys import KeyStore


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
        self, user_id: uuid.UUID, kind: str, ttl: timedelta, extra: dict[str, Any]
    ) -> IssuedToken:
        key = self.keys.current
        now = self.clock()
        expires_at = now + ttl
        jti = uuid.uuid4().hex
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

    def local_jwks_fetcher(self) -> JwksFetcher:
        async def fetch() -> dict[str, Any]:
            return dict(self.keys.jwks())

        return fetch

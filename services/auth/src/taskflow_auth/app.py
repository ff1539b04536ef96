"""The auth service's composition root: its settings, adapters and routes."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from fastapi import FastAPI
from taskflow_chassis.app import ServiceSpec, create_service_app
from taskflow_chassis.db import Database
from taskflow_chassis.security import JwtVerifier, TokenClaims
from taskflow_chassis.serve import migrations_dir

from taskflow_auth import events, internal, scheduled, service
from taskflow_auth.config import AuthSettings, get_settings
from taskflow_auth.keys import KeyStore
from taskflow_auth.throttle import LoginThrottle, create_counter
from taskflow_auth.tokens import TokenIssuer
from taskflow_auth.views import routers


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    keys = KeyStore.load_or_create(
        data_dir=settings.data_dir / "auth",
        algorithm=settings.signing_algorithm,
        private_key_pem=settings.signing_key_pem,
        private_key_file=settings.signing_key_file,
        require_configured=settings.require_signing_key,
    )
    issuer = TokenIssuer(
        keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=timedelta(minutes=settings.access_token_minutes),
        refresh_ttl=timedelta(days=settings.refresh_token_days),
    )
    # Auth checks its own tokens against its own keys: no HTTP round trip to itself.
    verifier = JwtVerifier.from_settings(settings, issuer.local_jwks_fetcher())

    async def start(app: FastAPI) -> None:
        hasher = service.AuthContext.password_hasher(settings)
        app.state.auth_context = service.AuthContext(
            settings=settings,
            keys=keys,
            issuer=issuer,
            verifier=verifier,
            hasher=hasher,
            throttle=LoginThrottle.from_settings(
                create_counter(settings.throttle_redis_url, settings.throttle_key_prefix),
                settings,
            ),
            dummy_hash=await asyncio.to_thread(hasher.hash, "not-a-real-password"),
            hashing=ThreadPoolExecutor(settings.password_hash_threads, thread_name_prefix="argon2"),
        )
        app.state.jwt_verifier = verifier
        database: Database = app.state.database

        async def not_revoked(claims: TokenClaims) -> None:
            async with database.session() as session:
                await service.check_not_revoked(session, claims)

        app.state.token_checks = [not_revoked]

    async def stop(app: FastAPI) -> None:
        await app.state.auth_context.throttle.counter.close()
        app.state.auth_context.hashing.shutdown(wait=False)

    return create_service_app(
        ServiceSpec(
            name="auth",
            title="TaskFlow auth",
            description="Accounts, JWTs (JWKS), password reset and participant profiles.",
            settings=settings,
            routers=[*routers, internal.router],
            migrations_dir=migrations_dir(__file__),
            handlers=events.HANDLERS,
            jwks_fetcher=issuer.local_jwks_fetcher(),
            on_startup=[start, scheduled.start],
            on_shutdown=[scheduled.stop, stop],
            revocation_list=False,  # not_revoked reads auth's own database, always current
        )
    )

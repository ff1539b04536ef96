"""The auth service's composition root: its settings, adapters and routes."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from taskflow_chassis.app import ServiceSpec, StartupHook, create_service_app
from taskflow_chassis.db import Database
from taskflow_chassis.security import JwtVerifier, TokenClaims
from taskflow_chassis.serve import migrations_dir

from taskflow_auth.api_tokens import views as api_tokens
from taskflow_auth.api_tokens.service import UseRecorder
from taskflow_auth.config import AuthSettings
from taskflow_auth.credentials.service import Passwords
from taskflow_auth.deps import AuthDeps
from taskflow_auth.handlers import EVENT_HANDLERS
from taskflow_auth.keys import views as keys
from taskflow_auth.keys.service import KeyStore, TokenIssuer
from taskflow_auth.participants import views as participants
from taskflow_auth.sessions import scheduled
from taskflow_auth.sessions import views as sessions
from taskflow_auth.sessions.service import check_not_revoked
from taskflow_auth.throttle.adapters import create_counter
from taskflow_auth.throttle.service import LoginThrottle
from taskflow_auth.tokens import views as tokens
from taskflow_auth.users import views as users


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()
    signing_keys = KeyStore.load_or_create(
        data_dir=settings.data_dir / "auth",
        algorithm=settings.signing_algorithm,
        private_key_pem=settings.signing_key_pem,
        private_key_file=settings.signing_key_file,
        require_configured=settings.require_signing_key,
    )
    issuer = TokenIssuer(
        signing_keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=timedelta(minutes=settings.access_token_minutes),
        refresh_ttl=timedelta(days=settings.refresh_token_days),
    )
    # Auth checks its own tokens against its own keys: no HTTP round trip to itself.
    verifier = JwtVerifier.from_settings(settings, issuer.local_jwks_fetcher())

    return create_service_app(
        ServiceSpec(
            name="auth",
            title="TaskFlow auth",
            description=(
                "Accounts, JWTs (JWKS), personal API tokens, password reset and participant "
                "profiles."
            ),
            settings=settings,
            routers=[
                users.router,
                sessions.router,
                keys.router,
                participants.router,
                tokens.router,
                api_tokens.router,
            ],
            migrations_dir=migrations_dir(__file__),
            handlers=EVENT_HANDLERS,
            jwks_fetcher=issuer.local_jwks_fetcher(),
            on_startup=[_starter(settings, signing_keys, issuer, verifier), scheduled.start],
            on_shutdown=[scheduled.stop, _stop],
            revocation_list=False,  # not_revoked reads auth's own database, always current
        )
    )


def _starter(
    settings: AuthSettings, signing_keys: KeyStore, issuer: TokenIssuer, verifier: JwtVerifier
) -> StartupHook:
    """What auth builds as it starts: its dependencies (the password threads, the
    throttle's counters), and the revocation check of its own database."""

    async def start(app: FastAPI) -> None:
        database: Database = app.state.database
        app.state.auth_deps = AuthDeps(
            settings=settings,
            keys=signing_keys,
            issuer=issuer,
            verifier=verifier,
            passwords=await Passwords.start(settings),
            throttle=LoginThrottle.from_settings(
                create_counter(settings.throttle_redis_url, settings.throttle_key_prefix),
                settings,
            ),
            token_uses=UseRecorder(database, app.state.publisher),
        )
        app.state.jwt_verifier = verifier

        async def not_revoked(claims: TokenClaims) -> None:
            async with database.session() as session:
                await check_not_revoked(session, claims)

        app.state.token_checks = [not_revoked]

    return start


async def _stop(app: FastAPI) -> None:
    deps: AuthDeps = app.state.auth_deps
    await deps.throttle.counter.close()
    deps.passwords.close()

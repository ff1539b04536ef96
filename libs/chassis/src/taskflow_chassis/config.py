"""Settings base: every service reads its own env vars, prefixed by its name."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

SHARED_ENV_PREFIX = "TASKFLOW_"


class ServiceSettings(BaseSettings):
    """Common settings. A service subclasses it and sets ``env_prefix`` (``AUTH_``...).

    A value is read from the service's own prefix first (``AUTH_DATABASE_URL``), then
    from the shared ``TASKFLOW_`` prefix (``TASKFLOW_DATA_DIR``, ``TASKFLOW_EVENT_BUS_URL``),
    so one variable can configure every service of the embedded runtime.

    ``database_url`` defaults to a SQLite file in the data directory, and the bus to
    the in-memory one, so a fresh checkout runs with no servers at all.
    """

    model_config = SettingsConfigDict(env_prefix="TASKFLOW_", extra="ignore")

    service_name: str = "service"
    # "production" refuses to start with placeholder secrets (taskflow_chassis.deployment).
    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    event_bus_url: str = "memory://"
    # One topic exchange for every service; queues are named prefix + service name.
    event_exchange: str = "taskflow.events"
    event_queue_prefix: str = ""
    # The services whose Swagger UIs /docs offers, through the gateway's paths.
    docs_services: list[str] = Field(default_factory=lambda: ["auth", "teams", "work", "notify"])
    # Origins browsers may call the API from, comma-separated; empty: no CORS headers at all.
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    public_url: str = "http://127.0.0.1:8000"
    # JWT verification: every service checks tokens itself against auth's JWKS.
    jwks_url: str = "http://127.0.0.1:8000/api/v1/auth/jwks.json"
    jwt_issuer: str = "taskflow-auth"
    jwt_audience: str = "taskflow"
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["RS256"])
    jwks_cache_seconds: int = 300
    # Revoked tokens are loaded from auth at start and after a broker reconnect
    # (taskflow_chassis.revocation); empty: the JWKS URL's origin + /internal/v1/revocations.
    revocations_url: str = ""
    # The key services present to each other's /internal/v1 routes (X-Service-Key).
    internal_api_key: SecretStr = SecretStr("")
    relay_sweep_seconds: float = 2.0
    consumer_max_retries: int = 5
    consumer_retry_base_seconds: float = 0.5
    # Batches (taskflow_chassis.bus): the events waiting in a service's queue are applied
    # together, at most this many in one transaction, gathered for at most this long and only
    # while more keep arriving (a lone event is never held back). 1: one event at a time.
    consumer_batch_size: int = Field(default=50, ge=1, le=1000)
    consumer_batch_linger_ms: float = Field(default=5.0, ge=0, le=1000)
    # Under a stream, a queue's batches begin at least this far apart (an event after a quiet
    # spell goes at once): at tens of writes a second a batch then holds several writes'
    # events, not one (at a hundred and more, batches fill on their own).
    consumer_batch_gap_ms: float = Field(default=25.0, ge=0, le=1000)
    # RabbitMQ deliveries a consumer holds unacked at once (raised to the batch size if below).
    consumer_prefetch: int = Field(default=100, ge=1, le=10000)
    # Outbox rows the relay publishes per pass, all sent before their confirms are awaited.
    relay_batch_size: int = Field(default=200, ge=1, le=10000)
    # Under a stream of commits, the relay's passes begin at least this far apart (a commit
    # after a quiet spell is published at once): a pass then carries several writes' events.
    relay_gap_ms: float = Field(default=20.0, ge=0, le=1000)
    run_migrations_on_start: bool = True
    log_level: str = "INFO"
    log_json: bool = True
    # Connections per worker process: enough for the requests one worker serves at once,
    # so a burst never pays for new connections. No pre-ping: a connection found dead
    # fails one request (503) and makes the pool replace every connection as old.
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_pre_ping: bool = False
    # uvicorn: API worker processes, and one log line per request (off where load matters).
    workers: int = Field(default=1, ge=1, le=64)
    access_log: bool = True
    # How long an idle client connection stays open. Longer than the gateway keeps one for
    # reuse (serversTransport idleConnTimeout, 60 s in gateway/traefik.yml): at uvicorn's
    # 5 s, the gateway could send a request just as the service closes the connection,
    # and a POST it may not resend answers 502.
    keep_alive_seconds: int = Field(default=75, ge=1, le=3600)
    # On SIGTERM, how long open requests (a live stream never ends by itself) may finish
    # before uvicorn cancels them: a stop takes seconds, not until the last browser leaves.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=300)
    # A PATCH, PUT or DELETE of one resource without If-Match answers 428 (taskflow_chassis.etags).
    require_if_match: bool = False

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared = EnvSettingsSource(settings_cls, env_prefix=SHARED_ENV_PREFIX)
        return init_settings, env_settings, shared, dotenv_settings, file_secret_settings

    def resolved_revocations_url(self) -> str:
        if self.revocations_url:
            return self.revocations_url
        jwks = urlsplit(self.jwks_url)
        return urlunsplit((jwks.scheme, jwks.netloc, "/internal/v1/revocations", "", ""))

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{self.service_name}.db').resolve()}"

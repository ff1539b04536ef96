"""Web service settings (env prefix ``WEB_``, falling back to ``TASKFLOW_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from taskflow_chassis.config import ServiceSettings


class WebSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WEB_", extra="ignore")

    service_name: str = "web"
    # Where web calls the four services' public API (/api/v1/...): the gateway, like any
    # client. In make dev the embedded runtime hands web an in-process transport instead.
    api_url: str = "http://127.0.0.1:8000"
    api_timeout_seconds: float = Field(default=10.0, gt=0)
    # Off only where the gateway's certificate is self-signed on a private network (compose).
    api_verify_tls: bool = True
    # The address people open (its origin is what a form's Origin header must name);
    # TASKFLOW_PUBLIC_URL, the gateway's, by default.
    web_url: str = ""
    # A session ends after this long without a request, and at most this long after sign-in.
    session_idle_minutes: int = Field(default=60 * 24, ge=1)
    session_max_days: int = Field(default=14, ge=1)
    cookie_name: str = "taskflow_session"
    # The Fernet key (urlsafe base64 of 32 bytes) that encrypts the API tokens kept in
    # sessions. Production passes one (WEB_TOKEN_KEY or WEB_TOKEN_KEY_FILE); development
    # generates one under data_dir/web/keys at first run, never committed.
    token_key: SecretStr = SecretStr("")
    token_key_file: Path | None = None
    # Several replicas must share one key: set, web refuses to generate its own.
    require_token_key: bool = False
    # An access token expiring within this many seconds is refreshed before a call.
    refresh_margin_seconds: int = Field(default=30, ge=0)
    # Web's handlers only move the counters its kept pages hold to (replica/), and a change
    # made through web moves them at once: under a stream of others' changes, batches a
    # tenth of a second apart cost web a fraction of the CPU and a page no freshness a
    # person could see (an event after a quiet spell still goes at once).
    consumer_batch_gap_ms: float = Field(default=100.0, ge=0, le=1000)
    # Pages keep the API answers they read (and the board's rendered body) per person
    # until an event says their data changed (replica/). Off: every page asks the API.
    page_cache: bool = True
    # Where the generations live that every web process reads (Redis). Unset: in this
    # process's memory, which only the embedded runtime's one process can trust (its
    # in-memory bus hands it every event); with a broker and no Redis the cache is off.
    page_cache_redis_url: str | None = None
    page_cache_key_prefix: str = "taskflow:web:generation:"
    # A backstop: a kept answer is asked again after this long even without an event (an
    # event lost, or a name another service's replica had not yet taken in).
    page_cache_seconds: float = Field(default=30.0, gt=0)
    # Answers and bodies each process keeps at most (the least recently used go first).
    page_cache_entries: int = Field(default=500, ge=1)

    def resolved_web_url(self) -> str:
        return (self.web_url or self.public_url).rstrip("/")

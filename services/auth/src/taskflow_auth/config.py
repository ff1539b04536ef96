"""Auth service settings (env prefix ``AUTH_``, falling back to ``TASKFLOW_``)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from taskflow_chassis.config import ServiceSettings


def _usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class AuthSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    service_name: str = "auth"
    # Argon2id at the parameters of OWASP's Password Storage Cheat Sheet: 19 MiB, two
    # passes, one lane (about 20 ms of one core a hash here). A hash made with other
    # parameters is made again with these at its account's next log-in.
    password_hash_time_cost: int = Field(default=2, ge=2)
    password_hash_memory_kib: int = Field(default=19_456, ge=19_456)
    password_hash_parallelism: int = Field(default=1, ge=1)
    # Hashes one worker runs at once, on threads of their own (Argon2 lets go of the GIL),
    # each holding a core and its memory cost: by default the cores this process may use.
    password_hash_threads: int = Field(default_factory=_usable_cores, ge=1)
    # How long a hash (log-in, sign-up, password change or reset) waits for a thread
    # before its request answers 503 with Retry-After instead of piling up.
    password_hash_wait_seconds: float = Field(default=5.0, gt=0)
    access_token_minutes: int = 15
    refresh_token_days: int = 14
    # Production passes a key by env (PEM) or file; development generates one under data_dir.
    signing_algorithm: str = "RS256"
    signing_key_pem: str | None = None
    signing_key_file: Path | None = None
    # Several replicas must share one configured key: set, auth refuses to generate its own.
    require_signing_key: bool = False
    password_reset_minutes: int = 30
    password_reset_path: str = "/reset-password"
    # Email verification (sign-up, resend) and email change links.
    email_verify_minutes: int = Field(default=24 * 60, ge=1)
    email_verify_path: str = "/verify-email"
    # Verification and change links sent to one address per hour, whoever asks.
    email_verify_per_address_per_hour: int = Field(default=5, ge=1)
    # Log-in throttling (the rule is in throttle/service.py): Redis shared by the replicas, and
    # attempts that did not succeed per window, per account and address together, per
    # address (accounts never signed in from it), and per account from every address
    # (past which new addresses share one attempt per slowdown interval).
    throttle_redis_url: str | None = None
    # Where the counters live in that Redis (stacks sharing one Redis keep theirs apart).
    throttle_key_prefix: str = "taskflow:auth:login:"
    login_throttle_window_seconds: int = Field(default=900, ge=1)
    login_failures_per_account_address: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)
    login_failures_per_account: int = Field(default=10, ge=1)
    login_account_slowdown_seconds: int = Field(default=30, ge=1)
    login_known_address_days: int = Field(default=30, ge=1)
    # Reset emails per hour, per client address and per recipient (beyond: 202, no email).
    password_reset_per_address_per_hour: int = Field(default=3, ge=1)

"""Notify service settings (env prefix ``NOTIFY_``, falling back to ``TASKFLOW_``)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict
from taskflow_chassis.config import ServiceSettings


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore")

    service_name: str = "notify"
    # smtp://[user:password@]host:port[?tls=starttls|ssl], console://, file:///dir.
    # Empty: .eml files under <data_dir>/mail (the embedded default).
    email_url: str = ""
    email_from: str = "TaskFlow <no-reply@taskflow.local>"
    # Empty: Celery runs eagerly in this process (embedded); else e.g. redis://127.0.0.1:6379/0.
    celery_broker_url: str = ""
    celery_queue: str = "notify"
    # Seconds before an unacknowledged job goes back to the queue (a worker died mid-job).
    # No job waits in Redis for a later attempt (no countdowns): an email's next attempt
    # is kept in its row and the dispatcher queues it when due.
    celery_visibility_timeout: int = 300
    # A transient failure (SMTP 4xx, a dropped or refused connection, a timeout, a
    # database error) sends the email again after floor * 2^(attempts - 1) seconds, at
    # most max, jittered but never under the floor; it is failed only by a permanent SMTP
    # refusal (5xx) or once its first attempt is older than the horizon.
    email_retry_floor_seconds: float = Field(default=10.0, gt=0)
    email_retry_max_seconds: float = Field(default=1800.0, gt=0)
    email_retry_horizon_hours: float = Field(default=24.0, gt=0)
    # A queued email whose job has not started after this long is queued again (its job
    # was lost with Redis); a duplicate job is harmless, it finds the email taken.
    email_requeue_seconds: float = Field(default=45.0, gt=0)
    # A job holds an email this long while it sends it; a hold older than that belongs to
    # a worker that died mid-send and is taken over. Longer than any send can take.
    email_sending_lease_seconds: float = Field(default=120.0, gt=0)
    # At most this many emails in one job; the dispatcher queues whatever is due at once
    # (one email goes alone).
    email_job_size: int = Field(default=50, ge=1)
    # A job's emails go over this many SMTP connections at once, one after the other on
    # each: a send waits on the server's replies, and so does the record of it, so one
    # connection alone sends no faster than its round trips allow. Kept open from job to job.
    email_connections: int = Field(default=4, ge=1, le=32)
    # The reminder scan: Celery beat's period, and the embedded runtime's timer.
    reminder_scan_seconds: float = 60.0
    # True where no Celery beat runs (embedded): the app scans on its own timer.
    reminder_timer: bool = True
    default_reminder_lead_hours: int = 24
    # The live stream (GET /api/v1/notifications/stream): how often a stream looks for new
    # events, how long it stays silent before a heartbeat comment, and how long a client
    # waits before reconnecting (the ``retry:`` hint, milliseconds).
    live_poll_seconds: float = Field(default=0.5, gt=0)
    live_heartbeat_seconds: float = Field(default=15.0, gt=0)
    live_retry_ms: int = Field(default=2000, ge=0)
    # Live events are kept this long (a client reconnecting with an older cursor is told to
    # reload), and each process prunes older ones this often.
    live_retention_hours: float = Field(default=24.0, gt=0)
    live_prune_seconds: float = Field(default=300.0, gt=0)

    # Where the backfill asks teams (its internal API, with the internal API key) for the
    # permissions of members the replica never had them for (memberships applied before it
    # kept them), and how often it looks for such members.
    teams_url: str = "http://127.0.0.1:8000"
    teams_timeout_seconds: float = Field(default=3.0, gt=0)
    permissions_backfill_seconds: float = Field(default=30.0, gt=0)
    # Webhooks (webhooks/): the first retry after floor seconds, doubling up to max, jittered;
    # a delivery failing for the horizon is failed and disables its endpoint (an email to
    # the team's leaders). The delivery loop sweeps every sweep seconds besides being woken.
    webhook_retry_floor_seconds: float = Field(default=30.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_retry_horizon_hours: float = Field(default=24.0, gt=0)
    webhook_sweep_seconds: float = Field(default=5.0, gt=0)
    # Deliveries posted at once (to different endpoints; one endpoint's go one at a time).
    webhook_concurrency: int = Field(default=16, ge=1, le=256)
    webhook_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_max_response_bytes: int = Field(default=65536, ge=0)
    # How long the secret before a rotation keeps signing beside the new one (at most a week).
    webhook_rotation_grace_seconds: float = Field(default=86400.0, ge=0, le=604800)
    # Networks webhooks may reach though not public (comma-separated CIDRs): empty by default;
    # outside development nothing broader than a /24 (IPv6: /64). Tests name the loopback.
    webhook_allowed_networks: Annotated[
        list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode
    ] = Field(default_factory=list)
    # A CA bundle trusted besides the system's (a receiver with its own CA, the tests' one).
    webhook_ca_bundle: str = ""
    # The Fernet key that encrypts webhook signing secrets at rest. Production passes one
    # (NOTIFY_WEBHOOK_SECRET_KEY or NOTIFY_WEBHOOK_SECRET_KEY_FILE); development generates
    # one under data_dir/notify/keys at first run, never committed.
    webhook_secret_key: SecretStr = SecretStr("")
    webhook_secret_key_file: Path | None = None
    # Several replicas must share one key: set, notify refuses to generate its own.
    require_webhook_secret_key: bool = False

    @model_validator(mode="before")
    @classmethod
    def _split_networks(cls, values: object) -> object:
        if isinstance(values, dict):
            raw = values.get("webhook_allowed_networks")
            if isinstance(raw, str):
                values["webhook_allowed_networks"] = [
                    n.strip() for n in raw.split(",") if n.strip()
                ]
        return values

    @model_validator(mode="after")
    def _narrow_networks_outside_development(self) -> NotifySettings:
        broad = [
            n for n in self.webhook_allowed_networks if n.prefixlen < (24 if n.version == 4 else 64)
        ]
        if broad and self.environment != "development":
            raise ValueError(
                "NOTIFY_WEBHOOK_ALLOWED_NETWORKS: "
                f"{', '.join(map(str, broad))} is too broad outside development"
            )
        return self

    def resolved_email_url(self) -> str:
        if self.email_url:
            return self.email_url
        return f"file://{(self.data_dir / 'mail').resolve()}"

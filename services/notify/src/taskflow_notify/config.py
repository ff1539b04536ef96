"""Notify service settings (env prefix ``NOTIFY_``, falling back to ``TASKFLOW_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict
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
    celery_visibility_timeout: int = 300
    email_max_retries: int = 8
    # The reminder scan: Celery beat's period, and the embedded runtime's timer.
    reminder_scan_seconds: float = 60.0
    # True where no Celery beat runs (embedded): the app scans on its own timer.
    reminder_timer: bool = True
    default_reminder_lead_hours: int = 24

    def resolved_email_url(self) -> str:
        if self.email_url:
            return self.email_url
        return f"file://{(self.data_dir / 'mail').resolve()}"


@lru_cache
def get_settings() -> NotifySettings:
    return NotifySettings()

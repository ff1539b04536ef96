"""Teams service settings (env prefix ``TEAMS_``, falling back to ``TASKFLOW_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from taskflow_chassis.config import ServiceSettings


class TeamsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TEAMS_", extra="ignore")

    service_name: str = "teams"
    invitation_days: int = 7
    invitation_accept_path: str = "/invitations/accept"
    # The key services present to /internal/v1 (TEAMS_INTERNAL_API_KEY, or the shared
    # TASKFLOW_INTERNAL_API_KEY); empty: the internal API does not exist (404).
    internal_api_key: SecretStr = SecretStr("")
    # How long the security audit log keeps an entry (TEAMS_AUDIT_RETENTION_DAYS); an
    # hourly job deletes older ones, audit_purge_batch a transaction.
    audit_retention_days: int = Field(default=365, ge=1, le=36500)
    audit_purge_batch: int = Field(default=1000, ge=1, le=100_000)

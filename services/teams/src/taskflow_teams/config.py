"""Teams service settings (env prefix ``TEAMS_``, falling back to ``TASKFLOW_``)."""

from __future__ import annotations

from pydantic import SecretStr
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

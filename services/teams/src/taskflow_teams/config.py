"""Teams service settings (env prefix ``TEAMS_``, falling back to ``TASKFLOW_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict
from taskflow_chassis.config import ServiceSettings


class TeamsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TEAMS_", extra="ignore")

    service_name: str = "teams"
    invitation_days: int = 7
    invitation_accept_path: str = "/invitations/accept"


@lru_cache
def get_settings() -> TeamsSettings:
    return TeamsSettings()

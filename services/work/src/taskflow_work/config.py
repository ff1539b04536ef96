"""Work service settings (env prefix ``WORK_``, falling back to ``TASKFLOW_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict
from taskflow_chassis.config import ServiceSettings


class WorkSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WORK_", extra="ignore")

    service_name: str = "work"
    # Where to ask teams about a membership the replica does not know yet.
    teams_url: str = "http://127.0.0.1:8000"
    teams_timeout_seconds: float = 3.0
    # How long a read-through answer stands in for the membership event.
    read_through_cache_seconds: float = 60.0


@lru_cache
def get_settings() -> WorkSettings:
    return WorkSettings()

"""Work service settings (env prefix ``WORK_``, falling back to ``TASKFLOW_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
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
    # The key of teams' internal API (/internal/v1/memberships), which the replica is
    # resynced and rebuilt from: WORK_INTERNAL_API_KEY or the shared
    # TASKFLOW_INTERNAL_API_KEY, the same as teams'. Empty: no resync (a team whose events
    # came with a gap keeps reading through to teams).
    internal_api_key: SecretStr = SecretStr("")
    # How often every team's membership sequence is compared with teams' (a removal whose
    # event never came is caught by the next pass), and how soon a failed resync is retried.
    replica_reconcile_seconds: float = Field(default=30.0, gt=0)
    replica_retry_seconds: float = Field(default=5.0, gt=0)

"""Settings: the service prefix wins over the shared TASKFLOW_ prefix, which wins over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import SettingsConfigDict
from taskflow_chassis.config import ServiceSettings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")
    service_name: str = "demo"
    widgets: int = 3


def test_prefixes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TASKFLOW_EVENT_BUS_URL", "amqp://shared")
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DEMO_WIDGETS", "7")
    settings = DemoSettings()
    assert settings.event_bus_url == "amqp://shared"
    assert settings.widgets == 7
    assert settings.data_dir == tmp_path
    monkeypatch.setenv("DEMO_EVENT_BUS_URL", "memory://own")
    assert DemoSettings().event_bus_url == "memory://own"


def test_default_database_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = DemoSettings(data_dir=tmp_path / "data")
    url = settings.resolved_database_url()
    assert url.startswith("sqlite+aiosqlite:///") and url.endswith("data/demo.db")
    assert (tmp_path / "data").is_dir()

"""Deployment defaults: placeholder secrets stop a production start; CORS for listed origins."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict
from taskflow_chassis.config import ServiceSettings
from taskflow_chassis.deployment import (
    UnsafeConfiguration,
    apply_deployment_defaults,
    placeholder_settings,
)


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")
    service_name: str = "demo"
    email_url: str = "smtp://mail:25"
    api_key: SecretStr = SecretStr("")


def app_with(settings: ServiceSettings) -> FastAPI:
    app = FastAPI()

    @app.get("/thing")
    async def thing() -> dict[str, str]:
        return {"ok": "yes"}

    apply_deployment_defaults(app, settings)
    return app


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("database_url", "postgresql://taskflow_demo:change-me@postgres:5432/taskflow_demo"),
        ("event_bus_url", "amqp://taskflow:change-me@rabbitmq:5672/"),
        ("email_url", "smtp://user:change-me@mail:587"),
        ("api_key", SecretStr("change-me")),
    ],
)
def test_production_refuses_each_placeholder_and_names_it(field: str, value: object) -> None:
    overrides: dict[str, Any] = {field: value}
    settings = DemoSettings(environment="production", **overrides)
    assert placeholder_settings(settings) == [field]
    with pytest.raises(UnsafeConfiguration) as refused:
        app_with(settings)
    message = str(refused.value)
    assert f"DEMO_{field.upper()}" in message and "production" in message
    assert "taskflow_demo:" not in message  # never the value itself


def test_development_starts_with_placeholders_and_production_with_real_secrets() -> None:
    app_with(DemoSettings(event_bus_url="amqp://taskflow:change-me@rabbitmq:5672/"))
    real = DemoSettings(
        environment="production",
        event_bus_url="amqp://taskflow:s3cr3t-value@rabbitmq:5672/",
        api_key=SecretStr("a-long-random-key"),
    )
    assert placeholder_settings(real) == []
    app_with(real)


def test_environment_is_read_from_the_shared_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKFLOW_ENVIRONMENT", "production")
    monkeypatch.setenv("TASKFLOW_CORS_ALLOW_ORIGINS", "https://app.example.com, https://b.example")
    settings = DemoSettings()
    assert settings.environment == "production"
    assert settings.cors_allow_origins == ["https://app.example.com", "https://b.example"]
    monkeypatch.setenv("TASKFLOW_ENVIRONMENT", "staging-ish")
    with pytest.raises(ValueError, match="environment"):
        DemoSettings()


def test_cors_is_closed_by_default() -> None:
    client = TestClient(app_with(DemoSettings()))
    answer = client.get("/thing", headers={"Origin": "https://evil.example"})
    assert answer.status_code == 200
    assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
    preflight = client.options(
        "/thing",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_answers_only_the_listed_origins() -> None:
    client = TestClient(app_with(DemoSettings(cors_allow_origins=["https://app.example.com"])))
    allowed = client.get("/thing", headers={"Origin": "https://app.example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-credentials" not in allowed.headers
    preflight = client.options(
        "/thing",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert preflight.status_code == 200
    assert "PATCH" in preflight.headers["access-control-allow-methods"]
    other = client.get("/thing", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    refused = client.options(
        "/thing",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert refused.status_code == 400

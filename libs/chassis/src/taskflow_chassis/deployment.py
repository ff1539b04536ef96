"""Deployment defaults every service applies when its app is built.

Outside development (``TASKFLOW_ENVIRONMENT=production``) a service refuses to start
while a setting still holds the ``change-me`` placeholder of .env.example and the
cluster Secrets, as a value or as a URL's password. CORS is closed unless
``CORS_ALLOW_ORIGINS`` names origins: bearer tokens travel in a header, never in a
cookie, so no credentials mode is offered.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from fastapi import FastAPI
from pydantic import SecretStr
from starlette.middleware.cors import CORSMiddleware

from taskflow_chassis.config import ServiceSettings

logger = logging.getLogger("taskflow.deployment")

PLACEHOLDER = "change-me"
CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# If-Match and If-None-Match: a browser client sends the ETag it read (taskflow_chassis.etags);
# Idempotency-Key: it retries a POST safely (taskflow_chassis.idempotency).
CORS_HEADERS = [
    "Authorization",
    "Content-Type",
    "X-Correlation-Id",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
]


class UnsafeConfiguration(SystemExit):
    """Raised at start-up; its message is what the operator reads (no traceback)."""


def placeholder_settings(settings: ServiceSettings) -> list[str]:
    """The names of the settings that still hold the placeholder (never their values)."""
    found = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str):
            continue
        if value.strip() == PLACEHOLDER or _url_password(value) == PLACEHOLDER:
            found.append(name)
    return found


def _url_password(value: str) -> str | None:
    if "://" not in value:
        return None
    try:
        return urlsplit(value).password
    except ValueError:
        return None


def refuse_placeholder_secrets(settings: ServiceSettings) -> None:
    if settings.environment == "development":
        return
    found = placeholder_settings(settings)
    if found:
        prefix = type(settings).model_config.get("env_prefix", "TASKFLOW_")
        names = ", ".join(f"{prefix}{name.upper()}" for name in found)
        message = (
            f"{settings.service_name}: refusing to start in {settings.environment}: "
            f"{names} still hold the placeholder {PLACEHOLDER!r}; set real secrets "
            f"(or TASKFLOW_ENVIRONMENT=development on a development machine)"
        )
        logger.critical(message)
        raise UnsafeConfiguration(message)


def apply_deployment_defaults(app: FastAPI, settings: ServiceSettings) -> None:
    """Refuse placeholder secrets outside development; answer CORS only for listed origins."""
    refuse_placeholder_secrets(settings)
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            expose_headers=["X-Correlation-Id", "Location", "ETag", "Idempotent-Replayed"],
            max_age=600,
        )

"""Running one service on its own (the distributed runtime): ``python -m taskflow_<name>``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from fastapi import FastAPI

from taskflow_chassis.config import ServiceSettings
from taskflow_chassis.logs import configure_logging

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def serve(create_app: Callable[[SettingsT], FastAPI], settings: SettingsT) -> None:
    import uvicorn

    configure_logging(settings.log_level, json_lines=settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=os.environ.get("HOST", "0.0.0.0"),  # noqa: S104 - a container listens on all interfaces
        port=int(os.environ.get("PORT", "8000")),
        log_config=None,
        # Only the gateway's X-Forwarded-For is trusted, and only for the client IP (throttling).
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
    )


def migrations_dir(package_file: str) -> Path:
    """A service's Alembic scripts: inside its package when installed from a wheel,
    else ``services/<name>/migrations`` beside ``src/`` in the repository."""
    package = Path(package_file).parent
    bundled = package / "migrations"
    return bundled if bundled.is_dir() else package.parents[1] / "migrations"

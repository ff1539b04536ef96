"""Running one service on its own (the distributed runtime): ``python -m taskflow_<name>``."""

from __future__ import annotations

import gc
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI

from taskflow_chassis.config import ServiceSettings
from taskflow_chassis.edge import PROBLEM_HTTP_PROTOCOL
from taskflow_chassis.logs import configure_logging

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)

# Where a worker process finds the service's app factory ("module:function").
FACTORY_ENV = "TASKFLOW_SERVE_FACTORY"
GC_YOUNG_THRESHOLD = 10_000


def serve(create_app: Callable[[SettingsT], FastAPI], settings: SettingsT) -> None:
    """Serve the app on uvicorn with ``settings.workers`` processes.

    Several workers are spawned processes that each build the app from the same
    environment; each runs its own outbox relay and event consumer, which share the
    work through the database (``SKIP LOCKED``) and the broker's queue.
    """
    import uvicorn

    configure_logging(settings.log_level, json_lines=settings.log_json)
    options: dict[str, Any] = {
        "host": os.environ.get("HOST", "0.0.0.0"),  # noqa: S104 - a container listens on all interfaces
        "port": int(os.environ.get("PORT", "8000")),
        "log_config": None,
        "access_log": settings.access_log,
        # Only the gateway's X-Forwarded-For is trusted, and only for the client IP (throttling).
        "proxy_headers": True,
        "forwarded_allow_ips": trusted_proxies(settings),
        "http": PROBLEM_HTTP_PROTOCOL,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        "timeout_keep_alive": settings.keep_alive_seconds,
    }
    if settings.workers <= 1:
        app = create_app(settings)
        settle_garbage_collector()
        uvicorn.run(app, **options)
        return
    # Built once here first, so first-run files (auth's signing keys) exist before
    # the workers start and never race each other.
    create_app(settings)
    os.environ[FACTORY_ENV] = f"{create_app.__module__}:{create_app.__name__}"
    uvicorn.run(
        "taskflow_chassis.serve:worker_app", factory=True, workers=settings.workers, **options
    )


def trusted_proxies(settings: ServiceSettings) -> str:
    """``FORWARDED_ALLOW_IPS``: the proxies (addresses or networks) whose X-Forwarded-For
    names the client; from anyone else the header is ignored and the peer is the client.
    ``*`` would let every client pick the address it is throttled by: refused outside
    development."""
    value = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    if "*" in {part.strip() for part in value.split(",")} and settings.environment != "development":
        raise SystemExit(
            "FORWARDED_ALLOW_IPS='*' trusts X-Forwarded-For from every client; "
            "name the gateway's addresses or network instead."
        )
    return value


def worker_app() -> FastAPI:
    """One worker's app: the factory named by ``serve`` with settings from the environment."""
    module, _, name = os.environ[FACTORY_ENV].partition(":")
    factory: Callable[[], FastAPI] = getattr(importlib.import_module(module), name)
    app = factory()
    settings: ServiceSettings = app.state.settings
    configure_logging(settings.log_level, json_lines=settings.log_json)
    settle_garbage_collector()
    return app


def settle_garbage_collector() -> None:
    """Keep the objects of start-up (modules, routes, schemas) out of every later
    collection, and collect the young generation less often: on the hot paths the
    collector was a tenth of a worker's time."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def migrations_dir(package_file: str) -> Path:
    """A service's Alembic scripts: inside its package when installed from a wheel,
    else ``services/<name>/migrations`` beside ``src/`` in the repository."""
    package = Path(package_file).parent
    bundled = package / "migrations"
    return bundled if bundled.is_dir() else package.parents[1] / "migrations"

"""Run the notify service on its own (the distributed runtime): ``python -m taskflow_notify``."""

from __future__ import annotations

import os

import uvicorn
from taskflow_chassis.logs import configure_logging

from taskflow_notify.app import create_app
from taskflow_notify.config import get_settings


def main() -> None:
    settings = get_settings()
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


if __name__ == "__main__":
    main()

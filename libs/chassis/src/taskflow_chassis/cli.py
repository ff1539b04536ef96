"""A service's command line: ``python -m taskflow_<name> [command ...]``.

Without a command (or with ``serve``) the service's API runs, as before. The
chassis brings ``dlq`` (list, replay and purge parked events); a service adds its
own commands (work's ``replica``, notify's ``emails``) as async functions that
take the service's settings and the remaining arguments and answer an exit code.
Commands run with the same environment as the service, so they reach the same
database and broker.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI

from taskflow_chassis.config import ServiceSettings
from taskflow_chassis.logs import configure_logging

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)

Command = Callable[[Any, list[str]], Coroutine[Any, Any, int]]


def run_service(
    create_app: Callable[[SettingsT], FastAPI],
    settings: SettingsT,
    commands: Mapping[str, Command] | None = None,
    argv: Sequence[str] | None = None,
) -> None:
    """Serve the API, or run one command and exit with its code."""
    from taskflow_chassis.deadletters import dlq_command

    args = list(sys.argv[1:] if argv is None else argv)
    available: dict[str, Command] = {"dlq": dlq_command, **(commands or {})}
    if not args or args[0] == "serve":
        from taskflow_chassis.serve import serve

        serve(create_app, settings)
        return
    name, rest = args[0], args[1:]
    if name not in available:
        usage = " | ".join(["serve", *sorted(available)])
        print(
            f"usage: python -m taskflow_{settings.service_name} [{usage}] ...",
            file=sys.stderr,
        )
        raise SystemExit(0 if name in {"-h", "--help", "help"} else 2)
    # Operators read a command's log as text, not JSON lines.
    configure_logging(settings.log_level, json_lines=False)
    raise SystemExit(asyncio.run(available[name](settings, rest)))

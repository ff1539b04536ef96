"""``dlq``: a service's parked events, seen and replayed by an operator.

``python -m taskflow_<name> dlq list [--json]`` lists what ``<queue>.dlq`` holds
(event id, type, attempts, the error); ``dlq replay --all`` or ``--id ID ...``
puts events back into the service's queue with their retries reset (the inbox
makes a replay of an event already handled a no-op); ``dlq purge`` drops them.
It talks to the broker the service is configured with; the in-process bus of the
embedded runtime keeps its parked events inside that process only.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from taskflow_chassis.bus import DeadLetter, EventBus, create_bus
from taskflow_chassis.config import ServiceSettings

__all__ = ["dlq_command", "queue_name"]


def queue_name(settings: ServiceSettings) -> str:
    return settings.event_queue_prefix + settings.service_name


def _parser(service: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m taskflow_{service} dlq",
        description="List, replay or purge the events parked in this service's dead-letter queue.",
    )
    commands = parser.add_subparsers(dest="action", required=True)
    listing = commands.add_parser("list", help="what is parked, oldest first")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    for action, verb in (("replay", "put back into the queue"), ("purge", "drop for good")):
        command = commands.add_parser(action, help=f"{verb}: --all or --id ...")
        chosen = command.add_mutually_exclusive_group(required=True)
        chosen.add_argument("--all", action="store_true", help="every parked event")
        chosen.add_argument("--id", action="append", dest="ids", help="an event id (repeatable)")
    return parser


def _describe(letter: DeadLetter) -> dict[str, Any]:
    event = letter.event
    return {
        "id": letter.id,
        "type": event.type if event is not None else None,
        "time": event.time.isoformat() if event is not None else None,
        "attempts": letter.attempts,
        "error": letter.error,
    }


async def dlq_command(settings: ServiceSettings, argv: list[str]) -> int:
    args = _parser(settings.service_name).parse_args(argv)
    bus: EventBus = create_bus(settings.event_bus_url, exchange=settings.event_exchange)
    if settings.event_bus_url.startswith("memory"):
        print(
            "the in-process bus keeps parked events inside the running process; "
            "see its /readyz and logs",
            file=sys.stderr,
        )
        return 1
    queue = queue_name(settings)
    await bus.connect()
    try:
        if args.action == "list":
            letters = await bus.dead_letters(queue)
            for letter in letters:
                described = _describe(letter)
                if args.json:
                    print(json.dumps(described))
                else:
                    print(
                        f"{described['id']}  {described['type']}  attempts={letter.attempts}"
                        f"  {letter.error}"
                    )
            if not args.json:
                print(f"{len(letters)} parked in {queue}.dlq")
            return 0
        ids = None if args.all else args.ids
        if args.action == "replay":
            count = await bus.replay_dead_letters(queue, ids)
            print(f"replayed {count} into {queue}")
        else:
            count = await bus.purge_dead_letters(queue, ids)
            print(f"purged {count} from {queue}.dlq")
        if ids is not None and count < len(set(ids)):
            print(f"{len(set(ids)) - count} of the ids were not parked", file=sys.stderr)
            return 1
        return 0
    finally:
        await bus.close()

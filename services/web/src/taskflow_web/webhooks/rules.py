"""Pure rules of the webhook pages: the permission they need, the "every type" choice, and
how a delivery's last attempt reads (no API, no request)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The catalogue's name (GET /api/v1/permissions): what every webhook page needs.
WEBHOOKS_MANAGE = "webhooks.manage"
# The event types an endpoint may name, or this for every one (now and later).
ALL_EVENTS = "*"


def chosen_types(event_types: list[str]) -> list[str]:
    """What the form's boxes send as the API's ``event_types``: "*" alone when ticked."""
    return [ALL_EVENTS] if ALL_EVENTS in event_types else event_types


def short_type(event_type: str) -> str:
    """``taskflow.work.task.created.v1`` as a list shows it: ``work.task.created``."""
    parts = event_type.removeprefix("taskflow.").split(".")
    return ".".join(parts[:-1]) if parts and parts[-1].startswith("v") else ".".join(parts)


def last_attempt(delivery: Mapping[str, Any]) -> str:
    """A delivery's last attempt in words: its answer (or why there was none) and latency."""
    if not delivery.get("attempts"):
        return "not tried yet"
    code = delivery.get("last_status_code")
    answer = f"HTTP {code}" if code is not None else "no answer"
    latency = delivery.get("last_latency_ms")
    timing = f" in {latency} ms" if latency is not None else ""
    return f"{answer}{timing}"

"""The stream's wire format (Server-Sent Events) and its cursor, without a database."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# The event types a stream sends (docs/http-api.md).
NOTIFICATION = "notification"
TASK_CHANGED = "task.changed"
UNREAD = "unread"
RESET = "reset"

TASK_CHANGES = frozenset({"created", "updated", "assigned", "unassigned", "commented", "deleted"})

# A cursor is a user's event number: digits, and no more than a BIGINT holds.
MAX_CURSOR_DIGITS = 18


def parse_cursor(text: str | None) -> int | None:
    """``Last-Event-ID`` as a number; None when absent (or blank, as a browser sends after
    an event without an id); ValueError when it is no cursor this service gave."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > MAX_CURSOR_DIGITS:
        raise ValueError(f"not a stream cursor: {text[:40]!r}")
    return int(text)


def frame(event: str, data: Mapping[str, Any], event_id: int | None = None) -> str:
    """One event: its ``id:`` (the cursor a reconnecting client sends back), its type and its
    data as one line of JSON (JSON escapes every line break inside its strings)."""
    lines = [] if event_id is None else [f"id: {event_id}"]
    lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(lines) + "\n\n"


def retry(milliseconds: int) -> str:
    """How long a client waits before reconnecting once the stream ends."""
    return f"retry: {milliseconds}\n\n"


HEARTBEAT = ": keep-alive\n\n"

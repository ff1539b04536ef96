"""Pure rules of the notification pages: where an item leads, how the badge reads, and the
Server-Sent Events wire format the relay passes on (ids kept, so the browser's
``Last-Event-ID`` is notify's own cursor)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

# The badge counts this many unread notifications at most ("99+" beyond).
BADGE_LIMIT = 99
# Upstream ids are notify's cursors: digits, and never longer than this.
MAX_EVENT_ID = 64


def href_of(notification: Mapping[str, Any]) -> str | None:
    """The page of this app a notification opens: its ``link`` as a path on this site
    (links are TaskFlow's public address; only the path and query are kept, so no link
    leaves the site; a backslash is a slash to a browser), else the task or team it is
    about, else none."""
    link = notification.get("link")
    if isinstance(link, str) and link:
        parts = urlsplit(link)
        path = parts.path.replace("\\", "/")
        if path.startswith("/") and not path.startswith("//"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    for key, page in (("task_id", "/tasks/{}"), ("team_id", "/teams/{}")):
        value = notification.get(key)
        if value:
            try:
                return page.format(uuid.UUID(str(value)))
            except ValueError:
                continue
    return None


def badge_text(count: int, more: bool = False) -> str:
    """What the badge shows: nothing for none, the number, or "99+"."""
    if count <= 0 and not more:
        return ""
    if more or count > BADGE_LIMIT:
        return f"{BADGE_LIMIT}+"
    return str(count)


def actor_name(notification: Mapping[str, Any]) -> str:
    actor = notification.get("actor")
    if not isinstance(actor, Mapping):
        return ""
    return str(actor.get("display_name") or actor.get("username") or "")


def safe_event_id(value: str | None) -> str | None:
    """A browser's ``Last-Event-ID`` as passed upstream: a short line of printable ASCII,
    else none (notify answers a cursor it never gave with ``reset``)."""
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > MAX_EVENT_ID or not value.isascii() or not value.isprintable():
        return None
    return value


def split_events(buffer: str) -> tuple[list[str], str]:
    """Whole events (blocks ending in a blank line, comments included) and the rest still
    arriving. Line ends are normalised to ``\\n`` as the SSE format allows."""
    buffer = buffer.replace("\r\n", "\n").replace("\r", "\n")
    *blocks, rest = buffer.split("\n\n")
    return [block + "\n\n" for block in blocks], rest


def event_id_of(block: str) -> str | None:
    """The ``id:`` field of one event block, if it has one."""
    for line in block.split("\n"):
        name, _, value = line.partition(":")
        if name == "id":
            return value.removeprefix(" ")
    return None


# Events that tell the person something changed (the live toast, a card moving).
CHANGE_EVENTS = frozenset({"notification", "task.changed"})


def tells_a_change(block: str) -> bool:
    """Whether one event block is a change the person is about to be shown."""
    for line in block.split("\n"):
        name, _, value = line.partition(":")
        if name == "event":
            return value.removeprefix(" ") in CHANGE_EVENTS
    return False


def comment(text: str) -> str:
    return f": {text}\n\n"

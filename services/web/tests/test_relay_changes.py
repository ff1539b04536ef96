"""A change the live stream tells the browser makes the person's kept pages stale before
the browser hears of it, so the page it opens next is fresh (web's own copy of the event
may still be on its way)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from taskflow_web.notifications import rules
from taskflow_web.notifications.service import Relay

BLOCKS = [
    ": connected\n\n",
    'id: 1\nevent: unread\ndata: {"unread_count": 0}\n\n',
    'id: 2\nevent: notification\ndata: {"title": "Assigned"}\n\n',
    'id: 3\nevent: task.changed\ndata: {"change": "updated"}\n\n',
]


def test_the_events_that_tell_a_change() -> None:
    assert [rules.tells_a_change(block) for block in BLOCKS] == [False, False, True, True]


class OneConnection(Relay):
    async def _connection(self) -> AsyncIterator[str]:
        for block in BLOCKS:
            yield block
        self.finished = True

    def _due(self) -> bool:
        return False


async def test_the_pages_are_stale_before_the_browser_hears_of_a_change() -> None:
    seen: list[str] = []

    async def changed() -> None:
        seen.append("stale")

    api: Any = object()
    relay = OneConnection(
        api, None, margin_seconds=30, check_seconds=1, headers={}, on_change=changed
    )
    async for block in relay.events():
        seen.append(block.split("\n")[0])
    assert seen == [": connected", "id: 1", "stale", "id: 2", "stale", "id: 3"]

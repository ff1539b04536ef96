"""The notification pages through notify's public API: the feed as view models, marking
read, the preferences, the unread badge of every signed-in page, and the relay of the live
stream (GET /events) with the person's token, refreshed as it runs out."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from taskflow_web.api.adapters import ApiProblem, ApiUnavailable
from taskflow_web.api.service import Api, SignInRequired
from taskflow_web.notifications import adapters, rules
from taskflow_web.sessions import rules as session_rules

NOTIFICATIONS = "/api/v1/notifications"
PREFERENCES = f"{NOTIFICATIONS}/preferences"
FEED_PAGE = 20
PREFERENCE_FIELDS = ("email_on_assignment", "email_on_comment", "email_reminders")
LEAD_FIELD = "reminder_lead_hours"


@dataclass(frozen=True)
class Item:
    """One notification as the feed shows it."""

    id: str
    title: str
    body: str
    href: str | None
    unread: bool
    created_at: str
    when: str
    actor: str


def item_of(notification: dict[str, Any]) -> Item:
    created = str(notification.get("created_at") or "")
    return Item(
        id=str(notification["id"]),
        title=str(notification.get("title") or ""),
        body=str(notification.get("body") or ""),
        href=rules.href_of(notification),
        unread=notification.get("read_at") is None,
        created_at=created,
        when=_when(created),
        actor=rules.actor_name(notification),
    )


def _when(stamp: str) -> str:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    return moment.strftime("%d %b %Y, %H:%M UTC")


async def feed(
    api: Api, cursor: str | None, unread_only: bool, limit: int | None = None
) -> tuple[list[Item], str | None]:
    """A page of the feed, newest first, and the cursor of the next one."""
    params: dict[str, Any] = {"limit": limit or FEED_PAGE}
    if cursor:
        params["cursor"] = cursor
    if unread_only:
        params["unread"] = "true"
    page: dict[str, Any] = await api.get(NOTIFICATIONS, params=params)
    return [item_of(n) for n in page.get("items", [])], page.get("next_cursor")


async def mark_read(api: Api, notification_id: uuid.UUID) -> Item:
    return item_of(await api.post(f"{NOTIFICATIONS}/{notification_id}/read"))


async def mark_all_read(api: Api) -> int:
    answer: dict[str, Any] = await api.post(f"{NOTIFICATIONS}/read-all")
    return int(answer.get("marked", 0))


# Two tabs (or people sharing an account) saving from stale pages: the second is told.
STALE = "These settings were changed elsewhere since this page was shown. Reload it to see them."


async def preferences(api: Api) -> tuple[dict[str, Any], str]:
    """The preferences and their version (``ETag``), which the form sends back."""
    found, tag = await api.get_tagged(PREFERENCES)
    return dict(found), tag or ""


async def save_preferences(api: Api, values: dict[str, Any], version: str) -> dict[str, Any]:
    """Every preference at once (a PATCH of all four) on the version the page showed
    (``If-Match``: 412 when changed since): the lead time as typed when it is no whole
    number, so the API's message says what is wrong with it."""
    body: dict[str, Any] = {name: bool(values.get(name)) for name in PREFERENCE_FIELDS}
    lead = str(values.get(LEAD_FIELD, "")).strip()
    body[LEAD_FIELD] = int(lead) if lead.isdigit() else (lead or None)
    saved: dict[str, Any] = await api.call(
        "PATCH", PREFERENCES, json=body, headers={"If-Match": version} if version else None
    )
    return saved


# --- the unread badge --------------------------------------------------------------------


class UnreadBadge:
    """The layout's unread count: one call to notify per page (the first unread page,
    counted), kept for ``seconds`` per person so a burst of pages makes one call; marking
    read here forgets it at once, and the live stream keeps an open page in step."""

    def __init__(self, seconds: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.clock = seconds, clock
        self._kept: dict[uuid.UUID, tuple[float, int, bool]] = {}

    def forget(self, user_id: uuid.UUID | None) -> None:
        if user_id is not None:
            self._kept.pop(user_id, None)

    async def count(self, api: Api) -> tuple[int, bool]:
        """The unread count up to ``rules.BADGE_LIMIT``, and whether there are more."""
        user_id = api.session.user_id
        assert user_id is not None
        now = self.clock()
        kept = self._kept.get(user_id)
        if kept is not None and now - kept[0] < self.seconds:
            return kept[1], kept[2]
        page: dict[str, Any] = await api.get(
            NOTIFICATIONS, params={"unread": "true", "limit": rules.BADGE_LIMIT}
        )
        counted = (len(page.get("items", [])), bool(page.get("next_cursor")))
        if len(self._kept) > 10_000:  # a bound, not a policy: the oldest go first
            self._kept.pop(next(iter(self._kept)))
        self._kept[user_id] = (now, *counted)
        return counted

    async def layout(self, api: Api) -> dict[str, Any]:
        """The layout's ``unread`` (what the badge shows); a page never fails for it."""
        try:
            count, more = await self.count(api)
        except (ApiProblem, ApiUnavailable):
            return {"unread": ""}
        return {"unread": rules.badge_text(count, more)}


# --- the live stream ---------------------------------------------------------------------

SIGNED_OUT = "event: signed-out\ndata: {}\n\n"
# After an upstream that ended for no reason web knows (notify restarting), a pause; after
# this many in a row that relayed nothing, the browser's own reconnection takes over.
RECONNECT_PAUSE = 0.5
EMPTY_TRIES = 3


class Relay:
    """Notify's stream for the signed-in person, passed on event by event with notify's
    ids (so the browser's ``Last-Event-ID`` is notify's cursor). When the access token is
    about to run out, the upstream is ended, the token refreshed and the stream opened
    again after the last id passed on: nothing lost, nothing twice."""

    def __init__(
        self,
        api: Api,
        last_event_id: str | None,
        *,
        margin_seconds: int,
        check_seconds: float,
        headers: dict[str, str],
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.api = api
        self.on_change = on_change
        self.last_event_id = rules.safe_event_id(last_event_id)
        self.margin = margin_seconds
        self.check_seconds = check_seconds
        self.headers = headers
        self.connections = 0  # upstream streams opened (one more after each refresh)
        self.refused = False  # the last upstream answered 401: refresh, then once more
        self.finished = False  # the upstream refused for good (not 401): the browser retries

    def _due(self) -> bool:
        return session_rules.needs_refresh(
            self.api.clock(), self.api.session.access_expires_at, self.margin
        )

    async def _refresh(self) -> None:
        refreshed = await self.api.store.refresh(self.api.session, self.api.exchange)
        if refreshed is None:
            raise SignInRequired()
        self.api.session = refreshed

    async def events(self) -> AsyncIterator[str]:
        empty = 0
        try:
            while empty < EMPTY_TRIES and not self.finished:
                relayed = 0
                async for block in self._connection():
                    relayed += 1
                    if self.on_change is not None and rules.tells_a_change(block):
                        # Before the browser hears of it: the page it opens next is fresh,
                        # even if web's own copy of the event is still on its way.
                        await self.on_change()
                    yield block
                if self._due() or self.refused:
                    continue  # ended to refresh the token: again at once
                empty = 0 if relayed else empty + 1
                await asyncio.sleep(RECONNECT_PAUSE)
        except SignInRequired:
            yield SIGNED_OUT
        except ApiUnavailable:
            return  # the browser reconnects after notify's retry hint

    async def _connection(self) -> AsyncIterator[str]:
        """One upstream stream, relayed until it ends or the token is due."""
        if self._due() or self.refused:
            await self._refresh()
        token = self.api.session.access_token
        if token is None:
            raise SignInRequired()
        async with adapters.open_stream(
            self.api.client, token, self.last_event_id, self.headers
        ) as upstream:
            if upstream.status_code == 401:
                if self.refused:  # refused right after a refresh: the sign-in is over
                    raise SignInRequired()
                self.refused = True
                return
            self.refused = False
            if upstream.status_code != 200:
                self.finished = True
                return
            self.connections += 1
            async for block in self._relay(upstream):
                yield block

    async def _relay(self, upstream: httpx.Response) -> AsyncIterator[str]:
        """Events until the upstream ends or the token is due for a refresh."""
        chunks = adapters.Chunks(upstream)
        buffer = ""
        try:
            while True:
                text = await chunks.next(self.check_seconds)
                if text is None:
                    return
                buffer += text
                blocks, buffer = rules.split_events(buffer)
                for block in blocks:
                    event_id = rules.event_id_of(block)
                    if event_id is not None:
                        self.last_event_id = event_id
                    yield block
                if self._due():
                    return
        finally:
            await chunks.close()

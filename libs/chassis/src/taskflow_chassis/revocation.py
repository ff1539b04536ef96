"""Revoked tokens, known to every process without asking auth per request.

Auth publishes ``taskflow.auth.tokens.revoked.v1`` for every revocation: one
access token (log-out), a refresh family (log-out, a reused refresh token: access
tokens carry their family as ``fam``), or a user's tokens below a ``ver`` (a
password change or reset) or all of them (a deleted account); a personal API token
is revoked by its id (``jti``) and with its account. Each process keeps
the still-relevant ones in a ``RevocationList`` (dicts; an entry is forgotten once
no token it covers can still be valid), fed by a broadcast subscription (every
process, not one per service), and checked after each token's signature: a dict
lookup or three, no I/O.

Whatever a process may have missed (it was starting, or its broker connection was
down) it loads from auth's ``/internal/v1/revocations`` when it starts and after
every reconnect, subscription first so nothing falls in between; while auth cannot
answer it keeps trying in the background and logs a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from taskflow_chassis.bus import EventBus
from taskflow_chassis.events import CloudEvent
from taskflow_chassis.problems import ProblemError
from taskflow_chassis.security import SERVICE_KEY_HEADER, InvalidToken, TokenClaims

__all__ = [
    "REVOCATIONS_PATH",
    "TOKENS_REVOKED",
    "RevocationList",
    "RevocationSync",
    "http_revocation_loader",
]

logger = logging.getLogger("taskflow.revocation")

TOKENS_REVOKED = "taskflow.auth.tokens.revoked.v1"
REVOCATIONS_PATH = "/internal/v1/revocations"
# Expired entries are swept at most this often (lookups never need it: an entry
# outlives every token it covers).
PRUNE_INTERVAL_SECONDS = 60.0
RELOAD_MAX_DELAY_SECONDS = 30.0
UNLOADED_RETRY_AFTER_SECONDS = 5

RevocationLoader = Callable[[], Awaitable[list[dict[str, Any]]]]


class RevocationList:
    """What auth revoked and what it still matters for, by token id, family and user."""

    def __init__(self, clock: Callable[[], float] = time.time, *, complete: bool = True) -> None:
        """``complete`` False: the list still lacks what auth revoked before this process
        started (set True by the first load of auth's list)."""
        self._clock = clock
        self.complete = complete
        self._tokens: dict[str, float] = {}  # jti -> until
        self._families: dict[str, float] = {}  # fam -> until
        # user id -> (tokens whose ver is below this die: inf for all, until)
        self._users: dict[str, tuple[float, float]] = {}
        self._pruned_at = clock()

    def __len__(self) -> int:
        return len(self._tokens) + len(self._families) + len(self._users)

    def add(self, fact: Mapping[str, Any]) -> None:
        """One revocation as auth publishes it (``TokensRevoked``); malformed: ValueError."""
        try:
            scope, key = str(fact["scope"]), str(fact["key"])
            until = _timestamp(fact["expires_at"])
            min_version = fact.get("min_version")
            below = math.inf if min_version is None else float(int(min_version))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a token revocation: {exc!r}") from exc
        now = self._clock()
        if until <= now:
            return
        if scope == "token":
            self._tokens[key] = max(until, self._tokens.get(key, until))
        elif scope == "family":
            self._families[key] = max(until, self._families.get(key, until))
        elif scope == "user":
            known_below, known_until = self._users.get(key, (below, until))
            self._users[key] = (max(below, known_below), max(until, known_until))
        else:
            raise ValueError(f"unknown revocation scope {scope!r}")
        if now - self._pruned_at > PRUNE_INTERVAL_SECONDS:
            self._prune(now)

    def is_revoked(self, claims: TokenClaims) -> bool:
        if claims.jti in self._tokens:
            return True
        raw = claims.raw
        family = raw.get("fam")
        if family is not None and family in self._families:
            return True
        user = self._users.get(claims.sub)
        if user is None:
            return False
        if claims.is_api_token:
            # A personal API token outlives a password change (revoked on its own, by id)
            # and dies with its account.
            return user[0] == math.inf
        version = raw.get("ver")
        return not isinstance(version, int) or version < user[0]

    async def check(self, claims: TokenClaims) -> None:
        """A ``TokenCheck``: InvalidToken for a revoked or superseded token. Until auth's
        list is loaded, a personal API token gets 503: it may live a year, and one revoked
        before this process started (while auth is away) would pass. A session's access
        token still passes: it lives minutes, and refusing it would stop everyone."""
        if self.is_revoked(claims):
            raise InvalidToken("token revoked")
        if not self.complete and claims.is_api_token:
            raise ProblemError(
                503,
                "Service unavailable",
                "Personal API tokens are accepted once this service has loaded the revoked "
                "ones from auth, in a moment; try again.",
                type="service-unavailable",
                headers={"Retry-After": str(UNLOADED_RETRY_AFTER_SECONDS)},
            )

    def _prune(self, now: float) -> None:
        self._pruned_at = now
        for table in (self._tokens, self._families):
            for key in [k for k, until in table.items() if until <= now]:
                del table[key]
        for key in [k for k, (_, until) in self._users.items() if until <= now]:
            del self._users[key]


def _timestamp(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError("expires_at has no time zone")
    return parsed.timestamp()


def http_revocation_loader(
    url: str,
    key: SecretStr,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 5.0,
) -> RevocationLoader:
    """Auth's still-relevant revocations, read with the internal API key."""

    async def load() -> list[dict[str, Any]]:
        if not key.get_secret_value():
            raise RuntimeError(
                "no internal API key: set TASKFLOW_INTERNAL_API_KEY to auth's to load revocations"
            )
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            response = await client.get(url, headers={SERVICE_KEY_HEADER: key.get_secret_value()})
            response.raise_for_status()
            items: list[dict[str, Any]] = response.json()["items"]
            return items

    return load


class RevocationSync:
    """Keeps a process's ``RevocationList`` current: auth's events as they come, auth's
    list at start and after each reconnect of the broadcast subscription."""

    def __init__(
        self,
        revocations: RevocationList,
        load: RevocationLoader,
        *,
        service: str,
        first_retry_seconds: float = 1.0,
    ) -> None:
        self.revocations = revocations
        self._load = load
        self.service = service
        self.first_retry_seconds = first_retry_seconds
        self._reload: asyncio.Task[None] | None = None
        self._again = False
        self._subscribed: EventBus | None = None
        self._tried = asyncio.Event()  # set once a load succeeded or failed
        self.loads = 0  # successful loads, for tests and logs

    async def subscribe(self, bus: EventBus) -> None:
        """Listen to auth's revocations on this process's own subscription, then catch up."""
        if self._subscribed is bus:
            return
        await bus.subscribe_broadcast([TOKENS_REVOKED], self.on_event, on_reconnected=self.reload)
        self._subscribed = bus
        self.reload()

    async def settle(self, timeout: float) -> None:  # noqa: ASYNC109 - waits on a task, no I/O
        """Wait up to ``timeout`` for the first load to succeed or fail (start-up: so a
        process serves knowing what auth revoked, unless auth is away)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._tried.wait(), timeout)

    async def on_event(self, event: CloudEvent) -> None:
        try:
            self.revocations.add(event.data)
        except ValueError:
            logger.error("%s: ignored a malformed revocation %s", self.service, event.id)

    def reload(self) -> None:
        """Load auth's list in the background (once more if a load is already running,
        since it may have started before what it must now cover)."""
        if self._reload is not None and not self._reload.done():
            self._again = True
            return
        self._reload = asyncio.get_running_loop().create_task(
            self._reload_until_loaded(), name=f"{self.service}:revocations"
        )

    async def load_once(self) -> None:
        items = await self._load()
        for item in items:
            self.revocations.add(item)
        self.revocations.complete = True
        self.loads += 1

    async def _reload_until_loaded(self) -> None:
        delay = self.first_retry_seconds
        while True:
            self._again = False
            try:
                await self.load_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._tried.set()
                logger.warning(
                    "%s: cannot load revoked tokens from auth (%s: %s); trying again in %.0f s",
                    self.service,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                if self.revocations.complete:
                    delay = min(delay * 2, RELOAD_MAX_DELAY_SECONDS)
                # else: personal API tokens wait for this load (503): keep asking every second.
                continue
            self._tried.set()
            if not self._again:
                return

    async def stop(self) -> None:
        if self._reload is not None:
            self._reload.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reload

"""Log-in throttling and per-address caps, counted in Redis or in process memory.

The log-in rule (OWASP's credential-stuffing guidance: nobody elsewhere can lock an
account's owner out, and one address cannot try many accounts):

- one account from one address: at most ``per_account_address`` attempts that did not
  succeed per window (counted before the password is checked, so attempts fired
  together cannot overshoot); a success clears it;
- one address, any accounts: at most ``per_address`` attempts that did not succeed
  per window, except for accounts that have signed in from this address before;
- one account, all addresses: past ``per_account`` failures in a window, addresses
  the account never signed in from share one attempt per ``account_slowdown_seconds``
  (a delay, not a lock); addresses it signed in from before go on as usual.

The account is the user id when the name or email belongs to one (so both count
together), else the normalized name; an IPv6 address counts by its /64.

Fixed windows: the first count starts the window; ``Retry-After`` is what is left.
While Redis is unreachable each process counts on its own (a local limit, never
a 500 and never no limit at all) and goes back to Redis once it answers again.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from taskflow_auth.config import AuthSettings

logger = logging.getLogger("taskflow.auth.throttle")

T = TypeVar("T")


class FailureCounter(Protocol):
    async def hit(self, key: str, window: int, amount: int = 1) -> tuple[int, int]:
        """Add ``amount`` (a negative one takes back, and does nothing to a key that
        is gone); answer (count in window, seconds left)."""

    async def peek(self, key: str) -> tuple[int, int]:
        """(failures in window, seconds left) without counting."""

    async def clear(self, key: str) -> None: ...

    async def close(self) -> None: ...


class MemoryCounter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, float]] = {}

    def _current(self, key: str) -> tuple[int, float] | None:
        entry = self._windows.get(key)
        if entry and entry[1] <= self._clock():
            del self._windows[key]
            return None
        return entry

    async def hit(self, key: str, window: int, amount: int = 1) -> tuple[int, int]:
        entry = self._current(key)
        if entry is None and amount < 0:
            return 0, 0
        count, ends = (entry[0] + amount, entry[1]) if entry else (amount, self._clock() + window)
        self._windows[key] = (count, ends)
        if len(self._windows) > 100_000:
            self._evict()
        return count, max(1, int(ends - self._clock() + 0.999))

    async def peek(self, key: str) -> tuple[int, int]:
        entry = self._current(key)
        if not entry:
            return 0, 0
        return entry[0], max(1, int(entry[1] - self._clock() + 0.999))

    async def clear(self, key: str) -> None:
        self._windows.pop(key, None)

    async def close(self) -> None:
        self._windows.clear()

    def _evict(self) -> None:
        now = self._clock()
        for key in [k for k, (_, ends) in self._windows.items() if ends <= now]:
            del self._windows[key]


# One round trip, atomic: take back only from a key that still exists.
_HIT = """
if tonumber(ARGV[1]) < 0 and redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return {count, redis.call('TTL', KEYS[1])}
"""


class RedisCounter:
    def __init__(self, url: str, prefix: str = "taskflow:auth:login:") -> None:
        # Short timeouts: a log-in must not wait long on a Redis that is gone.
        self._redis = Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        self._prefix = prefix
        self._hit = self._redis.register_script(_HIT)

    async def hit(self, key: str, window: int, amount: int = 1) -> tuple[int, int]:
        count, ttl = await self._hit(keys=[self._prefix + key], args=[amount, window])
        if amount < 0 and not ttl:
            return 0, 0
        return int(count), max(1, int(ttl))

    async def peek(self, key: str) -> tuple[int, int]:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(name)
            pipe.ttl(name)
            count, ttl = await pipe.execute()
        return (int(count), max(1, int(ttl))) if count else (0, 0)

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def close(self) -> None:
        await self._redis.aclose()


def address_key(address: str) -> str:
    """The client address as counted: an IPv6 address by its /64 (one subscriber's
    usual allocation, which a client can roam freely), anything else as given."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


class LoginThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginAttempt:
    account: str
    address: str
    # The account signed in from this address before: the address limit does not apply.
    known: bool


@dataclass
class LoginThrottle:
    """The log-in rule in this module's docstring; ``account`` is the caller's stable
    key for the account (the user id, or the normalized name nobody holds)."""

    counter: FailureCounter
    per_account_address: int = 5
    per_address: int = 20
    per_account: int = 10
    account_slowdown_seconds: int = 30
    window_seconds: int = 900
    known_address_seconds: int = 30 * 86_400

    @classmethod
    def from_settings(cls, counter: FailureCounter, settings: AuthSettings) -> LoginThrottle:
        return cls(
            counter,
            per_account_address=settings.login_failures_per_account_address,
            per_address=settings.login_failures_per_address,
            per_account=settings.login_failures_per_account,
            account_slowdown_seconds=settings.login_account_slowdown_seconds,
            window_seconds=settings.login_throttle_window_seconds,
            known_address_seconds=settings.login_known_address_days * 86_400,
        )

    async def begin(self, account: str, address: str) -> LoginAttempt:
        """Count the attempt as failed until ``succeeded`` says otherwise; LoginThrottled
        when it must wait. Counting first means requests fired together cannot all
        pass a check made before any of them failed."""
        address = address_key(address)
        pair, pair_left = await self.counter.hit(f"pair:{account}|{address}", self.window_seconds)
        if pair > self.per_account_address:
            raise LoginThrottled(pair_left)
        known = (await self.counter.peek(f"known:{account}|{address}"))[0] > 0
        attempt = LoginAttempt(account, address, known)
        if known:
            return attempt
        tried, address_left = await self.counter.hit(f"ip:{address}", self.window_seconds)
        if tried > self.per_address:
            raise LoginThrottled(address_left)
        failures, _ = await self.counter.peek(f"account:{account}")
        if failures >= self.per_account:
            # Under attack from many addresses: new addresses share one attempt per
            # interval, so the owner still gets in, just not at once.
            turn, turn_left = await self.counter.hit(
                f"turn:{account}", self.account_slowdown_seconds
            )
            if turn > 1:
                raise LoginThrottled(turn_left)
        return attempt

    async def failed(self, attempt: LoginAttempt) -> None:
        await self.counter.hit(f"account:{attempt.account}", self.window_seconds)
        if attempt.known:
            await self.counter.hit(f"ip:{attempt.address}", self.window_seconds)

    async def succeeded(self, attempt: LoginAttempt) -> None:
        await self.counter.clear(f"pair:{attempt.account}|{attempt.address}")
        if not attempt.known:
            await self.counter.hit(f"ip:{attempt.address}", self.window_seconds, -1)
        # Renewed on every success: known for that long after the last sign-in.
        known = f"known:{attempt.account}|{attempt.address}"
        await self.counter.clear(known)
        await self.counter.hit(known, self.known_address_seconds)


@dataclass
class PerAddressCap:
    """At most ``limit`` requests of one ``kind`` per address and window: for emails
    sent on request (password reset, verification), so that no client address, and
    no recipient address, gets a flood. ``address`` is a client IP or an email."""

    counter: FailureCounter
    kind: str
    limit: int
    window_seconds: int = 3600

    async def allow(self, address: str) -> bool:
        """Count this request; False once the address is over its cap."""
        key = f"cap:{self.kind}:{address_key(address.strip().lower())}"
        count, _ = await self.counter.hit(key, self.window_seconds)
        return count <= self.limit


class FallbackCounter:
    """Redis, or this process's memory while Redis is unreachable (tried again every
    ``retry_seconds``, so a Redis that is gone costs one timeout per interval, not per
    request)."""

    def __init__(
        self,
        primary: FailureCounter,
        fallback: FailureCounter,
        *,
        retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary, self.fallback = primary, fallback
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._down_until = 0.0

    @property
    def degraded(self) -> bool:
        return self._clock() < self._down_until

    async def _call(
        self, primary: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]]
    ) -> T:
        if not self.degraded:
            try:
                result = await primary()
            except (RedisError, OSError) as exc:
                if self._down_until == 0.0:
                    logger.warning(
                        "login throttle: Redis unreachable (%s); counting in this process", exc
                    )
                self._down_until = self._clock() + self.retry_seconds
            else:
                if self._down_until:
                    logger.warning("login throttle: Redis answers again")
                    self._down_until = 0.0
                return result
        return await fallback()

    async def hit(self, key: str, window: int, amount: int = 1) -> tuple[int, int]:
        return await self._call(
            lambda: self.primary.hit(key, window, amount),
            lambda: self.fallback.hit(key, window, amount),
        )

    async def peek(self, key: str) -> tuple[int, int]:
        return await self._call(lambda: self.primary.peek(key), lambda: self.fallback.peek(key))

    async def clear(self, key: str) -> None:
        await self.fallback.clear(key)
        await self._call(lambda: self.primary.clear(key), lambda: self.fallback.clear(key))

    async def close(self) -> None:
        await self.primary.close()
        await self.fallback.close()


def create_counter(redis_url: str | None, prefix: str = "taskflow:auth:login:") -> FailureCounter:
    if not redis_url:
        return MemoryCounter()
    return FallbackCounter(RedisCounter(redis_url, prefix=prefix), MemoryCounter())

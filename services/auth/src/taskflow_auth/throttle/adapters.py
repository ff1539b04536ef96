"""Where the throttle counts: Redis shared by the replicas, or this process's memory.

Fixed windows: the first count starts the window; the seconds left are what a refused
client waits. While Redis is unreachable each process counts on its own (a local limit,
never a 500 and never no limit at all) and goes back to Redis once it answers again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

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


# Connections to Redis per auth process: each counter call holds one for a round trip.
REDIS_CONNECTIONS = 8


class RedisCounter:
    def __init__(self, url: str, prefix: str = "taskflow:auth:login:") -> None:
        # Short timeouts: a log-in must not wait long on a Redis that is gone. A bounded
        # pool: a burst of log-ins shares a few connections instead of opening one each
        # (forty at once, each with a 1 s connect timeout, timed out on a busy machine).
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=REDIS_CONNECTIONS,
            timeout=1.0,
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
        )
        self._redis = Redis.from_pool(pool)
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

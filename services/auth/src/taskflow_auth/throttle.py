"""Login throttling: failed attempts counted per client IP and per username.

Redis when configured (shared by every replica), process memory otherwise.
Fixed windows: the first failure starts the window; ``Retry-After`` is what is left.
While Redis is unreachable each process counts on its own (a local limit, never
a 500 and never no limit at all) and goes back to Redis once it answers again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger("taskflow.auth.throttle")

T = TypeVar("T")


class FailureCounter(Protocol):
    async def hit(self, key: str, window: int) -> tuple[int, int]:
        """Count one failure; answer (failures in window, seconds left)."""

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

    async def hit(self, key: str, window: int) -> tuple[int, int]:
        entry = self._current(key)
        count, ends = (entry[0] + 1, entry[1]) if entry else (1, self._clock() + window)
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


class RedisCounter:
    def __init__(self, url: str, prefix: str = "taskflow:auth:login:") -> None:
        # Short timeouts: a log-in must not wait long on a Redis that is gone.
        self._redis = Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        self._prefix = prefix

    async def hit(self, key: str, window: int) -> tuple[int, int]:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, window, nx=True)
            pipe.ttl(name)
            count, _, ttl = await pipe.execute()
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


@dataclass
class LoginThrottle:
    counter: FailureCounter
    per_username: int
    per_ip: int
    window_seconds: int

    @staticmethod
    def _keys(ip: str, username: str) -> tuple[str, str]:
        return f"ip:{ip}", f"user:{username.strip().lower()}"

    async def retry_after(self, ip: str, username: str) -> int | None:
        """Seconds to wait when this IP or username is over its limit, else None."""
        ip_key, user_key = self._keys(ip, username)
        ip_count, ip_left = await self.counter.peek(ip_key)
        user_count, user_left = await self.counter.peek(user_key)
        waits = []
        if ip_count >= self.per_ip:
            waits.append(ip_left)
        if user_count >= self.per_username:
            waits.append(user_left)
        return max(waits) if waits else None

    async def failed(self, ip: str, username: str) -> None:
        ip_key, user_key = self._keys(ip, username)
        await self.counter.hit(ip_key, self.window_seconds)
        await self.counter.hit(user_key, self.window_seconds)

    async def succeeded(self, ip: str, username: str) -> None:
        _, user_key = self._keys(ip, username)
        await self.counter.clear(user_key)


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

    async def hit(self, key: str, window: int) -> tuple[int, int]:
        return await self._call(
            lambda: self.primary.hit(key, window), lambda: self.fallback.hit(key, window)
        )

    async def peek(self, key: str) -> tuple[int, int]:
        return await self._call(lambda: self.primary.peek(key), lambda: self.fallback.peek(key))

    async def clear(self, key: str) -> None:
        await self.fallback.clear(key)
        await self._call(lambda: self.primary.clear(key), lambda: self.fallback.clear(key))

    async def close(self) -> None:
        await self.primary.close()
        await self.fallback.close()


def create_counter(redis_url: str | None) -> FailureCounter:
    if not redis_url:
        return MemoryCounter()
    return FallbackCounter(RedisCounter(redis_url), MemoryCounter())

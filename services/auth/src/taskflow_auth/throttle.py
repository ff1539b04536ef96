"""Login throttling: failed attempts counted per client IP and per username.

Redis when configured (shared by every replica), process memory otherwise.
Fixed windows: the first failure starts the window; ``Retry-After`` is what is left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis


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
        self._redis = Redis.from_url(url)
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


def create_counter(redis_url: str | None) -> FailureCounter:
    return RedisCounter(redis_url) if redis_url else MemoryCounter()

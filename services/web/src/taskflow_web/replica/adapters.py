"""Where the generations live: Redis, which every web process reads (the distributed
runtime: an event reaches one of web's processes, the counter it moves is everyone's),
or this process's memory (the embedded runtime: one process receives every event).

Redis unreachable: ``read`` answers None and pages ask the API (a cache that cannot be
trusted is not used; never a 500)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

logger = logging.getLogger("taskflow.web.replica")

# Connections to Redis per web process: each page holds one for one round trip.
REDIS_CONNECTIONS = 8
# Short: a page must not wait on a Redis that is gone (it asks the API instead).
REDIS_TIMEOUT_SECONDS = 0.5
# Counters untouched this long go (a week: an answer is never kept that long).
COUNTER_SECONDS = 7 * 24 * 3600


class Generations(Protocol):
    async def read(self, names: Sequence[str]) -> tuple[int, ...] | None:
        """The current counters of ``names`` (0 for one never moved), or None where
        they cannot be known."""

    async def bump(self, names: Sequence[str]) -> None:
        """Move each counter on."""

    async def close(self) -> None: ...


class MemoryGenerations:
    def __init__(self) -> None:
        self._counters: dict[str, int] = {}

    async def read(self, names: Sequence[str]) -> tuple[int, ...] | None:
        return tuple(self._counters.get(name, 0) for name in names)

    async def bump(self, names: Sequence[str]) -> None:
        for name in names:
            self._counters[name] = self._counters.get(name, 0) + 1

    async def close(self) -> None:
        self._counters.clear()


class RedisGenerations:
    def __init__(self, url: str, prefix: str) -> None:
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=REDIS_CONNECTIONS,
            timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        self._redis = Redis.from_pool(pool)
        self._prefix = prefix

    async def read(self, names: Sequence[str]) -> tuple[int, ...] | None:
        try:
            values = await self._redis.mget([self._prefix + name for name in names])
        except (RedisError, OSError) as exc:
            logger.warning("page cache: Redis unreachable (%s); pages ask the API", exc)
            return None
        return tuple(int(value or 0) for value in values)

    async def bump(self, names: Sequence[str]) -> None:
        """Raises where Redis is away: an event handler's bump is retried by the consumer
        (an answer kept past a change it missed would be served)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.incr(self._prefix + name)
                pipe.expire(self._prefix + name, COUNTER_SECONDS)
            await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()

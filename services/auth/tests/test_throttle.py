"""The login throttle on process memory and on Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from taskflow_auth.throttle import FailureCounter, LoginThrottle, MemoryCounter, RedisCounter
from taskflow_chassis.testing import require_redis


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def counter(request: pytest.FixtureRequest) -> AsyncIterator[FailureCounter]:
    if request.param == "memory":
        yield MemoryCounter()
        return
    url = require_redis()
    redis_counter = RedisCounter(url, prefix=f"test:{uuid.uuid4().hex}:")
    yield redis_counter
    await redis_counter.close()


async def test_username_limit_then_success_clears(counter: FailureCounter) -> None:
    throttle = LoginThrottle(counter, per_username=3, per_ip=100, window_seconds=60)
    for _ in range(3):
        assert await throttle.retry_after("10.0.0.1", "Alice") is None
        await throttle.failed("10.0.0.1", "Alice")
    wait = await throttle.retry_after("10.0.0.2", "alice")
    assert wait is not None and 0 < wait <= 60
    assert await throttle.retry_after("10.0.0.1", "bob") is None
    await throttle.succeeded("10.0.0.1", "alice")
    assert await throttle.retry_after("10.0.0.1", "alice") is None


async def test_ip_limit(counter: FailureCounter) -> None:
    throttle = LoginThrottle(counter, per_username=100, per_ip=2, window_seconds=60)
    await throttle.failed("10.0.0.9", "a")
    await throttle.failed("10.0.0.9", "b")
    assert await throttle.retry_after("10.0.0.9", "c") is not None
    assert await throttle.retry_after("10.0.0.8", "c") is None


async def test_memory_window_expires() -> None:
    clock = Clock()
    throttle = LoginThrottle(MemoryCounter(clock), per_username=1, per_ip=100, window_seconds=30)
    await throttle.failed("ip", "alice")
    assert await throttle.retry_after("ip", "alice") == 30
    clock.now += 29.5
    assert await throttle.retry_after("ip", "alice") == 1
    clock.now += 1
    assert await throttle.retry_after("ip", "alice") is None

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


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_redis_gone_means_a_local_limit_not_an_error() -> None:
    from taskflow_auth.throttle import create_counter

    counter = create_counter(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    throttle = LoginThrottle(counter, per_username=3, per_ip=100, window_seconds=60)
    for _ in range(3):
        assert await throttle.retry_after("10.0.0.1", "alice") is None
        await throttle.failed("10.0.0.1", "alice")
    assert await throttle.retry_after("10.0.0.1", "alice") is not None
    await counter.close()


async def test_the_throttle_goes_back_to_redis_when_it_returns(tmp_path: object) -> None:
    import asyncio
    import shutil
    import subprocess

    from taskflow_auth.throttle import FallbackCounter
    from taskflow_chassis.testing import in_ci

    binary = shutil.which("redis-server")
    if binary is None:
        if in_ci():
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    port = free_port()

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip

    async def answers() -> None:
        probe = RedisCounter(f"redis://127.0.0.1:{port}/0", prefix="probe:")
        for _ in range(100):
            try:
                await probe.peek("x")
                break
            except Exception:
                await asyncio.sleep(0.05)
        await probe.close()

    server = start()
    try:
        await answers()
        clock = Clock()
        primary = RedisCounter(f"redis://127.0.0.1:{port}/0", prefix=f"t:{uuid.uuid4().hex}:")
        counter = FallbackCounter(primary, MemoryCounter(), retry_seconds=5, clock=clock)
        assert await counter.hit("user:a", 60) == (1, 60)
        server.kill()
        server.wait()
        assert (await counter.hit("user:a", 60))[0] == 1  # counted locally now
        assert counter.degraded
        server = start()
        await answers()
        clock.now += 6
        assert (await counter.hit("user:a", 60))[0] == 1  # a fresh Redis (it kept nothing)
        assert not counter.degraded
        await counter.close()
    finally:
        server.kill()
        server.wait()

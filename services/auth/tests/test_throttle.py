"""The log-in throttle and the per-address cap, on process memory and on Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from taskflow_auth.throttle.adapters import (
    FailureCounter,
    FallbackCounter,
    MemoryCounter,
    RedisCounter,
    create_counter,
)
from taskflow_auth.throttle.rules import address_key
from taskflow_auth.throttle.service import LoginThrottle, LoginThrottled, PerAddressCap
from taskflow_chassis.ports import free_port
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


def throttle_on(counter: FailureCounter, **limits: int) -> LoginThrottle:
    return LoginThrottle(counter, **{"window_seconds": 60, **limits})


async def fail(throttle: LoginThrottle, account: str, address: str) -> None:
    await throttle.failed(await throttle.begin(account, address))


async def refused(throttle: LoginThrottle, account: str, address: str) -> int | None:
    """Seconds to wait if this attempt is refused; None if it may go on (then it fails)."""
    try:
        await fail(throttle, account, address)
    except LoginThrottled as throttled:
        return throttled.retry_after
    return None


async def test_the_pair_locks_only_the_account_from_that_address(counter: FailureCounter) -> None:
    throttle = throttle_on(counter, per_account_address=3, per_account=100)
    for _ in range(3):
        assert await refused(throttle, "user:alice", "10.0.0.1") is None
    wait = await refused(throttle, "user:alice", "10.0.0.1")
    assert wait is not None and 0 < wait <= 60
    # The owner elsewhere, and others from the same address, go on.
    assert await refused(throttle, "user:alice", "10.0.0.2") is None
    assert await refused(throttle, "user:bob", "10.0.0.1") is None


async def test_a_success_clears_the_pair(counter: FailureCounter) -> None:
    throttle = throttle_on(counter, per_account_address=2)
    await fail(throttle, "user:alice", "10.0.0.1")
    await throttle.succeeded(await throttle.begin("user:alice", "10.0.0.1"))
    await fail(throttle, "user:alice", "10.0.0.1")
    assert await refused(throttle, "user:alice", "10.0.0.1") is None


async def test_the_address_limit_spares_accounts_known_there(counter: FailureCounter) -> None:
    throttle = throttle_on(counter, per_address=3)
    await throttle.succeeded(await throttle.begin("user:office", "10.0.0.9"))
    for name in "abc":
        await fail(throttle, f"name:{name}", "10.0.0.9")
    assert await refused(throttle, "name:d", "10.0.0.9") is not None
    assert await refused(throttle, "user:office", "10.0.0.9") is None
    assert await refused(throttle, "name:d", "10.0.0.8") is None


async def test_successes_do_not_use_up_the_address(counter: FailureCounter) -> None:
    throttle = throttle_on(counter, per_address=2)
    for n in range(5):  # five people behind one address signing in for the first time
        await throttle.succeeded(await throttle.begin(f"user:{n}", "10.0.0.7"))
    await fail(throttle, "name:x", "10.0.0.7")
    assert await refused(throttle, "name:y", "10.0.0.7") is None


async def test_an_account_under_attack_slows_new_addresses_never_its_own(
    counter: FailureCounter,
) -> None:
    throttle = throttle_on(counter, per_account=4, account_slowdown_seconds=30)
    await throttle.succeeded(await throttle.begin("user:alice", "198.51.100.1"))
    for n in range(4):  # four addresses of a botnet, one guess each
        assert await refused(throttle, "user:alice", f"10.1.0.{n}") is None
    # From now on new addresses share one attempt per 30 s: the next passes, then waits.
    assert await refused(throttle, "user:alice", "10.1.0.50") is None
    wait = await refused(throttle, "user:alice", "10.1.0.51")
    assert wait is not None and 0 < wait <= 30
    # Her own address is not slowed, and other accounts are untouched.
    for _ in range(3):
        await throttle.succeeded(await throttle.begin("user:alice", "198.51.100.1"))
    assert await refused(throttle, "user:bob", "10.1.0.51") is None


async def test_attempts_fired_together_cannot_overshoot_the_pair(counter: FailureCounter) -> None:
    import asyncio

    throttle = throttle_on(counter, per_account_address=5)

    async def attempt() -> bool:
        try:
            await throttle.begin("user:alice", "10.0.0.1")
        except LoginThrottled:
            return False
        return True

    let_through = await asyncio.gather(*(attempt() for _ in range(40)))
    assert sum(let_through) == 5


@pytest.mark.parametrize(
    ("address", "same_as"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"),  # one /64
        ("::ffff:192.0.2.1", "192.0.2.1"),  # IPv4-mapped is the IPv4 address
    ],
)
async def test_addresses_count_by_what_a_client_controls(address: str, same_as: str) -> None:
    assert address_key(address) == address_key(same_as)
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")


async def test_a_per_address_cap(counter: FailureCounter) -> None:
    cap = PerAddressCap(counter, "reset-from", limit=3)
    assert [await cap.allow("10.0.0.1") for _ in range(5)] == [True, True, True, False, False]
    assert await cap.allow("10.0.0.2")
    other_kind = PerAddressCap(counter, "verify-from", limit=3)
    assert await other_kind.allow("10.0.0.1")


async def test_taking_back_from_a_gone_key_does_nothing(counter: FailureCounter) -> None:
    assert await counter.hit("nothing-here", 60, -1) == (0, 0)
    assert await counter.peek("nothing-here") == (0, 0)


async def test_memory_window_expires() -> None:
    clock = Clock()
    throttle = throttle_on(MemoryCounter(clock), per_account_address=1, window_seconds=30)
    await fail(throttle, "user:alice", "ip")
    assert await refused(throttle, "user:alice", "ip") == 30
    clock.now += 29.5
    assert await refused(throttle, "user:alice", "ip") == 1
    clock.now += 1
    assert await refused(throttle, "user:alice", "ip") is None


async def test_redis_gone_means_a_local_limit_not_an_error() -> None:
    counter = create_counter(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    throttle = throttle_on(counter, per_account_address=3)
    for _ in range(3):
        assert await refused(throttle, "user:alice", "10.0.0.1") is None
    assert await refused(throttle, "user:alice", "10.0.0.1") is not None
    await counter.close()


async def test_the_throttle_goes_back_to_redis_when_it_returns(tmp_path: object) -> None:
    import asyncio
    import shutil
    import subprocess

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

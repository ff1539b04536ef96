"""A commit-woken loop's passes: at once after a quiet spell, spaced by ``min_gap`` under a
stream of wakes (what comes meanwhile goes in the next pass), none lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from taskflow_chassis.db import Database
from taskflow_chassis.pump import CommitWokenLoop


class Counting(CommitWokenLoop):
    flag = "test_pump_written"
    name = "test-pump"

    def __init__(self, database: Database, min_gap: float) -> None:
        super().__init__(database, interval=60.0, batch_size=100, min_gap=min_gap)
        self.waiting = 0
        self.passes: list[tuple[float, int]] = []  # (when, items taken)

    def add(self) -> None:
        self.waiting += 1
        self.wake()

    async def run_once(self) -> int:
        taken, self.waiting = self.waiting, 0
        self.passes.append((asyncio.get_running_loop().time(), taken))
        return taken


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'pump.db'}")
    yield database
    await database.dispose()


async def until(loop: Counting, items: int, passes: int = 1) -> None:
    """Until the loop's passes have taken ``items`` in at least ``passes`` passes."""
    deadline = asyncio.get_running_loop().time() + 10
    while sum(taken for _, taken in loop.passes) < items or len(loop.passes) < passes:
        assert asyncio.get_running_loop().time() < deadline, loop.passes
        await asyncio.sleep(0.01)


async def test_passes_are_spaced_by_the_gap_and_gather_what_comes_meanwhile(
    database: Database,
) -> None:
    loop = Counting(database, min_gap=0.3)
    await loop.start()
    try:
        await until(loop, 0)
        await asyncio.sleep(0.4)  # quiet: the start's own pass is well past
        started = asyncio.get_running_loop().time()
        loop.add()
        await until(loop, 1)
        first = loop.passes[-1][0]
        assert first - started < 0.2  # after a quiet spell: at once
        for _ in range(20):  # a stream of wakes over about 0.2 s
            loop.add()
            await asyncio.sleep(0.01)
        await until(loop, 21)
        later = [p for p in loop.passes if p[0] > first]
        gaps = [b[0] - a[0] for a, b in zip(loop.passes, loop.passes[1:], strict=False)]
        assert all(gap >= 0.29 for gap in gaps), gaps
        assert len(later) <= 2 and sum(taken for _, taken in later) == 20  # gathered
    finally:
        await loop.stop()


async def test_without_a_gap_every_wake_runs_a_pass_at_once(database: Database) -> None:
    loop = Counting(database, min_gap=0.0)
    await loop.start()
    try:
        for n in range(1, 6):
            loop.add()
            await until(loop, n)
        assert [taken for _, taken in loop.passes if taken] == [1] * 5
    finally:
        await loop.stop()


async def test_stop_during_a_gap_ends_the_loop_promptly(database: Database) -> None:
    loop = Counting(database, min_gap=60.0)
    await loop.start()
    await until(loop, 0)
    loop.add()  # waits out the gap after the start's pass
    await asyncio.sleep(0.1)
    started = asyncio.get_running_loop().time()
    await loop.stop(timeout=10)
    # Not the gap's 60 s, nor stop's 10 s timeout: slow machines have seconds to spare.
    assert asyncio.get_running_loop().time() - started < 5

"""The periodic job: it runs again and again, a failed run is logged and the next comes,
``stop`` ends it (a run in progress with it); the soft-delete purge it runs for teams and
projects erases what is old enough, each row on its own."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import Column, MetaData, Table, Uuid, delete, insert, select
from taskflow_chassis.db import Database, rows_matched
from taskflow_chassis.periodic import Job, PeriodicJob, PurgeOne, SoftDeletePurge, app_clock
from taskflow_chassis.types import UtcDateTime
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

LOGGER = "taskflow.tests.periodic"
PUBLISHER = Publisher("gadgets")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

gadget_metadata = MetaData()
gadgets = Table(
    "gadgets",
    gadget_metadata,
    Column("id", Uuid, primary_key=True),
    Column("deleted_at", UtcDateTime(), nullable=True),
)


async def until(done: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not done():  # noqa: ASYNC110 - the job under test offers no event to wait on
            await asyncio.sleep(0.005)


def job_of(runs: list[int], fail_first: int = 0) -> Job:
    async def job() -> int:
        runs.append(len(runs) + 1)
        if len(runs) <= fail_first:
            raise RuntimeError(f"run {len(runs)} broke")
        return len(runs) % 2  # a count: 1, 0, 1, 0...

    return job


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def run_until(periodic: PeriodicJob, runs: list[int], count: int) -> list[logging.LogRecord]:
    """Start ``periodic``, stop it once ``runs`` has ``count`` runs: what it logged."""
    handler = Recorder()
    logger = periodic.logger
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    periodic.start()
    try:
        await until(lambda: len(runs) >= count)
    finally:
        await periodic.stop()
        logger.removeHandler(handler)
    return handler.records


async def test_the_job_runs_again_and_again_and_logs_what_it_did() -> None:
    runs: list[int] = []
    logger = logging.getLogger(LOGGER)
    periodic = PeriodicJob(
        "test-job", job_of(runs), interval=0.01, logger=logger, what="tidying", done="tidied %s"
    )
    records = await run_until(periodic, runs, 4)
    said = [r.getMessage() for r in records]
    assert said[:2] == ["tidied 1", "tidied 1"]  # runs 1 and 3; the runs answering 0 say nothing
    assert not [r for r in records if r.levelno >= logging.WARNING]


async def test_a_failed_run_is_logged_and_the_next_one_comes() -> None:
    runs: list[int] = []
    logger = logging.getLogger(LOGGER)
    periodic = PeriodicJob(
        "test-job", job_of(runs, fail_first=2), interval=0.01, logger=logger, what="tidying"
    )
    records = await run_until(periodic, runs, 4)
    failures = [r for r in records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failures] == ["tidying failed; trying again later"] * 2
    assert all(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in failures)


async def test_stop_ends_the_loop_and_a_run_in_progress() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()
    runs = 0

    async def slow() -> None:
        nonlocal runs
        runs += 1
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    periodic = PeriodicJob(
        "slow-job", slow, interval=0.01, logger=logging.getLogger(LOGGER), what="x"
    )
    await periodic.stop()  # never started: nothing to stop
    periodic.start()
    periodic.start()  # already running: still one task
    assert len([t for t in asyncio.all_tasks() if t.get_name() == "slow-job"]) == 1
    async with asyncio.timeout(5):
        await started.wait()
        await periodic.stop()
    assert cancelled.is_set() and runs == 1
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "slow-job"]
    await asyncio.sleep(0.05)
    assert runs == 1  # nothing runs after the stop


async def test_the_app_clock_is_read_at_each_call() -> None:
    app = FastAPI()
    before = datetime.now(UTC)
    clock = app_clock(app)
    assert clock() >= before  # no clock set: the real time
    app.state.clock = lambda: NOW
    assert clock() == NOW
    app.state.clock = lambda: NOW + timedelta(days=1)
    assert clock() == NOW + timedelta(days=1)


async def gadget_ids(database: Database) -> set[uuid.UUID]:
    async with database.session() as session:
        return set((await session.execute(select(gadgets.c.id))).scalars())


async def seeded(database: Database, **ages: timedelta | None) -> dict[str, uuid.UUID]:
    """One gadget per name, deleted that long before NOW (None: not deleted)."""
    async with database.engine.begin() as conn:
        await conn.run_sync(gadget_metadata.create_all)
    ids = {name: uuid.uuid4() for name in ages}
    async with database.session() as session:
        for name, age in ages.items():
            deleted_at = None if age is None else NOW - age
            await session.execute(insert(gadgets).values(id=ids[name], deleted_at=deleted_at))
        await session.commit()
    return ids


async def purge_gadget(uow: UnitOfWork, gadget_id: uuid.UUID, deleted_before: datetime) -> bool:
    result = await uow.session.execute(
        delete(gadgets).where(gadgets.c.id == gadget_id, gadgets.c.deleted_at <= deleted_before)
    )
    await uow.commit()
    return rows_matched(result) == 1


def gadget_purge(purge_one: PurgeOne = purge_gadget) -> SoftDeletePurge:
    return SoftDeletePurge(
        "gadgets-purge-deleted",
        gadgets,
        timedelta(days=30),
        purge_one,
        noun="gadget",
        logger=logging.getLogger(LOGGER),
        interval=0.01,
    )


async def test_the_purge_erases_rows_deleted_long_enough_ago_each_on_its_own(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await seeded(
        database,
        oldest=timedelta(days=40),
        old=timedelta(days=31),
        broken=timedelta(days=35),
        recent=timedelta(days=29),
        kept=None,
    )

    async def purge_one(uow: UnitOfWork, gadget_id: uuid.UUID, deleted_before: datetime) -> bool:
        assert deleted_before == NOW - timedelta(days=30)
        if gadget_id == ids["broken"]:
            raise RuntimeError("this one will not go")
        return await purge_gadget(uow, gadget_id, deleted_before)

    purge = gadget_purge(purge_one)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        # Oldest first, a batch at a time: the first batch is "oldest" and "broken".
        assert await purge.run(database, PUBLISHER, NOW, batch_size=2) == 1
        assert await gadget_ids(database) == {ids["old"], ids["broken"], ids["recent"], ids["kept"]}
        # "broken" fails again and "old" goes: one failing stops no other.
        assert await purge.run(database, PUBLISHER, NOW) == 1
    assert await gadget_ids(database) == {ids["broken"], ids["recent"], ids["kept"]}
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert failures == [f"purging deleted gadget {ids['broken']} failed; trying again later"] * 2


async def test_the_purge_runs_hourly_on_the_app_at_its_clock(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await seeded(database, old=timedelta(days=31), recent=timedelta(days=29))
    app = FastAPI()
    app.state.database, app.state.publisher = database, PUBLISHER
    app.state.clock = lambda: NOW
    purge = gadget_purge()

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == LOGGER]

    with caplog.at_level(logging.INFO, logger=LOGGER):
        await purge.start(app)
        try:
            assert [t for t in asyncio.all_tasks() if t.get_name() == "gadgets-purge-deleted"]
            await until(lambda: len(said()) >= 1)
            assert await gadget_ids(database) == {ids["recent"]}
            app.state.clock = lambda: NOW + timedelta(days=2)  # tests move the app's clock
            await until(lambda: len(said()) >= 2)
        finally:
            await purge.stop(app)
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "gadgets-purge-deleted"]
    assert await gadget_ids(database) == set()
    assert said() == ["purged 1 deleted gadget(s)"] * 2

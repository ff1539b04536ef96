"""The unit of work: staged events reach the outbox, in order, with the commit and only then."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import registry
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent
from taskflow_chassis.messaging import outbox_table
from taskflow_chassis.problems import ProblemError
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork, UnitOfWorkDep

from .conftest import WidgetBumped, WidgetNoticed, widgets

PUBLISHER = Publisher("widgets")


async def outbox(database: Database) -> list[CloudEvent]:
    async with database.session() as session:
        rows = await session.execute(
            select(outbox_table.c.payload).order_by(outbox_table.c.created_at, outbox_table.c.id)
        )
        return [CloudEvent.from_json(payload) for payload in rows.scalars()]


async def widget_ids(database: Database) -> list[str]:
    async with database.session() as session:
        return list((await session.execute(select(widgets.c.id).order_by(widgets.c.id))).scalars())


def bumped(widget_id: str) -> WidgetBumped:
    return WidgetBumped(widget_id=widget_id)


async def test_staged_events_reach_the_outbox_in_order_only_on_commit(database: Database) -> None:
    async with database.session() as session:
        uow = UnitOfWork(session, PUBLISHER)
        await session.execute(insert(widgets).values(id="w1", count=1))
        uow.publish(bumped("w1"), WidgetNoticed(widget_id="w1"), subject="w1")
        uow.publish(bumped("w2"))
        assert [event.type for event in uow.staged] == [
            WidgetBumped.event_type,
            WidgetNoticed.event_type,
            WidgetBumped.event_type,
        ]
        assert await outbox(database) == []  # staged, not written
        await uow.commit()
        assert uow.staged == ()

    events = await outbox(database)
    assert [(event.type, event.data, event.subject) for event in events] == [
        (WidgetBumped.event_type, {"widget_id": "w1"}, "w1"),
        (WidgetNoticed.event_type, {"widget_id": "w1"}, "w1"),
        (WidgetBumped.event_type, {"widget_id": "w2"}, None),
    ]
    assert {event.source for event in events} == {"/taskflow/widgets"}
    assert await widget_ids(database) == ["w1"]


async def test_flush_writes_the_events_in_the_transaction_without_committing(
    database: Database,
) -> None:
    async with database.session() as session:
        uow = UnitOfWork(session, PUBLISHER)
        uow.publish(bumped("w1"))
        await uow.flush()
        assert uow.staged == ()
        in_transaction = await session.execute(select(func.count()).select_from(outbox_table))
        assert in_transaction.scalar_one() == 1
        await uow.rollback()
    assert await outbox(database) == []


async def test_rollback_drops_the_staged_events_and_the_change(database: Database) -> None:
    async with database.session() as session:
        uow = UnitOfWork(session, PUBLISHER)
        await session.execute(insert(widgets).values(id="w1", count=1))
        uow.publish(bumped("w1"))
        await uow.rollback()
        assert uow.staged == ()
        uow.publish(bumped("w2"))
        await uow.commit()  # commits only what came after the rollback
    assert [event.data for event in await outbox(database)] == [{"widget_id": "w2"}]
    assert await widget_ids(database) == []


def widget_app(database: Database, units: list[UnitOfWork]) -> FastAPI:
    app = FastAPI()
    app.state.database = database
    app.state.publisher = PUBLISHER

    @app.post("/widgets/{widget_id}")
    async def make(widget_id: str, uow: UnitOfWorkDep, commit: bool = True) -> None:
        units.append(uow)
        await uow.session.execute(insert(widgets).values(id=widget_id, count=1))
        uow.publish(bumped(widget_id))
        if commit:
            await uow.commit()
        uow.publish(WidgetNoticed(widget_id=widget_id))  # staged after the commit: dropped

    return app


async def test_what_a_request_did_not_commit_never_reaches_the_outbox(database: Database) -> None:
    units: list[UnitOfWork] = []
    transport = httpx.ASGITransport(app=widget_app(database, units))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/widgets/w1")).status_code == 200
        assert (await client.post("/widgets/w2", params={"commit": "false"})).status_code == 200

    # Staged and never committed (w2's, and what w1 staged after its commit): gone with
    # the request's unit of work and session, not written by their end.
    assert [len(unit.staged) for unit in units] == [1, 2]
    assert [(event.type, event.data) for event in await outbox(database)] == [
        (WidgetBumped.event_type, {"widget_id": "w1"})
    ]
    assert await widget_ids(database) == ["w1"]
    assert units[0].publisher is PUBLISHER


class Widget:
    """An ORM object over the test table: its INSERT waits for the flush at commit."""

    def __init__(self, id: str, count: int) -> None:
        self.id = id
        self.count = count


registry().map_imperatively(Widget, widgets)


async def test_commit_unique_answers_the_callers_conflict_and_keeps_nothing(
    database: Database,
) -> None:
    async with database.session() as session:
        session.add(Widget("w1", 1))
        await UnitOfWork(session, PUBLISHER).commit()
    taken = ProblemError(409, "Taken", "Someone was quicker.", type="widget-taken")
    async with database.session() as session:
        uow = UnitOfWork(session, PUBLISHER)
        session.add(Widget("w2", 1))
        session.add(Widget("w1", 2))  # the unique key a concurrent request already won
        uow.publish(bumped("w2"))
        with pytest.raises(ProblemError) as refused:
            await uow.commit_unique(taken)
        assert refused.value is taken
        assert isinstance(refused.value.__cause__, IntegrityError)
        assert uow.staged == ()
    assert await widget_ids(database) == ["w1"]
    assert await outbox(database) == []


def _statements_and_commits(database: Database) -> tuple[list[str], Callable[[], None]]:
    """Every statement and COMMIT sent on the database's engine, until the answered stop."""
    seen: list[str] = []
    engine = database.engine.sync_engine

    def statement(_conn: Any, _cursor: Any, text: str, *_args: Any) -> None:
        seen.append(text.split()[0] + " " + text.split()[2])

    def commit(_conn: Any) -> None:
        seen.append("COMMIT")

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)

    def stop() -> None:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)

    return seen, stop


async def test_commit_writes_every_staged_event_in_one_insert_and_reads_nothing_back(
    database: Database,
) -> None:
    """The outbox row is given every column: no SELECT for a default, one INSERT, COMMIT."""
    async with database.session() as session:
        uow = UnitOfWork(session, PUBLISHER)
        await session.execute(insert(widgets).values(id="w1", count=1))
        uow.publish(bumped("w1"), bumped("w1"), WidgetNoticed(widget_id="w1"))
        seen, stop = _statements_and_commits(database)
        try:
            await uow.commit()
        finally:
            stop()
    assert seen == ["INSERT outbox_messages", "COMMIT"]
    assert len(await outbox(database)) == 3


async def test_the_staged_events_as_one_insert_run_by_the_caller(database: Database) -> None:
    """``take_outbox_insert``: a service runs the events' INSERT itself (inside a statement
    of its own); the commit writes them no second time, and a rollback drops them."""
    async with database.session() as session:
        uow = UnitOfWork(session, PUBLISHER)
        assert uow.take_outbox_insert() is None
        uow.publish(bumped("w1"), WidgetNoticed(widget_id="w1"))
        written = uow.take_outbox_insert()
        assert written is not None and uow.staged == ()
        # A template per number of rows, built and keyed once; the values go as parameters.
        again = UnitOfWork(session, PUBLISHER)
        again.publish(bumped("w9"), WidgetNoticed(widget_id="w9"))
        other = again.take_outbox_insert()
        assert other is not None and other.statement is written.statement
        assert other.params != written.params
        await session.execute(written.statement, written.params)
        await uow.commit()
    assert [e.type for e in await outbox(database)] == [
        WidgetBumped.event_type,
        WidgetNoticed.event_type,
    ]
    async with database.session() as session:
        uow = UnitOfWork(session, PUBLISHER)
        uow.publish(bumped("w2"))
        written = uow.take_outbox_insert()
        assert written is not None
        await session.execute(written.statement, written.params)
        await uow.rollback()
    assert len(await outbox(database)) == 2


class WidgetRows:
    """Widgets gathered over a unit of work, written in one statement by ``write``."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.session = uow.session
        self.ids: list[str] = []
        self.writes = 0

    async def write(self) -> None:
        ids, self.ids = self.ids, []
        self.writes += 1
        if ids:
            await self.session.execute(insert(widgets), [{"id": i, "count": 0} for i in ids])


async def test_gathered_rows_are_written_together_with_the_commit_and_dropped_by_a_rollback(
    database: Database,
) -> None:
    async with database.session() as session:
        uow = UnitOfWork(session, PUBLISHER)
        rows = uow.gathered(WidgetRows)
        assert uow.gathered(WidgetRows) is rows  # one a unit of work
        rows.ids += ["w1", "w2"]
        uow.publish(bumped("w1"))
        assert await widget_ids(database) == []  # gathered, not written
        await uow.commit()
        assert rows.writes == 1
    assert await widget_ids(database) == ["w1", "w2"]
    assert len(await outbox(database)) == 1

    async with database.session() as session:
        uow = UnitOfWork(session, PUBLISHER)
        uow.gathered(WidgetRows).ids.append("w3")
        await uow.rollback()
        fresh = uow.gathered(WidgetRows)
        assert fresh.ids == []
        fresh.ids.append("w4")
        await uow.commit()
    assert await widget_ids(database) == ["w1", "w2", "w4"]

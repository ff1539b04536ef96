"""Attacks on the batched event pipeline: each Reliability promise, batched, on both buses.

A consumer takes the events waiting in its queue as one batch (one transaction with
their inbox rows, one by one when it fails); the relay publishes its rows together and
awaits the confirms together. Every test here would fail if batching broke a promise:
at-least-once delivery, each event applied once (inbox), poison parked alone, order
kept within a team, outages retried and never parked, a lone event not held back.
Real SQLite and PostgreSQL (the ``database`` fixture), the memory bus and the
machine's RabbitMQ (skipped without it, failing when CI is set).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, update
from taskflow_chassis.bus import EventBus, create_bus
from taskflow_chassis.bus.memory import MemoryBus
from taskflow_chassis.bus.rabbitmq import RabbitMQBus
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.handlers import EventContext, HandlerMap
from taskflow_chassis.inbox import EventConsumer
from taskflow_chassis.messaging import inbox_table, outbox_table
from taskflow_chassis.outbox import OutboxRelay, add_to_outbox
from taskflow_chassis.testing import postgres_outage, require_rabbitmq
from taskflow_chassis.unit_of_work import Publisher
from taskflow_contracts.base import EventPayload

from .conftest import widgets
from .test_bus import wait_for

PUBLISHER = Publisher("batches")
Context = EventContext[None]

log_metadata = MetaData()
# Where each applied event lands, numbered by what was there before it: the order of
# application, and each event's dependence on the one before, in the same table.
applied_log = Table(
    "applied_log",
    log_metadata,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("event_id", String(64), nullable=False),
    Column("team", String(36), nullable=False),
    Column("seq", Integer, nullable=False),
)


class Stepped(EventPayload):
    """A team's numbered step: applied only right after the step before (as team_seq)."""

    event_type = "taskflow.batches.team.stepped.v1"
    team: str
    seq: int


POISON = "poison"


async def step(payload: Stepped, context: Context) -> None:
    session = context.session
    if payload.team == POISON:
        raise ValueError("this event can never be applied")
    current = (
        await session.execute(select(widgets.c.count).where(widgets.c.id == payload.team))
    ).scalar_one_or_none()
    if (current or 0) + 1 != payload.seq:
        # A step applied twice, or one skipped, or the batch's earlier writes invisible.
        raise RuntimeError(f"team {payload.team}: step {payload.seq} after {current}")
    if current is None:
        await session.execute(insert(widgets).values(id=payload.team, count=payload.seq))
    else:
        await session.execute(
            update(widgets).where(widgets.c.id == payload.team).values(count=payload.seq)
        )
    position = (await session.execute(select(func.count()).select_from(applied_log))).scalar_one()
    await session.execute(
        insert(applied_log).values(
            position=position + 1, event_id=context.event.id, team=payload.team, seq=payload.seq
        )
    )


HANDLERS = HandlerMap({Stepped: [step]})


def stepped(team: str, seq: int) -> CloudEvent:
    return new_event(Stepped.event_type, source="/test", data=Stepped(team=team, seq=seq))


def interleaved(teams: list[str], steps: int) -> list[CloudEvent]:
    """Each team's steps 1..steps, the teams taking turns."""
    return [stepped(team, seq) for seq in range(1, steps + 1) for team in teams]


@dataclass
class Pipeline:
    database: Database
    publisher: EventBus
    consumer_bus: EventBus
    queue: str
    consumer: EventConsumer

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def park_queue(self) -> None:
        """Subscribe once, then stop: what is published next waits together in the queue."""
        await self.consumer.start()
        await self.consumer.stop()

    async def publish(self, events: list[CloudEvent]) -> None:
        for event in events:
            await self.publisher.publish(event)

    async def parked(self) -> list[str]:
        return [letter.id for letter in await self.consumer_bus.dead_letters(self.queue)]

    async def log(self) -> list[tuple[str, str, int]]:
        async with self.database.session() as session:
            query = select(applied_log.c.event_id, applied_log.c.team, applied_log.c.seq)
            rows = await session.execute(query.order_by(applied_log.c.position))
            return [(row.event_id, row.team, row.seq) for row in rows]

    async def batches(self) -> int:
        """How many batches claimed the inbox rows (a batch stamps all of its rows alike)."""
        async with self.database.session() as session:
            query = select(func.count(inbox_table.c.handled_at.distinct()))
            return int((await session.execute(query)).scalar_one())

    async def inbox(self) -> int:
        async with self.database.session() as session:
            query = select(func.count()).select_from(inbox_table)
            return int((await session.execute(query)).scalar_one())


@asynccontextmanager
async def pipeline_on(
    database: Database, bus_kind: str, *, batch_gap: float = 0.0
) -> AsyncIterator[Pipeline]:
    async with database.engine.begin() as conn:
        await conn.run_sync(log_metadata.create_all)
    suffix = uuid.uuid4().hex[:8]
    url = f"memory://batches-{suffix}" if bus_kind == "memory" else require_rabbitmq()
    publisher, consumer_bus = (
        create_bus(
            url,
            exchange=f"taskflow.test.{suffix}",
            max_retries=1,
            retry_base_seconds=0.05,
            batch_size=50,
            # Long: a lone event held back for company would show as a test timing out.
            batch_linger=60.0,
            batch_gap=batch_gap,
        )
        for _ in range(2)
    )
    await publisher.connect()
    await consumer_bus.connect()
    queue = f"batches-{suffix}"
    consumer = EventConsumer(
        database, consumer_bus, queue=queue, handlers=HANDLERS, publisher=PUBLISHER
    )
    try:
        yield Pipeline(database, publisher, consumer_bus, queue, consumer)
    finally:
        await consumer.stop()
        if isinstance(consumer_bus, RabbitMQBus):
            await consumer_bus.delete_queues(queue)
            await consumer_bus.delete_exchange()
        await consumer_bus.close()
        await publisher.close()


@pytest.fixture(params=["memory", "rabbitmq"])
def bus_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def pipeline(database: Database, bus_kind: str) -> AsyncIterator[Pipeline]:
    async with pipeline_on(database, bus_kind) as pipeline:
        yield pipeline


def expected(events: list[CloudEvent]) -> list[tuple[str, str, int]]:
    return [(e.id, str(e.data["team"]), int(e.data["seq"])) for e in events]


async def settle(pipeline: Pipeline, count: int, parked: int = 0, *, within: float = 30.0) -> None:
    async def done() -> bool:
        return len(await pipeline.log()) >= count and len(await pipeline.parked()) >= parked

    await wait_for(done, within=within)
    await asyncio.sleep(0.3)  # a doubled application would land now


async def test_a_poison_event_in_a_batch_of_50_is_parked_alone_the_49_applied_in_order(
    pipeline: Pipeline,
) -> None:
    events = interleaved(["a", "b", "c"], 17)[:49]
    poison = stepped(POISON, 1)
    events.insert(24, poison)
    await pipeline.park_queue()
    await pipeline.publish(events)
    await pipeline.start()
    await settle(pipeline, 49, parked=1)
    assert await pipeline.log() == expected([e for e in events if e is not poison])
    assert await pipeline.parked() == [poison.id]
    assert await pipeline.inbox() == 49


async def test_interleaved_teams_each_step_sees_the_one_before_in_the_same_batch(
    pipeline: Pipeline,
) -> None:
    # Batches of 50 cut the 120 events anywhere: a team's step 2 may be in the batch of its
    # step 1, or in the next one; either way it must find step 1 applied.
    events = interleaved(["t1", "t2", "t3", "t4"], 30)
    await pipeline.park_queue()
    await pipeline.publish(events)
    await pipeline.start()
    await settle(pipeline, len(events))
    assert await pipeline.log() == expected(events)
    assert await pipeline.parked() == []  # no step was ever out of order


async def test_the_same_event_twice_in_a_batch_and_one_already_handled_apply_once(
    pipeline: Pipeline,
) -> None:
    first = stepped("d", 1)
    await pipeline.start()
    await pipeline.publish([first])
    await settle(pipeline, 1)
    await pipeline.stop()
    second, third = stepped("d", 2), stepped("d", 3)
    # The relay sent `second` twice (a crash before marking it); `first` is replayed.
    await pipeline.publish([first, second, second, third, second])
    await pipeline.start()
    await settle(pipeline, 3)
    assert await pipeline.log() == expected([first, second, third])
    assert await pipeline.parked() == []  # a step applied twice would have failed
    assert await pipeline.inbox() == 3


async def test_a_lone_event_on_an_idle_queue_is_handled_before_a_second_is_published(
    pipeline: Pipeline,
) -> None:
    await pipeline.start()
    await asyncio.sleep(0.2)  # idle
    lone = stepped("e", 1)
    await pipeline.publish([lone])

    async def handled() -> bool:
        return await pipeline.log() == expected([lone])

    # The linger is 60 s: an event held back for company would still be waiting when
    # this gives up, and the second event would be what released it.
    await wait_for(handled, within=20.0)
    second = stepped("e", 2)
    await pipeline.publish([second])
    await settle(pipeline, 2)
    assert await pipeline.log() == expected([lone, second])


async def test_with_a_gap_a_lone_event_goes_at_once_and_a_stream_in_one_batch(
    database: Database, bus_kind: str
) -> None:
    async with pipeline_on(database, bus_kind, batch_gap=5.0) as pipeline:
        await pipeline.start()
        await asyncio.sleep(0.2)  # idle
        loop = asyncio.get_running_loop()
        first = stepped("g", 1)
        started = loop.time()
        await pipeline.publish([first])
        await settle(pipeline, 1)  # settle waits 0.3 s more
        assert loop.time() - started < 4.0  # not held for the gap

        stream = [stepped("g", seq) for seq in range(2, 8)]
        for event in stream:  # one at a time, as a steady stream arrives
            await pipeline.publish([event])
            await asyncio.sleep(0.05)
        await settle(pipeline, 7)
        assert await pipeline.log() == expected([first, *stream])
        # Without the gap each event, arriving alone, was a batch of its own: 7 in all.
        assert await pipeline.batches() == 2

        await asyncio.sleep(5.2)  # a quiet spell longer than the gap
        lone = stepped("g", 8)
        started = loop.time()
        await pipeline.publish([lone])
        await settle(pipeline, 8)
        assert loop.time() - started < 4.0
        assert await pipeline.parked() == []


async def test_with_a_gap_a_backlog_goes_in_full_batches_without_waiting_between_them(
    database: Database, bus_kind: str
) -> None:
    # Three batches (50, 50, 20) that waited out the gap between them would take two gaps,
    # beyond the wait allowed; a slow machine's seconds do not matter. One gap is allowed:
    # on a loaded machine the last deliveries can arrive after the last batch after a full
    # one began, and the few left then wait the gap like any batch after a partial one.
    async with pipeline_on(database, bus_kind, batch_gap=60.0) as pipeline:
        events = interleaved(["h1", "h2"], 60)
        await pipeline.park_queue()
        await pipeline.publish(events)
        await pipeline.start()
        await settle(pipeline, len(events), within=100.0)
        assert await pipeline.log() == expected(events)


@pytest.mark.parametrize("when", ["mid-batch", "before the batch"])
async def test_the_database_going_away_during_batches_loses_nothing_and_parks_nothing(
    postgres_database: Database, bus_kind: str, when: str
) -> None:
    async with pipeline_on(postgres_database, bus_kind) as pipeline:
        if when == "mid-batch":
            await database_away_mid_batch(pipeline)
        else:
            await database_away_before_the_batch(pipeline)


async def database_away_before_the_batch(pipeline: Pipeline) -> None:
    events = interleaved(["n", "o"], 25)
    await pipeline.start()
    async with postgres_outage(str(pipeline.database.engine.url)):
        await pipeline.publish(events)  # they arrive, and wait together, while it is away
        await asyncio.sleep(3)  # longer than the bus's back-off (0.05 s, 1 retry) allows
        assert await pipeline.parked() == []
        assert pipeline.consumer.paused_since is not None
    await check_all_applied_once(pipeline, events)


async def check_all_applied_once(pipeline: Pipeline, events: list[CloudEvent]) -> None:
    await settle(pipeline, len(events))
    assert await pipeline.log() == expected(events)
    assert await pipeline.parked() == []
    assert await pipeline.inbox() == len(events)
    if isinstance(pipeline.consumer_bus, MemoryBus):
        # Held while the database was away, not churned through the retry path.
        assert pipeline.consumer_bus.queues[pipeline.queue].retrying == 0


async def database_away_mid_batch(pipeline: Pipeline) -> None:
    events = interleaved(["f", "g"], 25)
    reached = asyncio.Event()
    release = asyncio.Event()
    slow_at = events[10].id

    async def slow_step(payload: Stepped, context: Context) -> None:
        if context.event.id == slow_at and not release.is_set():
            reached.set()
            await release.wait()  # the batch is half applied, its transaction open
        await step(payload, context)

    pipeline.consumer.handlers = HandlerMap({Stepped: [slow_step]})
    await pipeline.park_queue()
    await pipeline.publish(events)
    await pipeline.start()
    await asyncio.wait_for(reached.wait(), 30)
    async with postgres_outage(str(pipeline.database.engine.url)):
        release.set()
        await asyncio.sleep(3)  # longer than the bus's back-off (0.05 s, 1 retry) allows
        assert await pipeline.parked() == []
    await check_all_applied_once(pipeline, events)


# The relay: a batch sent together, its confirms awaited together.


class Proxy:
    """A TCP relay to RabbitMQ that can hold the broker's answers (its confirms) and cut
    every connection: the connection dropping between a publish and its confirm."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.hold = False
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection(self.host, self.port)
        self.writers += [client_w, broker_w]

        async def pump(r: asyncio.StreamReader, w: asyncio.StreamWriter, held: bool) -> None:
            try:
                while data := await r.read(65536):
                    if not (held and self.hold):
                        w.write(data)
                        await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.close()

        await asyncio.gather(
            pump(client_r, broker_w, held=False), pump(broker_r, client_w, held=True)
        )

    def cut(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


@dataclass
class Relaying:
    database: Database
    relay_bus: RabbitMQBus
    consumer_bus: RabbitMQBus
    received: list[str]
    proxy: Proxy
    exchange: str


@pytest.fixture
async def relaying(database: Database) -> AsyncIterator[Relaying]:
    url = require_rabbitmq()
    parts = urlsplit(url)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    port = await proxy.start()
    through_proxy = parts._replace(netloc=parts.netloc.rsplit(":", 1)[0] + f":{port}").geturl()
    if parts.port is None:
        through_proxy = parts._replace(netloc=f"{parts.netloc}:{port}").geturl()
    suffix = uuid.uuid4().hex[:8]
    exchange = f"taskflow.test.{suffix}"
    relay_bus = RabbitMQBus(through_proxy, exchange=exchange, publish_timeout=5.0)
    consumer_bus = RabbitMQBus(url, exchange=exchange)
    await relay_bus.connect()
    await consumer_bus.connect()
    received: list[str] = []

    async def record(event: CloudEvent) -> None:
        received.append(event.id)

    queue = f"relayed-{suffix}"
    await consumer_bus.subscribe(queue, ["taskflow.batches.#"], record)
    yield Relaying(database, relay_bus, consumer_bus, received, proxy, exchange)
    await consumer_bus.delete_queues(queue)
    await consumer_bus.delete_exchange()
    await consumer_bus.close()
    await relay_bus.close()
    await proxy.close()


async def outbox_state(database: Database) -> dict[str, bool]:
    async with database.session() as session:
        rows = await session.execute(select(outbox_table.c.id, outbox_table.c.published_at))
        return {row.id: row.published_at is not None for row in rows}


async def stage(database: Database, events: list[CloudEvent]) -> None:
    async with database.session() as session:
        await add_to_outbox(session, *events)
        await session.commit()


@pytest.mark.rabbitmq
async def test_the_relay_marks_nothing_the_broker_refused_and_publishes_it_later(
    relaying: Relaying,
) -> None:
    events = [stepped("h", n) for n in range(1, 7)]
    refused_type = "taskflow.batches.team.refused.v1"
    events[2] = new_event(refused_type, source="/test", data={"team": "h", "seq": 3})
    # A full queue that rejects what comes in: the broker nacks the event routed to it.
    channel = await relaying.consumer_bus._channel().get_underlay_channel()
    full = f"full-{uuid.uuid4().hex[:8]}"
    await channel.queue_declare(full, arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
    await channel.queue_bind(full, relaying.exchange, routing_key=refused_type)
    await stage(relaying.database, events)
    relay = OutboxRelay(relaying.database, relaying.relay_bus)
    assert await relay.publish_pending() == 2
    state = await outbox_state(relaying.database)
    # Only those before the refused one, though the broker confirmed the three after it.
    assert [state[e.id] for e in events] == [True, True, False, False, False, False]
    await channel.queue_delete(full)
    assert await relay.publish_pending() == 4
    assert all((await outbox_state(relaying.database)).values())

    async def all_twice() -> bool:
        return len(relaying.received) >= len(events) + 4

    await wait_for(all_twice)
    # A nack says some queue refused it, not that none has it: the consumers' queue got it
    # in its place, and the ones after it; the next pass sent all four again, in order.
    ids = [e.id for e in events]
    assert relaying.received == ids + ids[2:]


@pytest.mark.rabbitmq
async def test_the_connection_dropping_before_the_confirms_marks_nothing_and_loses_nothing(
    relaying: Relaying,
) -> None:
    events = [stepped("i", n) for n in range(1, 11)]
    await stage(relaying.database, events)
    relay = OutboxRelay(relaying.database, relaying.relay_bus)
    relaying.proxy.hold = True  # the broker's confirms go nowhere
    attempt = asyncio.create_task(relay.publish_pending())

    async def broker_has_them() -> bool:
        return len(set(relaying.received)) == len(events)

    await wait_for(broker_has_them)
    relaying.proxy.cut()
    assert await attempt == 0
    assert not any((await outbox_state(relaying.database)).values())
    relaying.proxy.hold = False
    deadline = time.monotonic() + 60
    while not all((await outbox_state(relaying.database)).values()):
        assert time.monotonic() < deadline, "the relay never published after the reconnect"
        await relay.publish_pending()
        await asyncio.sleep(0.2)

    async def sent_again() -> bool:
        return all(relaying.received.count(e.id) >= 2 for e in events)

    await wait_for(sent_again)  # at least once: the inbox drops the copies


# A consumer process killed (SIGKILL) in the middle of a batch.


async def consumer_process(db_url: str, bus_url: str, exchange: str, queue: str) -> None:
    """The consumer the test kills: batches of 10. The batch of the event named in
    ``$HANG_AT`` never finishes: ``$HANG_WHEN`` ``mid-batch``, its transaction is open
    (the events before it in the batch applied in it); ``committed``, it committed and
    its events are not acked yet. ``$MARKER`` says it got there."""
    hang_at, marker = os.environ["HANG_AT"], Path(os.environ["MARKER"])
    mid_batch = os.environ["HANG_WHEN"] == "mid-batch"

    async def hang() -> None:
        await asyncio.to_thread(marker.write_text, "there")
        await asyncio.Event().wait()

    async def step_or_hang(payload: Stepped, context: Context) -> None:
        await step(payload, context)
        if mid_batch and context.event.id == hang_at:
            await hang()

    database = Database(db_url)
    bus = create_bus(bus_url, exchange=exchange, batch_size=10, batch_linger=0.5)
    await bus.connect()
    handlers = HandlerMap({Stepped: [step_or_hang]})
    consumer = EventConsumer(database, bus, queue=queue, handlers=handlers, publisher=PUBLISHER)
    apply_batch = consumer._on_batch

    async def apply_then_hang(events: Sequence[CloudEvent]) -> None:
        await apply_batch(events)
        if hang_at in {event.id for event in events}:
            await hang()

    consumer._on_batch = apply_then_hang  # type: ignore[method-assign]
    await consumer.start()
    await asyncio.Event().wait()


@pytest.mark.rabbitmq
@pytest.mark.parametrize("when", ["mid-batch", "committed"])
async def test_a_consumer_killed_in_a_batch_applies_every_event_once_after_restart(
    database: Database, tmp_path: Path, when: str
) -> None:
    url = require_rabbitmq()
    async with database.engine.begin() as conn:
        await conn.run_sync(log_metadata.create_all)
    suffix = uuid.uuid4().hex[:8]
    exchange, queue = f"taskflow.test.{suffix}", f"killed-{suffix}"
    bus = RabbitMQBus(url, exchange=exchange, max_retries=1, batch_size=10)
    await bus.connect()
    consumer = EventConsumer(database, bus, queue=queue, handlers=HANDLERS, publisher=PUBLISHER)
    await consumer.start()
    await consumer.stop()  # the queue exists: the events wait in it for the process
    events = interleaved(["k", "l", "m"], 10)
    for event in events:
        await bus.publish(event)
    marker = tmp_path / "marker"
    db_url = database.engine.url.render_as_string(hide_password=False)
    code = (
        "import asyncio, sys; from tests.test_batches import consumer_process; "
        "asyncio.run(consumer_process(*sys.argv[1:]))"
    )
    process = subprocess.Popen(  # noqa: ASYNC220 - started, then polled without blocking
        [sys.executable, "-c", code, db_url, url, exchange, queue],
        cwd=Path(__file__).parent.parent,
        # Batches of up to 10: earlier ones committed, this one open or unacked when killed.
        env={**os.environ, "HANG_AT": events[23].id, "HANG_WHEN": when, "MARKER": str(marker)},
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, "the consumer process died on its own"
            assert time.monotonic() < deadline, "the consumer never reached the batch"
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        pipeline_log = Pipeline(database, bus, bus, queue, consumer)
        applied_before = await pipeline_log.log()
        assert applied_before == expected(events)[: len(applied_before)]
        if when == "mid-batch":  # committed batches only: the open one left nothing behind
            assert len(applied_before) < 24
        else:  # the batch committed: its events come again, and must not apply twice
            assert len(applied_before) >= 24
        await consumer.start()  # the restart: RabbitMQ hands the unacked events again
        await settle(pipeline_log, len(events))
        assert await pipeline_log.log() == expected(events)
        assert await pipeline_log.parked() == []
        assert await pipeline_log.inbox() == len(events)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        await consumer.stop()
        await bus.delete_queues(queue)
        await bus.delete_exchange()
        await bus.close()


class Noticed(EventPayload):
    event_type = "taskflow.batches.team.noticed.v1"
    team: str
    seq: int


async def test_events_staged_by_a_batch_are_relayed_once_it_commits_not_at_the_next_sweep(
    pipeline: Pipeline,
) -> None:
    async def step_and_tell(payload: Stepped, context: Context) -> None:
        await step(payload, context)
        context.uow.publish(Noticed(team=payload.team, seq=payload.seq))

    pipeline.consumer.handlers = HandlerMap({Stepped: [step_and_tell]})
    noticed: list[tuple[str, int]] = []

    async def observe(event: CloudEvent) -> None:
        noticed.append((str(event.data["team"]), int(event.data["seq"])))

    observer = f"{pipeline.queue}-observer"
    await pipeline.consumer_bus.subscribe(observer, [Noticed.event_type], observe)
    # Its sweep never comes during the test: only the batch's commit can wake it.
    relay = OutboxRelay(pipeline.database, pipeline.consumer_bus, sweep_interval=3600)
    await relay.start()
    try:
        events = interleaved(["p", "q"], 10)
        await pipeline.park_queue()
        await pipeline.publish(events)
        await pipeline.start()

        async def relayed() -> bool:
            return len(noticed) >= len(events)

        await wait_for(relayed, within=20.0)
        assert noticed == [(team, seq) for _id, team, seq in expected(events)]
    finally:
        await relay.stop()
        await pipeline.consumer_bus.unsubscribe(observer)
        if isinstance(pipeline.consumer_bus, RabbitMQBus):
            await pipeline.consumer_bus.delete_queues(observer)


async def test_the_memory_relay_marks_nothing_after_a_refused_event_and_publishes_it_later(
    database: Database, memory_url: str
) -> None:
    bus = MemoryBus(memory_url)
    await bus.connect()
    received: list[str] = []

    async def record(event: CloudEvent) -> None:
        received.append(event.id)

    await bus.subscribe("relayed", ["taskflow.batches.#"], record)
    events = [stepped("r", n) for n in range(1, 7)]
    await stage(database, events)
    # A row the hub cannot take (its body is not an event): the memory bus's refusal.
    async with database.session() as session, session.begin():
        await session.execute(
            update(outbox_table).where(outbox_table.c.id == events[2].id).values(payload="{")
        )
    relay = OutboxRelay(database, bus)
    assert await relay.publish_pending() == 2
    state = await outbox_state(database)
    assert [state[e.id] for e in events] == [True, True, False, False, False, False]
    async with database.session() as session, session.begin():
        await session.execute(
            update(outbox_table)
            .where(outbox_table.c.id == events[2].id)
            .values(payload=events[2].to_json().decode())
        )
    assert await relay.publish_pending() == 4
    assert all((await outbox_state(database)).values())
    await bus.drain()
    assert received == [e.id for e in events]  # in order: nothing went past the refused one
    await bus.close()

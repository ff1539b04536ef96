"""In-process event bus: the embedded mode's broker.

Every ``memory://<name>`` bus of a process shares one hub per name (``memory://``
is the hub ``default``), so the four services of ``make dev`` see each other's
events. As on RabbitMQ: a queue, once subscribed, keeps its messages while its
handler is busy or unsubscribed; its handler sees them one at a time, in order
(or its batch handler several at once, by the same rule: ``taskflow_chassis.bus``);
a failing handler is retried with back-off (without holding up the messages
behind it) or parked with its error, by the same rule (``next_step``); parked
messages can be listed, replayed and purged. Nothing survives the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from taskflow_chassis.bus import (
    DEFAULT_BATCH_GAP,
    DEFAULT_BATCH_LINGER,
    DEFAULT_BATCH_SIZE,
    BatchHandler,
    BatchPacer,
    DeadLetter,
    MessageHandler,
    OutgoingEvent,
    Published,
    ReconnectCallback,
    gather_batch,
    handle_failure,
    log_batch_failure,
    topic_matches,
)
from taskflow_chassis.events import CloudEvent

__all__ = ["MemoryBus"]

logger = logging.getLogger("taskflow.bus.memory")

# How long unsubscribe lets a running handler finish before cancelling it.
STOP_GRACE_SECONDS = 5.0


@dataclass
class _Queue:
    name: str
    routing_keys: set[str] = field(default_factory=set)
    handler: MessageHandler | None = None
    batch_handler: BatchHandler | None = None
    # (event, counted failures, transient failures)
    messages: deque[tuple[CloudEvent, int, int]] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    dead: list[DeadLetter] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None
    busy: bool = False
    stopping: bool = False
    retrying: int = 0

    def put(self, event: CloudEvent, retries: int = 0, outages: int = 0) -> None:
        self.messages.append((event, retries, outages))
        self.arrived.set()

    def idle(self) -> bool:
        return self.worker is None or not (self.busy or self.retrying or self.messages)


@dataclass
class _Broadcast:
    """One bus instance's broadcast subscription: its own queue, gone with the subscriber."""

    routing_keys: tuple[str, ...]
    handler: MessageHandler
    messages: asyncio.Queue[CloudEvent] = field(default_factory=asyncio.Queue)
    busy: bool = False
    worker: asyncio.Task[None] | None = None

    def idle(self) -> bool:
        return not (self.busy or self.messages.qsize())

    async def work(self) -> None:
        while True:
            event = await self.messages.get()
            self.busy = True
            try:
                await self.handler(event)
            except Exception:
                logger.exception("broadcast handler failed for %s (%s)", event.id, event.type)
            finally:
                self.busy = False


class _Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queues: dict[str, _Queue] = {}
        self.broadcasts: list[_Broadcast] = []


_HUBS: dict[str, _Hub] = {}


def _hub(name: str) -> _Hub:
    # A hub belongs to one event loop: its events and tasks are useless in another
    # (each test has its own loop), so a new loop starts a fresh hub of that name.
    loop = asyncio.get_running_loop()
    hub = _HUBS.get(name)
    if hub is None or hub.loop is not loop:
        hub = _HUBS[name] = _Hub(loop)
    return hub


class MemoryBus:
    def __init__(
        self,
        url: str = "memory://",
        *,
        max_retries: int = 5,
        retry_base_seconds: float = 0.5,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_linger: float = DEFAULT_BATCH_LINGER,
        batch_gap: float = DEFAULT_BATCH_GAP,
    ) -> None:
        self.name = urlsplit(url).netloc or "default"
        self.max_retries = max_retries
        self.retry_base_seconds = retry_base_seconds
        self.batch_size = batch_size
        self.batch_linger = batch_linger
        self.batch_gap = batch_gap
        self._owned: set[str] = set()
        self._broadcasts: list[_Broadcast] = []
        self._connected = False

    @property
    def queues(self) -> dict[str, _Queue]:
        return _hub(self.name).queues

    async def connect(self) -> None:
        self._connected = True

    async def close(self) -> None:
        for name in list(self._owned):
            await self.unsubscribe(name)
        hub = _hub(self.name)
        for broadcast in self._broadcasts:
            if broadcast in hub.broadcasts:  # not when closed from another event loop
                hub.broadcasts.remove(broadcast)
            assert broadcast.worker is not None
            broadcast.worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await broadcast.worker
        self._broadcasts.clear()
        self._connected = False

    async def ping(self) -> bool:
        return self._connected

    async def publish(self, event: CloudEvent) -> None:
        """Enqueue on every matching queue; handlers run later, in their queues' workers."""
        if not self._connected:
            raise ConnectionError("the memory bus is not connected")
        for queue in self.queues.values():
            if any(topic_matches(key, event.type) for key in queue.routing_keys):
                queue.put(event)
        for broadcast in _hub(self.name).broadcasts:
            if any(topic_matches(key, event.type) for key in broadcast.routing_keys):
                broadcast.messages.put_nowait(event)

    async def publish_many(self, events: Sequence[OutgoingEvent]) -> Published:
        """Each body parsed once, here (the consumer's side of a broker), then enqueued."""
        for done, outgoing in enumerate(events):
            try:
                await self.publish(CloudEvent.from_json(outgoing.body))
            except Exception as exc:
                return Published(done, exc)
        return Published(len(events))

    async def subscribe(
        self,
        queue: str,
        routing_keys: Sequence[str],
        handler: MessageHandler,
        *,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        target = self.queues.get(queue)
        if target is None:
            target = self.queues[queue] = _Queue(queue)
        elif target.worker is not None and not target.worker.done():
            raise RuntimeError(f"queue {queue!r} already has a consumer")
        target.routing_keys |= set(routing_keys)  # bindings stay, as on a durable queue
        target.handler = handler
        target.batch_handler = batch_handler
        target.stopping = False
        target.worker = asyncio.create_task(self._work(target), name=f"memory-bus:{queue}")
        self._owned.add(queue)

    async def subscribe_broadcast(
        self,
        routing_keys: Sequence[str],
        handler: MessageHandler,
        *,
        on_reconnected: ReconnectCallback | None = None,  # an in-process hub never disconnects
    ) -> None:
        if not self._connected:
            raise ConnectionError("the memory bus is not connected")
        broadcast = _Broadcast(tuple(routing_keys), handler)
        broadcast.worker = asyncio.create_task(broadcast.work(), name="memory-bus:broadcast")
        _hub(self.name).broadcasts.append(broadcast)
        self._broadcasts.append(broadcast)

    async def unsubscribe(self, queue: str) -> None:
        """Stop consuming, letting a running handler finish; the queue keeps its messages."""
        self._owned.discard(queue)
        target = self.queues.get(queue)
        if target is None or target.worker is None:
            return
        worker = target.worker
        target.stopping = True
        if target.busy:
            await asyncio.wait({worker}, timeout=STOP_GRACE_SECONDS)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        target.worker = None

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        target = self.queues.get(queue)
        return list(target.dead) if target else []

    async def dead_letter_count(self, queue: str) -> int:
        target = self.queues.get(queue)
        return len(target.dead) if target else 0

    async def replay_dead_letters(self, queue: str, ids: Collection[str] | None = None) -> int:
        return self._take_dead_letters(queue, ids, replay=True)

    async def purge_dead_letters(self, queue: str, ids: Collection[str] | None = None) -> int:
        return self._take_dead_letters(queue, ids, replay=False)

    def _take_dead_letters(self, queue: str, ids: Collection[str] | None, *, replay: bool) -> int:
        target = self.queues.get(queue)
        if target is None:
            return 0
        wanted = None if ids is None else set(ids)
        taken: list[DeadLetter] = []
        kept: list[DeadLetter] = []
        for letter in target.dead:
            (taken if wanted is None or letter.id in wanted else kept).append(letter)
        target.dead = kept
        if replay:
            for letter in taken:
                if letter.event is not None:
                    target.put(letter.event)
        return len(taken)

    async def drain(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - polls, no I/O to bound
        """Wait until every consumed queue of the hub is empty and idle (for tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        hub = _hub(self.name)
        while not (
            all(q.idle() for q in self.queues.values()) and all(b.idle() for b in hub.broadcasts)
        ):
            if loop.time() > deadline:
                busy = sorted(q.name for q in self.queues.values() if not q.idle())
                raise TimeoutError(f"memory bus did not drain: {', '.join(busy)} still busy")
            await asyncio.sleep(0.01)

    async def _work(self, queue: _Queue) -> None:
        pacer = BatchPacer(self.batch_gap)
        while not queue.stopping:
            if not queue.messages:
                queue.arrived.clear()
                await queue.arrived.wait()
                continue
            queue.busy = True  # from the first message taken: drain() must not see it idle
            try:
                if queue.batch_handler is not None:
                    await pacer.wait(queue.messages, self.batch_size)
                size = self.batch_size if queue.batch_handler is not None else 1
                batch = await gather_batch(queue.messages, size, self.batch_linger)
                await self._deliver_batch(queue, batch)
            finally:
                queue.busy = False

    async def _deliver_batch(self, queue: _Queue, batch: list[tuple[CloudEvent, int, int]]) -> None:
        """The batch handler for several, or each to the handler alone (its retries, parking)."""
        if len(batch) > 1 and queue.batch_handler is not None:
            try:
                await queue.batch_handler([event for event, _retries, _outages in batch])
                return
            except asyncio.CancelledError:
                queue.messages.extendleft(reversed(batch))
                raise
            except Exception as exc:
                log_batch_failure(logger, queue.name, len(batch), exc)
        for index, (event, retries, outages) in enumerate(batch):
            if queue.stopping:  # unsubscribed meanwhile: the rest stay in the queue, in front
                queue.messages.extendleft(reversed(batch[index:]))
                return
            try:
                await self._deliver(queue, event, retries, outages)
            except asyncio.CancelledError:
                # _deliver put its own message back in front; the rest go right behind it.
                current = queue.messages.popleft()
                queue.messages.extendleft(reversed(batch[index + 1 :]))
                queue.messages.appendleft(current)
                raise

    async def _deliver(self, queue: _Queue, event: CloudEvent, retries: int, outages: int) -> None:
        assert queue.handler is not None
        try:
            await queue.handler(event)
        except asyncio.CancelledError:
            # Stopped mid-delivery: put it back in front, as an unacked AMQP message.
            queue.messages.appendleft((event, retries, outages))
            raise
        except Exception as exc:
            step = handle_failure(
                exc,
                event,
                queue.name,
                retries=retries,
                outages=outages,
                max_retries=self.max_retries,
                retry_base_seconds=self.retry_base_seconds,
                log=logger,
            )
            if step.park:
                queue.dead.append(DeadLetter(event=event, error=step.error, attempts=retries + 1))
                return
            queue.retrying += 1
            asyncio.get_running_loop().call_later(
                step.delay, self._requeue, queue, event, *step.next_counts(retries, outages)
            )

    @staticmethod
    def _requeue(queue: _Queue, event: CloudEvent, retries: int, outages: int) -> None:
        queue.retrying -= 1
        queue.put(event, retries, outages)

"""In-process event bus: the embedded mode's broker.

Every ``memory://<name>`` bus of a process shares one hub per name, so the four
services of ``make dev`` see each other's events. A queue keeps its messages
while its handler is busy; a failing handler is retried with back-off and then
dead-lettered with its error, as on RabbitMQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from taskflow_chassis.bus import DeadLetter, MessageHandler, retry_delay, topic_matches
from taskflow_chassis.events import CloudEvent

logger = logging.getLogger("taskflow.bus.memory")


@dataclass
class _Queue:
    name: str
    routing_keys: list[str]
    handler: MessageHandler | None
    messages: asyncio.Queue[tuple[CloudEvent, int]] = field(default_factory=asyncio.Queue)
    retrying: int = 0
    dead: list[DeadLetter] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None
    busy: bool = False


class _Hub:
    def __init__(self) -> None:
        self.queues: dict[str, _Queue] = {}


_HUBS: dict[str, _Hub] = {}


class MemoryBus:
    def __init__(
        self, url: str = "memory://", *, max_retries: int = 5, retry_base_seconds: float = 0.5
    ) -> None:
        name = urlsplit(url).netloc or "default"
        self.hub = _HUBS.setdefault(name, _Hub())
        self.max_retries = max_retries
        self.retry_base_seconds = retry_base_seconds
        self._owned: set[str] = set()
        self._connected = False

    async def connect(self) -> None:
        self._connected = True

    async def close(self) -> None:
        for name in list(self._owned):
            await self.unsubscribe(name)
        self._connected = False

    async def ping(self) -> bool:
        return self._connected

    async def publish(self, event: CloudEvent) -> None:
        if not self._connected:
            raise ConnectionError("the memory bus is not connected")
        for queue in self.hub.queues.values():
            if any(topic_matches(key, event.type) for key in queue.routing_keys):
                queue.messages.put_nowait((event, 0))

    async def subscribe(
        self, queue: str, routing_keys: Sequence[str], handler: MessageHandler
    ) -> None:
        existing = self.hub.queues.get(queue)
        if existing is not None and existing.worker is not None and not existing.worker.done():
            raise RuntimeError(f"queue {queue!r} already has a consumer")
        target = existing or _Queue(queue, [], None)
        target.routing_keys = sorted(set(target.routing_keys) | set(routing_keys))
        target.handler = handler
        self.hub.queues[queue] = target
        target.worker = asyncio.create_task(self._work(target), name=f"memory-bus:{queue}")
        self._owned.add(queue)

    async def unsubscribe(self, queue: str) -> None:
        """Stop consuming; the queue and anything still in it stay (durable, as on RabbitMQ)."""
        target = self.hub.queues.get(queue)
        self._owned.discard(queue)
        if target and target.worker:
            target.worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await target.worker
            target.worker = None

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        target = self.hub.queues.get(queue)
        return list(target.dead) if target else []

    async def drain(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - polls, no I/O to bound
        """Wait until every queue of the hub is empty and idle (for tests)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while any(
            q.worker is not None and (q.busy or q.retrying or not q.messages.empty())
            for q in self.hub.queues.values()
        ):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("memory bus did not drain")
            await asyncio.sleep(0.01)

    async def _work(self, queue: _Queue) -> None:
        while True:
            event, failures = await queue.messages.get()
            queue.busy = True
            try:
                await self._deliver(queue, event, failures)
            finally:
                queue.busy = False
                queue.messages.task_done()

    async def _deliver(self, queue: _Queue, event: CloudEvent, failures: int) -> None:
        assert queue.handler is not None
        try:
            await queue.handler(event)
        except asyncio.CancelledError:
            # Stopped mid-delivery: put it back, as an unacked AMQP message would be.
            queue.messages.put_nowait((event, failures))
            raise
        except Exception as exc:
            failures += 1
            error = f"{type(exc).__name__}: {exc}"
            if failures > self.max_retries:
                logger.error(
                    "dead-lettered %s on %s after %d attempts: %s",
                    event.id,
                    queue.name,
                    failures,
                    error,
                )
                queue.dead.append(DeadLetter(event=event, error=error, attempts=failures))
                return
            logger.warning(
                "handler failed for %s on %s (attempt %d): %s",
                event.id,
                queue.name,
                failures,
                error,
            )
            # Retry later without holding up the events behind it, as RabbitMQ's retry queue does.
            queue.retrying += 1
            asyncio.get_running_loop().call_later(
                retry_delay(self.retry_base_seconds, failures),
                self._requeue,
                queue,
                event,
                failures,
            )

    @staticmethod
    def _requeue(queue: _Queue, event: CloudEvent, failures: int) -> None:
        queue.retrying -= 1
        queue.messages.put_nowait((event, failures))

"""The event bus: one interface, two adapters chosen by ``EVENT_BUS_URL``.

``memory://`` (embedded mode: every service of the process shares one hub) and
``amqp://`` (RabbitMQ). Both route by event type on a topic exchange, retry a
failing handler with back-off and park what cannot be handled, with its error,
in the queue's dead-letter queue ``<queue>.dlq``, where it can be listed,
replayed into its queue, or purged.

Shared semantics: the routing key is the event type; a queue receives the events
matching one of its keys (AMQP topic patterns, ``*`` one word, ``#`` any); a
queue, once subscribed, keeps its messages while its consumer is busy or away;
handlers of one queue run one at a time, in arrival order. A handler that raises
is dealt with by the kind of its failure (``taskflow_chassis.failures``):

- transient (an outage): retried after ``retry_delay`` (doubling, at most
  ``TRANSIENT_MAX_DELAY``) for as long as it lasts, never parked;
- permanent (a malformed or unknown message): parked at once;
- anything else: retried at most ``max_retries`` times, then parked.

Nothing is dropped silently, but an event no queue is bound to is not kept
(topic exchange rules).

Batches: a subscription may also give a ``batch_handler``. The events waiting in
the queue (at most ``batch_size``; gathered for at most ``batch_linger`` seconds,
and only while more keep arriving, so a lone event is never held back) then go
to it together, in order. Under a steady stream, a queue's batches also begin at
least ``batch_gap`` seconds apart (``BatchPacer``): an event after a quiet spell
still goes at once, and what arrives during the rest of the gap joins the next
batch, which shares its transaction and inbox claim with more events. Once the
batch handler returns, every one of them is done. When it raises, each event of
the batch goes to the single ``handler`` instead, one by one, with the retries
and parking above, so one poison event is parked alone and the others are
applied. A batch of one goes to ``handler`` directly.

The relay publishes with ``publish_many``: the bodies as the outbox stored them
(serialised once, parsed once by the consumer), all sent before the broker's
confirms are awaited together, each message with the same properties (id, type,
correlation id, time) as ``publish`` gives a single event.

A broadcast subscription (``subscribe_broadcast``) is the other kind: every bus
instance (every process) that makes one receives every matching event, where a
service's queue hands each event to one of its processes. It holds nothing while
its bus is away and neither retries nor parks (a handler that raises is logged),
so it suits state each process keeps in memory and can reload: ``on_reconnected``
runs after the broker connection came back, to catch up on what was missed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence, Sized
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from taskflow_chassis.events import CloudEvent
from taskflow_chassis.failures import Failure, classify

__all__ = [
    "DEFAULT_BATCH_GAP",
    "DEFAULT_BATCH_LINGER",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_EXCHANGE",
    "TRANSIENT_MAX_DELAY",
    "BatchHandler",
    "BatchPacer",
    "DeadLetter",
    "EventBus",
    "MessageHandler",
    "OutgoingEvent",
    "Published",
    "ReconnectCallback",
    "Retry",
    "create_bus",
    "gather_batch",
    "handle_failure",
    "log_batch_failure",
    "next_step",
    "retry_delay",
    "topic_matches",
]

MessageHandler = Callable[[CloudEvent], Awaitable[None]]
BatchHandler = Callable[[Sequence[CloudEvent]], Awaitable[None]]
ReconnectCallback = Callable[[], None]

DEFAULT_EXCHANGE = "taskflow.events"
DEFAULT_BATCH_SIZE = 50
DEFAULT_BATCH_LINGER = 0.005
DEFAULT_BATCH_GAP = 0.0
# An outage is retried at least this often, however long it lasts.
TRANSIENT_MAX_DELAY = 30.0


@dataclass(frozen=True)
class DeadLetter:
    """A parked message: the event, the last error (``Type: message``), how often it was tried."""

    event: CloudEvent | None  # None only when the body was not a CloudEvent at all
    error: str
    attempts: int
    body: bytes = b""  # the raw message, for an unreadable one
    message_id: str = ""  # the event id, or the broker's message id of an unreadable one

    @property
    def id(self) -> str:
        return self.event.id if self.event is not None else self.message_id


@dataclass(frozen=True)
class OutgoingEvent:
    """An event as the outbox holds it: its id, its type (the routing key), its JSON body,
    and the envelope attributes a broker's message carries beside the body (its
    correlation id and time), so a batch's messages are the same as a single publish's."""

    id: str
    type: str
    body: bytes
    correlation_id: str | None = None
    time: datetime | None = None

    @classmethod
    def of(cls, event: CloudEvent) -> OutgoingEvent:
        return cls(event.id, event.type, event.to_json(), event.correlationid, event.time)

    @classmethod
    def stored(cls, id: str, type: str, payload: str) -> OutgoingEvent:
        """From an outbox row: the body sent as stored, its correlation id and time read
        from it with the standard library's JSON reader (no model is built: the body is
        neither validated nor serialised again here). A body that is no JSON object goes
        without them, as it is: the bus says what becomes of it."""
        try:
            envelope = json.loads(payload)
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict):
            return cls(id, type, payload.encode())
        correlation_id = envelope.get("correlationid")
        try:
            time: datetime | None = datetime.fromisoformat(envelope["time"])
        except (KeyError, TypeError, ValueError):
            time = None
        return cls(
            id,
            type,
            payload.encode(),
            correlation_id if isinstance(correlation_id, str) else None,
            time,
        )


@dataclass(frozen=True)
class Published:
    """What ``publish_many`` did: how many events, from the first, the broker confirmed, and
    the error that stopped the one after them (None: all were confirmed)."""

    count: int
    error: BaseException | None = None


@dataclass(frozen=True)
class Retry:
    """What to do with a message whose handler failed: park it, or try again after ``delay``."""

    park: bool
    delay: float = 0.0
    counted: bool = True  # False for an outage: it does not use up the message's retries
    error: str = ""  # ``Type: message`` of the failure, for the logs and the parked copy

    def next_counts(self, retries: int, outages: int) -> tuple[int, int]:
        """The (retries, outages) the next delivery carries."""
        return (retries + 1, outages) if self.counted else (retries, outages + 1)


def handle_failure(
    exc: BaseException,
    event: CloudEvent,
    queue: str,
    *,
    retries: int,
    outages: int,
    max_retries: int,
    retry_base_seconds: float,
    log: logging.Logger,
) -> Retry:
    """``next_step`` for a failed delivery, logged as both buses log it."""
    error = f"{type(exc).__name__}: {exc}"
    step = dataclasses.replace(
        next_step(
            exc,
            retries=retries,
            outages=outages,
            max_retries=max_retries,
            retry_base_seconds=retry_base_seconds,
        ),
        error=error,
    )
    if step.park:
        log.error(
            "parked %s (%s) on %s after %d attempts: %s",
            event.id,
            event.type,
            queue,
            retries + 1,
            error,
        )
    else:
        log.warning(
            "handler failed for %s (%s) on %s (%s, retrying in %.1f s): %s",
            event.id,
            event.type,
            queue,
            f"attempt {retries + 1}" if step.counted else f"outage {outages + 1}",
            step.delay,
            error,
        )
    return step


def next_step(
    exc: BaseException,
    *,
    retries: int,
    outages: int,
    max_retries: int,
    retry_base_seconds: float,
) -> Retry:
    """The bus's rule for a failed handler. ``retries``: counted failures before this one;
    ``outages``: transient failures before this one."""
    kind = classify(exc)
    if kind is Failure.PERMANENT:
        return Retry(park=True)
    if kind is Failure.TRANSIENT:
        delay = min(retry_delay(retry_base_seconds, outages + 1), TRANSIENT_MAX_DELAY)
        return Retry(park=False, delay=delay, counted=False)
    if retries >= max_retries:
        return Retry(park=True)
    return Retry(park=False, delay=retry_delay(retry_base_seconds, retries + 1))


class EventBus(Protocol):
    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, event: CloudEvent) -> None:
        """Return only once the broker has the event (publisher confirm)."""

    async def publish_many(self, events: Sequence[OutgoingEvent]) -> Published:
        """Publish in order, then wait for every confirm at once; never raises for an event
        the broker refused (``Published.error``), so the caller keeps the confirmed ones."""

    async def subscribe(
        self,
        queue: str,
        routing_keys: Sequence[str],
        handler: MessageHandler,
        *,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        """Deliver events whose type matches a key (``*``/``#`` patterns) to ``handler``
        (or several at once to ``batch_handler``: see the module's note on batches)."""

    async def unsubscribe(self, queue: str) -> None:
        """Stop consuming; the queue keeps what arrives meanwhile."""

    async def subscribe_broadcast(
        self,
        routing_keys: Sequence[str],
        handler: MessageHandler,
        *,
        on_reconnected: ReconnectCallback | None = None,
    ) -> None:
        """Deliver every matching event to this bus instance's ``handler``, whichever other
        instances also subscribed; until ``close``. ``on_reconnected`` runs (on the event
        loop, so it must not block) once the subscription is back after a lost connection."""

    async def ping(self) -> bool:
        """For ``/readyz``: is the broker connection open?"""

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        """What ``<queue>.dlq`` holds, oldest first, without removing it."""

    async def dead_letter_count(self, queue: str) -> int:
        """How many messages ``<queue>.dlq`` holds (cheap: for ``/readyz`` and the logs)."""

    async def replay_dead_letters(self, queue: str, ids: Collection[str] | None = None) -> int:
        """Move parked messages (those ids, or all) back into ``queue``, retries reset;
        answer how many. The consumer's inbox makes a replay of a handled event a no-op."""

    async def purge_dead_letters(self, queue: str, ids: Collection[str] | None = None) -> int:
        """Drop parked messages (those ids, or all); answer how many."""


def retry_delay(base_seconds: float, attempt: int) -> float:
    """Back-off before retry ``attempt`` (1-based): base, 2 x base, 4 x base... at most 5 min."""
    # The exponent is bounded: an outage retried for days must not overflow the float.
    return float(min(base_seconds * (2 ** min(max(attempt - 1, 0), 30)), 300.0))


T = TypeVar("T")


async def gather_batch(waiting: deque[T], size: int, linger: float) -> list[T]:
    """Take up to ``size`` items from the front of ``waiting`` (which deliveries fill).

    What is there is taken at once; the gathering goes on only while more keep
    arriving between two turns of the event loop, and for at most ``linger``
    seconds, so an item alone in the queue is handled straight away. Cancelled,
    it puts what it took back in front, in order.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + linger
    batch: list[T] = []
    try:
        while True:
            while waiting and len(batch) < size:
                batch.append(waiting.popleft())
            if len(batch) >= size or loop.time() >= deadline:
                return batch
            await asyncio.sleep(0)  # deliveries already read off the socket come in now
            if not waiting:
                return batch
    except asyncio.CancelledError:
        waiting.extendleft(reversed(batch))
        raise


class BatchPacer:
    """Spaces one queue's batches: each begins at least ``gap`` seconds after the one before.

    An event after a quiet spell goes at once; in a stream, the next batch waits out the
    rest of the gap while deliveries gather, so a batch's fixed cost (its transaction, the
    inbox claim, the commit, the acknowledgements) is shared by the events of several
    writes. A full batch waiting, and the batch after a full one, go at once: a backlog
    is drained at the consumer's own pace, never one batch a gap. Zero: no spacing.
    """

    def __init__(self, gap: float) -> None:
        self.gap = gap
        self._last_start = float("-inf")
        self._behind = False

    async def wait(self, waiting: Sized, size: int) -> None:
        """Before a batch of at most ``size`` is taken from ``waiting``."""
        if self.gap <= 0:
            return
        loop = asyncio.get_running_loop()
        rest = self._last_start + self.gap - loop.time()
        if rest > 0 and not self._behind and len(waiting) < size:
            await asyncio.sleep(rest)
        self._last_start = loop.time()
        self._behind = len(waiting) >= size


def log_batch_failure(log: logging.Logger, queue: str, size: int, exc: Exception) -> None:
    """Both buses' line for a batch that failed and is handled one by one."""
    log.info(
        "a batch of %d on %s failed (%s: %s): handling its events one by one",
        size,
        queue,
        type(exc).__name__,
        exc,
    )


def create_bus(
    url: str,
    *,
    exchange: str = DEFAULT_EXCHANGE,
    max_retries: int = 5,
    retry_base_seconds: float = 0.5,
    batch_size: int = DEFAULT_BATCH_SIZE,
    batch_linger: float = DEFAULT_BATCH_LINGER,
    batch_gap: float = DEFAULT_BATCH_GAP,
    prefetch: int = 2 * DEFAULT_BATCH_SIZE,
) -> EventBus:
    """The adapter for a URL: ``memory://[hub]`` or ``amqp(s)://user:pass@host/vhost``.

    ``batch_size``, ``batch_linger`` and ``batch_gap`` shape a batch subscription's batches;
    ``prefetch`` is how many unacked deliveries RabbitMQ hands a consumer at once
    (at least ``batch_size``, or batches never fill)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        from taskflow_chassis.bus.memory import MemoryBus

        return MemoryBus(
            url,
            max_retries=max_retries,
            retry_base_seconds=retry_base_seconds,
            batch_size=batch_size,
            batch_linger=batch_linger,
            batch_gap=batch_gap,
        )
    if scheme in {"amqp", "amqps"}:
        from taskflow_chassis.bus.rabbitmq import RabbitMQBus

        return RabbitMQBus(
            url,
            exchange=exchange,
            max_retries=max_retries,
            retry_base_seconds=retry_base_seconds,
            prefetch=max(prefetch, batch_size),
            batch_size=batch_size,
            batch_linger=batch_linger,
            batch_gap=batch_gap,
        )
    raise ValueError(
        # Not the URL itself: it may carry a password.
        f"unknown event bus URL scheme {scheme!r}: "
        "use memory://[name] or amqp://user:password@host:5672/ (amqps:// for TLS)"
    )


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is one word, ``#`` is zero or more words."""
    words, parts = pattern.split("."), routing_key.split(".")

    def match(i: int, j: int) -> bool:
        if i == len(words):
            return j == len(parts)
        if words[i] == "#":
            return any(match(i + 1, k) for k in range(j, len(parts) + 1))
        return j < len(parts) and words[i] in ("*", parts[j]) and match(i + 1, j + 1)

    return match(0, 0)

"""RabbitMQ adapter over aio-pika.

A robust connection (reconnects and re-declares exchanges, queues, bindings,
QoS and consumers by itself), a durable topic exchange, persistent messages
with publisher confirms, one durable queue per service with manual acks: a
message is acked only after its handler returned (or its batch's handler: the
consumer's QoS prefetch lets several wait on the client, and those that are
there when the handler is free go together, acked with one frame: each queue is
consumed on a channel of its own, where every delivery before a batch's last is
settled or in the batch, unless an earlier batch was cut short; see ``_ack``).

The processes of one service (API workers, replicas) each consume its queue at a
consumer priority of their own, drawn at random: the broker hands every event to
the highest one while it has room (its prefetch), and to the next only beyond
that. Events that arrive together (a write's two events, published together by
the relay) thus reach one process and are applied as one batch, where round-robin
would split them into batches of one; a busy process's overflow still goes to the
others, and a process that goes away leaves its place to the next.

A failing message is acked only after a copy went to ``<queue>.retry``
(per-message TTL = back-off, then dead-lettered by the broker back into
``<queue>``), so back-off never blocks the queue; a message parked (see
``next_step``) goes to ``<queue>.dlq`` with ``x-error``, ``x-retry-count`` and
``x-original-routing-key`` headers. When the broker refuses that copy (a resource
alarm), the message and the rest of its batch stay unacked for
``STRANDED_REQUEUE_SECONDS``, then go back to the queue and are tried again.
RabbitMQ expires messages only at the head of a queue, so a short back-off may
wait behind a longer one in ``<queue>.retry``: later, never lost. Replaying a parked
message publishes it to ``<queue>`` itself (not the exchange, which would hand it to
other services' queues too).

A broadcast subscription is a queue of the process's own (exclusive, auto-deleted
with its connection, not durable), bound to the exchange and consumed without
acks; the robust connection declares, binds and consumes it again after a
reconnect, then calls ``on_reconnected`` so the subscriber can catch up.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import ChannelInvalidStateError

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
)
from taskflow_chassis.events import CloudEvent

__all__ = ["CONTENT_TYPE", "RabbitMQBus"]

logger = logging.getLogger("taskflow.bus.rabbitmq")

CONTENT_TYPE = "application/cloudevents+json"
RETRY_HEADER = "x-retry-count"
OUTAGE_HEADER = "x-outage-count"  # transient failures: they do not use up the retries
ERROR_HEADER = "x-error"
ROUTING_KEY_HEADER = "x-original-routing-key"
MAX_ERROR_LENGTH = 2000
# How long unsubscribe waits for a running handler (its message is redelivered if cut off).
STOP_GRACE_SECONDS = 5.0
# How long deliveries a batch could not settle (a retry copy the broker refused, as in a
# resource alarm) stay unacked before they go back to the queue: long enough not to loop
# hot on a copy refused every time, short enough not to hold the consumer's prefetch.
STRANDED_REQUEUE_SECONDS = 10.0
# Consumer priorities are drawn from this range: two processes of a service rarely
# draw the same one (and if they do, they merely share its events round-robin).
CONSUMER_PRIORITIES = (1, 1_000_000)
# Headers the broker adds when dead-lettering; a copy we publish starts without them.
_BROKER_HEADERS = ("x-death", "x-first-death-exchange", "x-first-death-queue")


@dataclass
class _Subscription:
    channel: AbstractChannel  # its own: a batch's ack (multiple) covers only its deliveries
    queue: AbstractQueue
    handler: MessageHandler
    batch_handler: BatchHandler | None = None
    tag: str = ""
    active: bool = True
    # aio-pika runs each delivery as its own task: each joins ``waiting``, then takes the
    # lock (FIFO), and the holder handles what waits, in order; a task whose message an
    # earlier holder took finds nothing left and returns.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: deque[AbstractIncomingMessage] = field(default_factory=deque)
    pacer: BatchPacer = field(default_factory=lambda: BatchPacer(0.0))
    # Deliveries a batch took and could not settle (an exception cut it short): unacked
    # until ``STRANDED_REQUEUE_SECONDS`` later (``requeues``) or their channel closes.
    stranded: list[AbstractIncomingMessage] = field(default_factory=list)
    requeues: set[asyncio.Task[None]] = field(default_factory=set)


class RabbitMQBus:
    def __init__(
        self,
        url: str,
        *,
        exchange: str,
        max_retries: int = 5,
        retry_base_seconds: float = 0.5,
        prefetch: int = 2 * DEFAULT_BATCH_SIZE,
        publish_timeout: float = 10.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_linger: float = DEFAULT_BATCH_LINGER,
        batch_gap: float = DEFAULT_BATCH_GAP,
    ) -> None:
        self.url = url
        self.exchange_name = exchange
        self.max_retries = max_retries
        self.retry_base_seconds = retry_base_seconds
        self.prefetch = prefetch
        self.batch_size = batch_size
        self.batch_linger = batch_linger
        self.batch_gap = batch_gap
        self.publish_timeout = publish_timeout
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._consume_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._subscriptions: dict[str, _Subscription] = {}
        self._lock = asyncio.Lock()
        self.consumer_priority = random.randint(*CONSUMER_PRIORITIES)  # noqa: S311 - no secret

    async def connect(self) -> None:
        async with self._lock:
            if self._connection is not None:
                return
            # Bounded: a listener that never answers fails the attempt (it is retried).
            connection = await aio_pika.connect_robust(self.url, timeout=self.publish_timeout)
            try:
                self._publish_channel = await connection.channel(publisher_confirms=True)
                self._exchange = await self._publish_channel.declare_exchange(
                    self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
                )
                # Broadcast queues' consumers (no acks) and the retry/DLQ copies, confirmed
                # too; each service queue is consumed on a channel of its own (subscribe).
                self._consume_channel = await connection.channel(publisher_confirms=True)
            except BaseException:
                await connection.close()
                raise
            self._connection = connection

    async def close(self) -> None:
        for queue in list(self._subscriptions):
            await self.unsubscribe(queue)
        if self._connection is not None:
            await self._connection.close()
        self._connection = None
        self._publish_channel = self._consume_channel = None
        self._exchange = None

    async def ping(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    def _channel(self) -> AbstractChannel:
        if self._consume_channel is None:
            raise ConnectionError("the RabbitMQ bus is not connected")
        return self._consume_channel

    async def publish(self, event: CloudEvent) -> None:
        """Publish persistently; returns once the broker confirmed it, raises otherwise."""
        if self._exchange is None:
            raise ConnectionError("the RabbitMQ bus is not connected")
        message = _message(OutgoingEvent.of(event))
        # Not mandatory: like any topic exchange, an event no queue is bound to is not kept.
        await self._exchange.publish(
            message, routing_key=event.type, mandatory=False, timeout=self.publish_timeout
        )

    async def publish_many(self, events: Sequence[OutgoingEvent]) -> Published:
        """Send every body as it is (no parse, no new serialisation), then await the confirms.

        The publishes enter the channel in order (aiormq's channel lock is FIFO and the
        tasks start in order), so the broker gets them in order; the answer counts the
        confirmed ones from the first up to the first refused or failed one.
        """
        exchange = self._exchange
        if exchange is None:
            return Published(0, ConnectionError("the RabbitMQ bus is not connected"))
        results = await asyncio.gather(
            *(
                exchange.publish(
                    _message(outgoing),
                    routing_key=outgoing.type,
                    mandatory=False,
                    timeout=self.publish_timeout,
                )
                for outgoing in events
            ),
            return_exceptions=True,
        )
        for done, result in enumerate(results):
            if isinstance(result, BaseException):
                return Published(done, result)
        return Published(len(events))

    async def _declare(self, queue: str, channel: AbstractChannel) -> AbstractQueue:
        main = await channel.declare_queue(queue, durable=True)
        await channel.declare_queue(
            f"{queue}.retry",
            durable=True,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue},
        )
        await channel.declare_queue(f"{queue}.dlq", durable=True)
        return main

    async def subscribe(
        self,
        queue: str,
        routing_keys: Sequence[str],
        handler: MessageHandler,
        *,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        if self._exchange is None:
            raise ConnectionError("the RabbitMQ bus is not connected")
        if queue in self._subscriptions:
            raise RuntimeError(f"queue {queue!r} already has a consumer on this bus")
        if self._connection is None:
            raise ConnectionError("the RabbitMQ bus is not connected")
        # A robust channel: the connection restores it, its QoS and its consumer.
        channel = await self._connection.channel()
        try:
            await channel.set_qos(prefetch_count=self.prefetch)
            main = await self._declare(queue, channel)
            for key in routing_keys:
                await main.bind(self._exchange, routing_key=key)
            subscription = _Subscription(
                channel, main, handler, batch_handler, pacer=BatchPacer(self.batch_gap)
            )

            async def on_message(message: AbstractIncomingMessage) -> None:
                await self._on_message(queue, subscription, message)

            self._subscriptions[queue] = subscription
            subscription.tag = await main.consume(
                on_message, no_ack=False, arguments={"x-priority": self.consumer_priority}
            )
        except BaseException:
            # Not consuming: a later subscribe (the app retries) must not find it taken.
            self._subscriptions.pop(queue, None)
            await _close_quietly(channel)
            raise

    async def subscribe_broadcast(
        self,
        routing_keys: Sequence[str],
        handler: MessageHandler,
        *,
        on_reconnected: ReconnectCallback | None = None,
    ) -> None:
        if self._exchange is None or self._connection is None:
            raise ConnectionError("the RabbitMQ bus is not connected")
        # Named here, so the robust connection re-declares the same queue after a reconnect.
        name = f"{self.exchange_name}.broadcast.{uuid.uuid4().hex}"
        queue = await self._channel().declare_queue(name, exclusive=True, auto_delete=True)
        for key in routing_keys:
            await queue.bind(self._exchange, routing_key=key)

        async def on_message(message: AbstractIncomingMessage) -> None:
            try:
                await handler(CloudEvent.from_json(message.body))
            except Exception:
                logger.exception("broadcast handler failed for %s on %s", message.message_id, name)

        await queue.consume(on_message, no_ack=True)
        if on_reconnected is not None:
            callback = on_reconnected
            self._connection.reconnect_callbacks.add(lambda _connection: callback())

    async def unsubscribe(self, queue: str) -> None:
        """Cancel the consumer and wait for the running handler; prefetched messages go back."""
        subscription = self._subscriptions.pop(queue, None)
        if subscription is None:
            return
        subscription.active = False
        try:
            await subscription.queue.cancel(subscription.tag)
        except Exception:  # the channel may already be gone; unacked messages return anyway
            logger.debug("cancelling the consumer of %s failed", queue, exc_info=True)
        # The lock is FIFO: deliveries already waiting for it go first (and requeue).
        try:
            await asyncio.wait_for(subscription.lock.acquire(), STOP_GRACE_SECONDS)
        except TimeoutError:
            logger.warning("a handler on %s is still running after %ss", queue, STOP_GRACE_SECONDS)
        else:
            subscription.lock.release()
        for requeue in list(subscription.requeues):
            requeue.cancel()
        # What it still held unacked goes back to the queue with the channel.
        await _close_quietly(subscription.channel)

    async def _on_message(
        self, queue: str, subscription: _Subscription, message: AbstractIncomingMessage
    ) -> None:
        subscription.waiting.append(message)
        async with subscription.lock:
            if subscription.batch_handler is not None and subscription.waiting:
                await subscription.pacer.wait(subscription.waiting, self.batch_size)
            if not subscription.active:
                while subscription.waiting:
                    await subscription.waiting.popleft().nack(requeue=True)
                return
            if not subscription.waiting:
                return  # an earlier delivery's task handled this one in its batch
            size = self.batch_size if subscription.batch_handler is not None else 1
            taken = await gather_batch(subscription.waiting, size, self.batch_linger)
            # A delivery whose channel closed meanwhile (a reconnect) comes again on the new
            # one: handled now, it could not be acked.
            batch = [message for message in taken if _channel_open(message)]
            try:
                await self._handle_batch(queue, subscription, batch)
            except BaseException as exc:
                # Taken but not settled (a copy's publish or an ack failed, or the task was
                # cancelled): unacked until their channel closes, and meanwhile batches are
                # acked one frame each (``_ack``). After a failure (not a cancellation: the
                # consumer or the loop is stopping) those on an open channel go back to the
                # queue a while later.
                unsettled = _unsettled(batch)
                subscription.stranded = [*_unsettled(subscription.stranded), *unsettled]
                if unsettled and subscription.active and isinstance(exc, Exception):
                    requeue = asyncio.create_task(_requeue_later(unsettled))
                    subscription.requeues.add(requeue)
                    requeue.add_done_callback(subscription.requeues.discard)
                raise

    async def _handle_batch(
        self, queue: str, subscription: _Subscription, batch: list[AbstractIncomingMessage]
    ) -> None:
        """Each body parsed once; several readable events go to the batch handler, and each
        goes alone to the handler when there is one only, or when the batch failed."""
        readable: list[tuple[AbstractIncomingMessage, CloudEvent]] = []
        for message in batch:
            try:
                readable.append((message, CloudEvent.from_json(message.body)))
            except Exception as exc:
                retries = _count((message.headers or {}).get(RETRY_HEADER))
                await self._dead_letter(queue, message, f"unreadable event: {exc}", retries)
        if len(readable) > 1 and subscription.batch_handler is not None:
            try:
                await subscription.batch_handler([event for _message, event in readable])
            except Exception as exc:
                log_batch_failure(logger, queue, len(readable), exc)
            else:
                await self._ack(subscription, [message for message, _event in readable])
                return
        for index, (message, event) in enumerate(readable):
            if not subscription.active:  # unsubscribed meanwhile: the rest go back
                for left, _event in readable[index:]:
                    await left.nack(requeue=True)
                return
            await self._handle(queue, message, event, subscription.handler)

    async def _ack(
        self, subscription: _Subscription, messages: Sequence[AbstractIncomingMessage]
    ) -> None:
        """One frame for a batch: on the queue's own channel every delivery before its last
        is in the batch or settled (the lock handles them in order), unless an earlier
        batch left some stranded there; then one frame each, or that frame would settle
        them unhandled."""
        subscription.stranded = _unsettled(subscription.stranded)
        if subscription.stranded:
            for message in messages:
                await message.ack()
            return
        await messages[-1].ack(multiple=True)

    async def _handle(
        self,
        queue: str,
        message: AbstractIncomingMessage,
        event: CloudEvent,
        handler: MessageHandler,
    ) -> None:
        headers = message.headers or {}
        retries, outages = _count(headers.get(RETRY_HEADER)), _count(headers.get(OUTAGE_HEADER))
        try:
            await handler(event)
        except Exception as exc:
            step = handle_failure(
                exc,
                event,
                queue,
                retries=retries,
                outages=outages,
                max_retries=self.max_retries,
                retry_base_seconds=self.retry_base_seconds,
                log=logger,
            )
            if step.park:
                await self._dead_letter(queue, message, step.error, retries)
                return
            next_retries, next_outages = step.next_counts(retries, outages)
            counts = {RETRY_HEADER: next_retries, OUTAGE_HEADER: next_outages}
            await self._retry_later(queue, message, counts, step.delay)
            return
        await message.ack()

    def _copy(
        self,
        message: AbstractIncomingMessage,
        headers: dict[str, Any],
        *,
        without: Collection[str] = (),
        **extra: Any,
    ) -> aio_pika.Message:
        dropped = {*_BROKER_HEADERS, *without}
        kept = {k: v for k, v in (message.headers or {}).items() if k not in dropped}
        # Back from the retry queue, routing_key is the queue's name: keep the first one.
        kept.setdefault(ROUTING_KEY_HEADER, message.routing_key or "")
        return aio_pika.Message(
            message.body,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            type=message.type,
            timestamp=message.timestamp,
            headers={**kept, **headers},
            **extra,
        )

    async def _retry_later(
        self, queue: str, message: AbstractIncomingMessage, counts: dict[str, int], delay: float
    ) -> None:
        copy = self._copy(message, dict(counts), expiration=delay)
        # Ack only after the copy is confirmed: a crash in between redelivers, never loses.
        await self._channel().default_exchange.publish(
            copy, routing_key=f"{queue}.retry", timeout=self.publish_timeout
        )
        await message.ack()

    async def _dead_letter(
        self, queue: str, message: AbstractIncomingMessage, error: str, retries: int
    ) -> None:
        copy = self._copy(message, {ERROR_HEADER: error[:MAX_ERROR_LENGTH], RETRY_HEADER: retries})
        await self._channel().default_exchange.publish(
            copy, routing_key=f"{queue}.dlq", timeout=self.publish_timeout
        )
        await message.ack()

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        """Read ``<queue>.dlq`` without consuming it.

        Every message is got unacked on a channel of its own, then all are nacked
        with requeue, which puts them back in their places. Meant for tests and
        operators, not for a DLQ of millions.
        """
        if self._connection is None:
            raise ConnectionError("the RabbitMQ bus is not connected")
        channel = await self._connection.channel()
        try:
            dlq = await channel.declare_queue(f"{queue}.dlq", durable=True)
            held: list[AbstractIncomingMessage] = []
            letters: list[DeadLetter] = []
            while (message := await dlq.get(no_ack=False, fail=False)) is not None:
                held.append(message)
                headers = message.headers or {}
                try:
                    event: CloudEvent | None = CloudEvent.from_json(message.body)
                except Exception:
                    event = None
                letters.append(
                    DeadLetter(
                        event=event,
                        error=_text(headers.get(ERROR_HEADER)),
                        attempts=_count(headers.get(RETRY_HEADER)) + 1,
                        body=message.body,
                        message_id=message.message_id or "",
                    )
                )
            for message in held:
                await message.nack(requeue=True)
            return letters
        finally:
            await channel.close()

    async def dead_letter_count(self, queue: str) -> int:
        if self._connection is None:
            raise ConnectionError("the RabbitMQ bus is not connected")
        channel = await self._connection.channel()
        try:
            dlq = await channel.declare_queue(f"{queue}.dlq", durable=True)
            return int(dlq.declaration_result.message_count or 0)
        finally:
            await channel.close()

    async def replay_dead_letters(self, queue: str, ids: Collection[str] | None = None) -> int:
        return await self._take_dead_letters(queue, ids, replay=True)

    async def purge_dead_letters(self, queue: str, ids: Collection[str] | None = None) -> int:
        return await self._take_dead_letters(queue, ids, replay=False)

    async def _take_dead_letters(
        self, queue: str, ids: Collection[str] | None, *, replay: bool
    ) -> int:
        """Go through ``<queue>.dlq`` once: the chosen messages are replayed (a fresh copy
        into ``queue``, confirmed before the parked one is acked) or dropped; the others
        are put back in their places."""
        if self._connection is None:
            raise ConnectionError("the RabbitMQ bus is not connected")
        wanted = None if ids is None else set(ids)
        channel = await self._connection.channel(publisher_confirms=True)
        taken = 0
        try:
            dlq = await channel.declare_queue(f"{queue}.dlq", durable=True)
            await channel.declare_queue(queue, durable=True)
            # One pass over what is parked now: a replayed event that fails again is parked
            # again behind it, and must not be taken a second time (a running consumer
            # would cycle it between the queues for ever).
            parked = int(dlq.declaration_result.message_count or 0)
            held: list[AbstractIncomingMessage] = []
            while parked > 0 and (message := await dlq.get(no_ack=False, fail=False)) is not None:
                parked -= 1
                if wanted is not None and _message_event_id(message) not in wanted:
                    held.append(message)
                    continue
                if replay:
                    copy = self._copy(
                        message, {}, without=(RETRY_HEADER, OUTAGE_HEADER, ERROR_HEADER)
                    )
                    await channel.default_exchange.publish(
                        copy, routing_key=queue, timeout=self.publish_timeout
                    )
                await message.ack()
                taken += 1
            for message in held:
                await message.nack(requeue=True)
        finally:
            await channel.close()
        return taken

    async def delete_queues(self, queue: str) -> None:
        """Remove a service's three queues (tests and tear-down tooling)."""
        if self._connection is None:
            return
        channel = await self._connection.channel()
        try:
            for name in (queue, f"{queue}.retry", f"{queue}.dlq"):
                await channel.queue_delete(name)
        finally:
            await channel.close()

    async def delete_exchange(self) -> None:
        """Remove the exchange (tests use one of their own)."""
        if self._connection is None:
            return
        channel = await self._connection.channel()
        try:
            await channel.exchange_delete(self.exchange_name)
        finally:
            await channel.close()


def _message(outgoing: OutgoingEvent) -> aio_pika.Message:
    """The broker's message of an event, the same whether it goes alone or in a batch:
    persistent, its id, type, correlation id and time as AMQP properties."""
    return aio_pika.Message(
        outgoing.body,
        content_type=CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=outgoing.id,
        correlation_id=outgoing.correlation_id,
        type=outgoing.type,
        timestamp=outgoing.time,
    )


def _channel_open(message: AbstractIncomingMessage) -> bool:
    try:
        message.channel  # noqa: B018 - the property raises once its channel is closed
    except ChannelInvalidStateError:
        return False
    return True


def _unsettled(
    messages: Sequence[AbstractIncomingMessage],
) -> list[AbstractIncomingMessage]:
    """Those neither settled nor of a closed channel (the broker gave those back)."""
    return [m for m in messages if not m.processed and _channel_open(m)]


async def _requeue_later(messages: Sequence[AbstractIncomingMessage]) -> None:
    """Put back what a batch left unsettled, once ``STRANDED_REQUEUE_SECONDS`` passed and
    unless it was settled or its channel closed (the broker gave it back then)."""
    await asyncio.sleep(STRANDED_REQUEUE_SECONDS)
    for message in _unsettled(messages):
        try:
            await message.nack(requeue=True)
        except Exception:  # its channel closed meanwhile: the broker gives it back
            logger.debug("putting back %s failed", message.message_id, exc_info=True)


async def _close_quietly(channel: AbstractChannel) -> None:
    try:
        await channel.close()
    except Exception:  # already closed with its connection: its deliveries went back then
        logger.debug("closing a consume channel failed", exc_info=True)


def _count(header: object) -> int:
    """A count header as an int; anything unreadable or negative counts as zero."""
    try:
        value = int(header) if isinstance(header, int | str | float) else 0
    except (ValueError, OverflowError):
        return 0
    return max(value, 0)


def _message_event_id(message: AbstractIncomingMessage) -> str:
    try:
        return CloudEvent.from_json(message.body).id
    except Exception:
        return message.message_id or ""


def _text(header: object) -> str:
    if header is None:
        return ""
    if isinstance(header, bytes):
        return header.decode("utf-8", "replace")
    return str(header)

"""RabbitMQ adapter over aio-pika.

A robust connection (reconnects and re-declares by itself), a durable topic
exchange, persistent messages with publisher confirms, one durable queue per
service with manual acks. A failing message is acked only after a copy went to
``<queue>.retry`` (per-message TTL, dead-lettered back into ``<queue>``), so
back-off never blocks the queue; past the last retry it goes to ``<queue>.dlq``
with the error in its headers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from taskflow_chassis.bus import DeadLetter, MessageHandler, retry_delay
from taskflow_chassis.events import CloudEvent

logger = logging.getLogger("taskflow.bus.rabbitmq")

CONTENT_TYPE = "application/cloudevents+json"
RETRY_HEADER = "x-retry-count"
ERROR_HEADER = "x-error"
MAX_ERROR_LENGTH = 2000


class RabbitMQBus:
    def __init__(
        self,
        url: str,
        *,
        exchange: str,
        max_retries: int = 5,
        retry_base_seconds: float = 0.5,
        prefetch: int = 16,
    ) -> None:
        self.url = url
        self.exchange_name = exchange
        self.max_retries = max_retries
        self.retry_base_seconds = retry_base_seconds
        self.prefetch = prefetch
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._consume_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._consumers: dict[str, tuple[AbstractQueue, str]] = {}
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        async with self._lock:
            if self._connection is not None:
                return
            self._connection = await aio_pika.connect_robust(self.url)
            self._publish_channel = await self._connection.channel(publisher_confirms=True)
            self._exchange = await self._publish_channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            self._consume_channel = await self._connection.channel(publisher_confirms=True)
            await self._consume_channel.set_qos(prefetch_count=self.prefetch)

    async def close(self) -> None:
        for queue in list(self._consumers):
            await self.unsubscribe(queue)
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._publish_channel = self._consume_channel = self._exchange = None

    async def ping(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    def _require_exchange(self) -> AbstractExchange:
        if self._exchange is None:
            raise ConnectionError("the RabbitMQ bus is not connected")
        return self._exchange

    async def publish(self, event: CloudEvent) -> None:
        message = aio_pika.Message(
            event.to_json(),
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=event.id,
            correlation_id=event.correlationid,
            type=event.type,
        )
        # With publisher confirms this returns once the broker has taken the message.
        await self._require_exchange().publish(message, routing_key=event.type)

    async def _declare(self, queue: str) -> tuple[AbstractQueue, AbstractQueue, AbstractQueue]:
        channel = self._consume_channel
        if channel is None:
            raise ConnectionError("the RabbitMQ bus is not connected")
        main = await channel.declare_queue(queue, durable=True)
        retry = await channel.declare_queue(
            f"{queue}.retry",
            durable=True,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue},
        )
        dead = await channel.declare_queue(f"{queue}.dlq", durable=True)
        return main, retry, dead

    async def subscribe(
        self, queue: str, routing_keys: Sequence[str], handler: MessageHandler
    ) -> None:
        exchange = self._require_exchange()
        main, _, _ = await self._declare(queue)
        for key in routing_keys:
            await main.bind(exchange, routing_key=key)

        async def on_message(message: AbstractIncomingMessage) -> None:
            await self._handle(queue, message, handler)

        tag = await main.consume(on_message, no_ack=False)
        self._consumers[queue] = (main, tag)

    async def unsubscribe(self, queue: str) -> None:
        entry = self._consumers.pop(queue, None)
        if entry is not None:
            main, tag = entry
            try:
                await main.cancel(tag)
            except Exception:  # the channel may already be gone; nothing is lost
                logger.debug("cancel of %s failed", queue, exc_info=True)

    async def _handle(
        self, queue: str, message: AbstractIncomingMessage, handler: MessageHandler
    ) -> None:
        retries = _count((message.headers or {}).get(RETRY_HEADER))
        try:
            event = CloudEvent.from_json(message.body)
        except Exception as exc:
            await self._dead_letter(queue, message, f"unreadable event: {exc}", retries)
            return
        try:
            await handler(event)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if retries >= self.max_retries:
                logger.error(
                    "dead-lettered %s on %s after %d attempts: %s",
                    event.id,
                    queue,
                    retries + 1,
                    error,
                )
                await self._dead_letter(queue, message, error, retries)
            else:
                logger.warning(
                    "handler failed for %s on %s (attempt %d): %s",
                    event.id,
                    queue,
                    retries + 1,
                    error,
                )
                await self._retry_later(queue, message, retries + 1)
            return
        await message.ack()

    def _copy(
        self, message: AbstractIncomingMessage, headers: dict[str, Any], **extra: Any
    ) -> aio_pika.Message:
        return aio_pika.Message(
            message.body,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            type=message.type,
            headers={**(message.headers or {}), **headers},
            **extra,
        )

    async def _retry_later(
        self, queue: str, message: AbstractIncomingMessage, retries: int
    ) -> None:
        channel = self._consume_channel
        assert channel is not None
        delay = retry_delay(self.retry_base_seconds, retries)
        copy = self._copy(message, {RETRY_HEADER: retries}, expiration=delay)
        # Ack only after the copy is confirmed: a crash in between redelivers, never loses.
        await channel.default_exchange.publish(copy, routing_key=f"{queue}.retry")
        await message.ack()

    async def _dead_letter(
        self, queue: str, message: AbstractIncomingMessage, error: str, retries: int
    ) -> None:
        channel = self._consume_channel
        assert channel is not None
        headers = {
            ERROR_HEADER: error[:MAX_ERROR_LENGTH],
            RETRY_HEADER: retries,
            "x-original-routing-key": message.routing_key or "",
        }
        await channel.default_exchange.publish(
            self._copy(message, headers), routing_key=f"{queue}.dlq"
        )
        await message.ack()

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        """Read the DLQ without consuming it: every message is got, then put back."""
        if self._connection is None:
            raise ConnectionError("the RabbitMQ bus is not connected")
        channel = await self._connection.channel()
        try:
            dlq = await channel.declare_queue(f"{queue}.dlq", durable=True)
            held: list[AbstractIncomingMessage] = []
            letters: list[DeadLetter] = []
            while True:
                message = await dlq.get(no_ack=False, fail=False)
                if message is None:
                    break
                held.append(message)
                headers = message.headers or {}
                try:
                    event: CloudEvent | None = CloudEvent.from_json(message.body)
                except Exception:
                    event = None
                letters.append(
                    DeadLetter(
                        event=event,
                        error=str(headers.get(ERROR_HEADER, "")),
                        attempts=_count(headers.get(RETRY_HEADER)) + 1,
                        body=message.body,
                    )
                )
            for message in held:
                await message.nack(requeue=True)
            return letters
        finally:
            await channel.close()

    async def delete_queues(self, queue: str) -> None:
        """Remove a service's queues (tests and tear-down tooling)."""
        if self._connection is None:
            return
        channel = await self._connection.channel()
        try:
            for name in (queue, f"{queue}.retry", f"{queue}.dlq"):
                await channel.queue_delete(name)
        finally:
            await channel.close()

    async def delete_exchange(self) -> None:
        if self._connection is None:
            return
        channel = await self._connection.channel()
        try:
            await channel.exchange_delete(self.exchange_name)
        finally:
            await channel.close()


def _count(header: object) -> int:
    """A retry-count header as an int; anything unreadable counts as zero."""
    try:
        return int(header) if isinstance(header, int | str | float) else 0
    except ValueError:
        return 0

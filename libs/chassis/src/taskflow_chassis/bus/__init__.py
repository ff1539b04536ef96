"""The event bus: one interface, two adapters chosen by ``EVENT_BUS_URL``.

``memory://`` (embedded mode: every service of the process shares one hub) and
``amqp://`` (RabbitMQ). Both route by event type on a topic exchange, retry a
failing handler with back-off and then park the event, with its error, in the
queue's dead-letter queue ``<queue>.dlq``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from taskflow_chassis.events import CloudEvent

MessageHandler = Callable[[CloudEvent], Awaitable[None]]

DEFAULT_EXCHANGE = "taskflow.events"


@dataclass(frozen=True)
class DeadLetter:
    event: CloudEvent | None  # None when the body was not a CloudEvent at all
    error: str
    attempts: int
    body: bytes = b""


class EventBus(Protocol):
    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, event: CloudEvent) -> None:
        """Return only once the broker has the event (publisher confirm)."""

    async def subscribe(
        self, queue: str, routing_keys: Sequence[str], handler: MessageHandler
    ) -> None:
        """Deliver events whose type matches a key (``*``/``#`` patterns) to ``handler``."""

    async def unsubscribe(self, queue: str) -> None: ...

    async def ping(self) -> bool: ...

    async def dead_letters(self, queue: str) -> list[DeadLetter]: ...


def retry_delay(base_seconds: float, attempt: int) -> float:
    """Exponential back-off: base, twice base, four times base... capped at five minutes."""
    return float(min(base_seconds * (2 ** max(attempt - 1, 0)), 300.0))


def create_bus(
    url: str,
    *,
    exchange: str = DEFAULT_EXCHANGE,
    max_retries: int = 5,
    retry_base_seconds: float = 0.5,
) -> EventBus:
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from taskflow_chassis.bus.memory import MemoryBus

        return MemoryBus(url, max_retries=max_retries, retry_base_seconds=retry_base_seconds)
    if scheme in {"amqp", "amqps"}:
        from taskflow_chassis.bus.rabbitmq import RabbitMQBus

        return RabbitMQBus(
            url, exchange=exchange, max_retries=max_retries, retry_base_seconds=retry_base_seconds
        )
    raise ValueError(f"unknown event bus URL {url!r}: use memory:// or amqp://")


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

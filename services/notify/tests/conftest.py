"""Notify fixtures: the app in-process (eager Celery, .eml files) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.pool import NullPool
from sqlmodel import col
from taskflow_chassis.bus import create_bus
from taskflow_chassis.bus.memory import MemoryBus
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.ports import free_port
from taskflow_chassis.serve import migrations_dir
from taskflow_chassis.testing import (
    TestTokens,
    app_running,
    database_at_head,
    unreachable_service,
)
from taskflow_chassis.types import utcnow
from taskflow_contracts import auth, teams
from taskflow_contracts.base import EventPayload
from taskflow_notify import app as notify_app
from taskflow_notify.app import create_app
from taskflow_notify.config import NotifySettings
from taskflow_notify.email.adapters import EmailBackend, SmtpBackend, create_backend
from taskflow_notify.email.models import EmailMessage, EmailStatus
from taskflow_notify.email.service import EmailSender
from taskflow_notify.notifications import service
from taskflow_notify.notifications.models import Kind

# The schema each test's database starts at (taskflow_chassis.testing.database_at_head).
MIGRATIONS = migrations_dir(notify_app.__file__)


def memory_bus(url: str) -> MemoryBus:
    bus = create_bus(url)
    assert isinstance(bus, MemoryBus)
    return bus


async def send_logged_email(
    email_id: uuid.UUID,
    settings: NotifySettings,
    backend: EmailBackend | None = None,
    database: Database | None = None,
) -> str:
    """What a ``send_email`` job does for one email, on a database and a mail backend of its
    own unless given (each closed after)."""
    own_database = Database(settings.resolved_database_url(), poolclass=NullPool)
    own_backend = create_backend(settings.resolved_email_url())
    try:
        sender = EmailSender(settings)
        return await sender.send(email_id, backend or own_backend, database or own_database)
    finally:
        await own_database.dispose()
        if isinstance(own_backend, SmtpBackend):
            own_backend.close()


def reset_outgoing(to: str) -> service.Outgoing:
    """A password reset's notification to ``to``: one email (no feed row), its own cause."""
    return service.Outgoing(
        kind=Kind.PASSWORD_RESET,
        cause=f"reset-{uuid.uuid4()}",
        title="Password reset requested",
        body="A link was sent.",
        link=None,
        email=to,
        context={"name": "Ann", "reset_url": "https://taskflow.example/r", "expires_at": ""},
    )


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with database_at_head(request.param, tmp_path, MIGRATIONS, "notify") as url:
        yield url


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


class World:
    def __init__(
        self, app: FastAPI, client: httpx.AsyncClient, bus_url: str, tokens: TestTokens, mail: Path
    ) -> None:
        self.app, self.client, self.tokens, self.mail = app, client, tokens, mail
        self.bus = memory_bus(bus_url)

    async def start(self) -> None:
        await self.bus.connect()

    async def settle(self) -> None:
        """Events handled, and every email they caused sent (eager Celery runs in a thread)."""
        for _ in range(3):
            await self.bus.drain()
            await self.app.state.email_dispatcher.run_once()
        deadline = asyncio.get_running_loop().time() + 15
        while await self._emails_in_flight():
            assert asyncio.get_running_loop().time() < deadline, "emails stuck in flight"
            await asyncio.sleep(0.02)

    async def _emails_in_flight(self) -> int:
        async with self.app.state.database.session() as session:
            query = (
                select(func.count())
                .select_from(EmailMessage)
                .where(
                    col(EmailMessage.status).in_(
                        [EmailStatus.PENDING, EmailStatus.QUEUED, EmailStatus.SENDING]
                    )
                )
            )
            return int((await session.execute(query)).scalar_one())

    async def event(self, payload: EventPayload, *, event_id: str | None = None) -> CloudEvent:
        event = new_event(payload.event_type, source="/taskflow/test", data=payload)
        if event_id:
            event = event.model_copy(update={"id": event_id})
        await self.bus.publish(event)
        await self.settle()
        return event

    async def redeliver(self, event: CloudEvent) -> None:
        await self.bus.publish(event)
        await self.settle()

    async def person(
        self, name: str, *, team_id: uuid.UUID | None = None, verified: bool = True
    ) -> dict[str, Any]:
        """Signed up (with the sign-up's email link followed unless ``verified`` is false),
        a participant, and a member of ``team_id`` if given."""
        user_id = uuid.uuid4()
        await self.event(
            auth.UserRegistered(
                user_id=user_id, username=name, email=f"{name}@example.com", email_verified=False
            )
        )
        if verified:
            await self.event(
                auth.UserUpdated(
                    user_id=user_id,
                    username=name,
                    email=f"{name}@example.com",
                    email_verified=True,
                )
            )
        await self.event(
            auth.ParticipantRegistered(
                user_id=user_id,
                username=name,
                email=f"{name}@example.com",
                display_name=name.title(),
                phone_number="+14155552671",
            )
        )
        if team_id:
            await self.event(
                teams.MemberJoined(
                    team_id=team_id,
                    user_id=user_id,
                    role_id=uuid.uuid4(),
                    role_name="Developer",
                    permissions=[],
                )
            )
        return {
            "id": user_id,
            "email": f"{name}@example.com",
            "headers": self.tokens.headers(user_id),
        }

    def emails(self) -> list[MimeMessage]:
        if not self.mail.exists():
            return []
        parsed = [
            email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(self.mail.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
        ]
        return [m for m in parsed if isinstance(m, MimeMessage)]

    async def feed(self, person: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get(
            "/api/v1/notifications", params=params, headers=person["headers"]
        )
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


def world_settings(database_url: str, tmp_path: Path, **more: Any) -> NotifySettings:
    """The in-process app's settings: its own memory bus, .eml files under ``tmp_path``."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "event_bus_url": f"memory://notify-test-{uuid.uuid4().hex[:8]}",
        "public_url": "https://taskflow.example",
        "email_url": f"file://{tmp_path / 'mail'}",
        "relay_sweep_seconds": 0.2,
        "reminder_timer": False,
        **more,
    }
    return NotifySettings(**values)


@contextlib.asynccontextmanager
async def running(settings: NotifySettings, mail: Path) -> AsyncIterator[World]:
    """The app with ``settings`` started, a client for it and its bus, as a World."""
    tokens = TestTokens()
    app = create_app(settings, jwks_fetcher=tokens.jwks, teams_transport=unreachable_service())
    app.state.clock = Clock()
    async with app_running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            world = World(app, client, settings.event_bus_url, tokens, mail)
            await world.start()
            yield world
            await world.bus.close()


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async with running(world_settings(database_url, tmp_path), tmp_path / "mail") as world:
        yield world


def text_of(message: MimeMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: MimeMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


HOUR = timedelta(hours=1)


@dataclass
class Recorder:
    """SMTP handler: keeps every delivered message and the client connection it came over
    (``peers``); can hold one recipient's delivery, answer RCPT with a refusal (``reply``,
    e.g. "451 ..." or "550 ...") while it is set, or to some recipients only (``refuse``),
    and close the connection right after accepting every ``drop_after``-th message on it.
    Every RCPT is counted (``attempts``, with its monotonic time) whatever the answer."""

    messages: list[MimeMessage] = field(default_factory=list)
    hold_for: str | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    reply: str | None = None
    attempts: list[tuple[float, str]] = field(default_factory=list)
    peers: list[Any] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        self.attempts.append((time.monotonic(), address))
        if self.hold_for and address == self.hold_for and not self.release.is_set():
            self.held.set()
            # The release comes from the test's thread: a threading.Event, polled.
            while not self.release.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        if self.reply or address in self.refuse:
            return self.reply or self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, MimeMessage)
        self.messages.append(message)
        self.peers.append(session.peer)
        if self.drop_after and self.peers.count(session.peer) % self.drop_after == 0:
            # After the reply is written: the message is accepted, then the line goes.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[MimeMessage]:
        return [m for m in self.messages if m["To"] == address]

    def tries(self, address: str) -> list[float]:
        return [at for at, to in self.attempts if to == address]


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    recorder, port = Recorder(), free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        recorder.release.set()
        controller.stop()

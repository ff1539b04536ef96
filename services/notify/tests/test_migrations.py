"""Notify's migrations carry existing data: after 0002 an email row written under 0001 is
still valid, due, queued by the dispatcher and claimed by a job; 0002 goes down again;
0003 starts every user replica unverified; 0008 every team and project visible."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Uuid, column, insert, inspect, table, text
from sqlalchemy.engine import Connection
from taskflow_chassis.db import Database
from taskflow_chassis.migrations import migrate_to
from taskflow_chassis.serve import migrations_dir
from taskflow_chassis.testing import fresh_database
from taskflow_chassis.types import UtcDateTime
from taskflow_chassis.unit_of_work import Publisher
from taskflow_notify import app as notify_app
from taskflow_notify.config import NotifySettings
from taskflow_notify.email.scheduled import EmailDispatcher
from taskflow_notify.webhooks.adapters import SecretCipher

from .conftest import send_logged_email


async def migrate(database: Database, revision: str, *, down: bool = False) -> None:
    await migrate_to(
        database,
        migrations_dir(notify_app.__file__),
        "alembic_version_notify",
        revision,
        down=down,
    )


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
async def any_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(request.param, tmp_path, "taskflow_notify_migrations") as url:
        yield url


class Recording:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        self.sent.append(message)


async def test_0002_keeps_emails_written_before_it_sendable(
    any_database_url: str, tmp_path: Path
) -> None:
    database = Database(any_database_url)
    try:
        await migrate(database, "0001")
        email_id = uuid.uuid4()
        # The table as 0001 left it: only the columns it made are written.
        emails_then = table(
            "email_messages",
            column("id", Uuid()),
            *(column(name) for name in ("dedupe_key", "to_address", "subject", "text_body")),
            *(column(name) for name in ("html_body", "status", "attempts")),
            column("created_at", UtcDateTime()),
        )
        async with database.engine.begin() as conn:
            await conn.execute(
                insert(emails_then).values(
                    id=email_id,
                    dedupe_key="k", to_address="ann@example.com", subject="Hi",
                    text_body="Hello", html_body="<p>Hello</p>", status="pending", attempts=0,
                    created_at=datetime.now(UTC),
                )
            )  # fmt: skip
        await migrate(database, "head")

        def indexes(connection: Connection) -> dict[str, list[str | None]]:
            found = inspect(connection).get_indexes("email_messages")
            return {str(index["name"]): list(index["column_names"]) for index in found}

        async with database.engine.connect() as conn:
            found = await conn.run_sync(indexes)
            added = text("SELECT next_attempt_at, first_attempt_at FROM email_messages")
            values = (await conn.execute(added)).one()
        assert found["ix_email_messages_status_next_attempt"] == ["status", "next_attempt_at"]
        assert "ix_email_messages_status" not in found
        assert tuple(values) == (None, None)

        queued: list[uuid.UUID] = []

        async def enqueue(due: list[uuid.UUID]) -> None:
            queued.extend(due)

        assert await EmailDispatcher(database, enqueue, Publisher("notify")).run_once() == 1
        assert queued == [email_id]
        settings = NotifySettings(data_dir=tmp_path, database_url=any_database_url)
        backend = Recording()
        outcome = await send_logged_email(email_id, settings, backend=backend, database=database)
        assert outcome == "sent" and len(backend.sent) == 1

        await migrate(database, "0001", down=True)
        async with database.engine.connect() as conn:
            found = await conn.run_sync(indexes)
            status = (await conn.execute(text("SELECT status FROM email_messages"))).scalar_one()
        assert found["ix_email_messages_status"] == ["status"] and status == "sent"
        assert "ix_email_messages_status_next_attempt" not in found
    finally:
        await database.dispose()


async def test_0003_starts_every_user_replica_unverified(any_database_url: str) -> None:
    database = Database(any_database_url)
    try:
        await migrate(database, "0002")
        users = table(
            "user_replicas", column("user_id", Uuid()), column("username"), column("email")
        )
        async with database.engine.begin() as conn:
            await conn.execute(
                insert(users).values(user_id=uuid.uuid4(), username="old", email="old@example.com")
            )
        await migrate(database, "0003")
        async with database.engine.begin() as conn:
            verified = (
                await conn.execute(text("SELECT email_verified FROM user_replicas"))
            ).scalar()
            assert verified is not None and not verified
        await migrate(database, "0002", down=True)
        async with database.engine.connect() as conn:
            columns = (await conn.execute(text("SELECT * FROM user_replicas"))).keys()
            assert "email_verified" not in columns
    finally:
        await database.dispose()


async def test_0008_starts_every_team_and_project_visible_and_goes_down(
    any_database_url: str,
) -> None:
    database = Database(any_database_url)
    try:
        await migrate(database, "0007")
        team_id = uuid.uuid4()
        teams = table("team_replicas", column("team_id", Uuid()), column("name"))
        projects = table(
            "project_replicas",
            column("project_id", Uuid()),
            column("team_id", Uuid()),
            column("name"),
        )
        async with database.engine.begin() as conn:
            await conn.execute(insert(teams).values(team_id=team_id, name="Core"))
            await conn.execute(
                insert(projects).values(project_id=uuid.uuid4(), team_id=team_id, name="P")
            )
        await migrate(database, "0008")
        async with database.engine.connect() as conn:
            for name in ("team_replicas", "project_replicas"):
                row = (
                    await conn.execute(text(f"SELECT deleted_at, restored_at FROM {name}"))
                ).one()
                assert tuple(row) == (None, None)
        await migrate(database, "0007", down=True)
        async with database.engine.connect() as conn:
            for name in ("team_replicas", "project_replicas"):
                columns = (await conn.execute(text(f"SELECT * FROM {name}"))).keys()
                assert "deleted_at" not in columns and "restored_at" not in columns
    finally:
        await database.dispose()


async def test_0009_adds_the_live_tables_and_goes_down(any_database_url: str) -> None:
    database = Database(any_database_url)

    def tables(conn: Connection) -> set[str]:
        return set(inspect(conn).get_table_names())

    try:
        await migrate(database, "0009")
        user_id = uuid.uuid4()
        events = table(
            "live_events",
            column("user_id", Uuid()),
            column("seq"),
            column("kind"),
            column("payload"),
            column("created_at", UtcDateTime()),
        )
        async with database.engine.begin() as conn:
            await conn.execute(
                insert(events).values(
                    user_id=user_id,
                    seq=1,
                    kind="unread",
                    payload='{"unread_count": 0}',
                    created_at=datetime(2026, 11, 30, tzinfo=UTC),
                )
            )
            assert {"live_events", "live_cursors"} <= await conn.run_sync(tables)
        await migrate(database, "0008", down=True)
        async with database.engine.connect() as conn:
            assert not {"live_events", "live_cursors"} & await conn.run_sync(tables)
    finally:
        await database.dispose()


async def test_0011_keeps_readable_secrets_and_takes_sealed_ones(
    any_database_url: str, tmp_path: Path
) -> None:
    """A secret written readable under 0010 is kept as it was (notify seals it at start);
    after 0011 a sealed one fits; the downgrade refuses to cut a sealed one."""
    database = Database(any_database_url)
    try:
        await migrate(database, "0010")
        readable = "whsec_" + "A" * 44
        endpoints = table(
            "webhook_endpoints",
            *(column(name) for name in ("url", "description", "event_types", "secret")),
            column("id", Uuid()), column("team_id", Uuid()), column("created_by", Uuid()),
            column("enabled"), column("delivery_seq"),
            column("created_at", UtcDateTime()), column("updated_at", UtcDateTime()),
        )  # fmt: skip
        now = datetime.now(UTC)
        row = {
            "url": "https://example.com/hook", "description": "", "event_types": "*",
            "team_id": uuid.uuid4(), "created_by": uuid.uuid4(), "enabled": True,
            "delivery_seq": 0, "created_at": now, "updated_at": now,
        }  # fmt: skip
        async with database.engine.begin() as conn:
            await conn.execute(insert(endpoints).values(id=uuid.uuid4(), secret=readable, **row))
        await migrate(database, "0011")
        sealed = SecretCipher.load_or_create(data_dir=tmp_path).seal(readable)
        async with database.engine.begin() as conn:
            kept = (await conn.execute(text("SELECT secret FROM webhook_endpoints"))).scalar()
            assert kept == readable
            await conn.execute(insert(endpoints).values(id=uuid.uuid4(), secret=sealed, **row))
            got = text("SELECT secret FROM webhook_endpoints WHERE secret <> :r")
            assert (await conn.execute(got, {"r": readable})).scalar() == sealed
        with pytest.raises(RuntimeError, match="would cut them"):
            await migrate(database, "0010", down=True)
    finally:
        await database.dispose()

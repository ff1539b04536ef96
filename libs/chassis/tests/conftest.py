"""Chassis fixtures: a service database (SQLite or PostgreSQL) with a tiny business table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table
from taskflow_chassis.db import Database
from taskflow_chassis.messaging import messaging_metadata
from taskflow_chassis.testing import fresh_postgres_database
from taskflow_contracts.base import EventPayload

business_metadata = MetaData()
widgets = Table(
    "widgets",
    business_metadata,
    Column("id", String(36), primary_key=True),
    Column("count", Integer, nullable=False, default=0),
)


class WidgetBumped(EventPayload):
    event_type = "taskflow.widgets.widget.bumped.v1"
    widget_id: str


class WidgetNoticed(EventPayload):
    event_type = "taskflow.widgets.widget.noticed.v1"
    widget_id: str


async def _prepared(url: str) -> Database:
    database = Database(url)
    async with database.engine.begin() as conn:
        await conn.run_sync(messaging_metadata.create_all)
        await conn.run_sync(business_metadata.create_all)
    return database


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        db = await _prepared(f"sqlite:///{tmp_path / 'service.db'}")
        yield db
        await db.dispose()
        return
    async with fresh_postgres_database() as url:
        db = await _prepared(url)
        yield db
        await db.dispose()


@pytest.fixture
async def postgres_database() -> AsyncIterator[Database]:
    async with fresh_postgres_database() as url:
        db = await _prepared(url)
        yield db
        await db.dispose()


@pytest.fixture
def memory_url() -> str:
    return f"memory://test-{uuid.uuid4().hex[:8]}"

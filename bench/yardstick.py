"""The bench's yardstick: the least a create can cost on this machine.

A bare FastAPI app on asyncpg, started by the bench beside the stack (uvicorn, as many
workers as work has, production settings): ``POST /tasks`` takes the body "create a
task with an assignee" sends (a pydantic model, unknown fields refused), and inserts
the task's row and an outbox row holding its event (a CloudEvent's JSON) in one
transaction, then answers 201 with the task. No token, no permission, no activity, no
assignment check, no relay: what every create needs at the least, so work's create is
judged by its share of it (issue 20's target: at least half its rate).

Its tables live in the stack's work database (dropped with it), named apart from work's,
so neither work's relay nor the bench's event count sees its outbox:

    YARDSTICK_DATABASE_URL=postgresql://... uvicorn yardstick:app --app-dir bench
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

TABLES = (
    "CREATE TABLE IF NOT EXISTS yardstick_tasks (id uuid PRIMARY KEY, title text NOT NULL,"
    " priority text NOT NULL, assignee_ids jsonb NOT NULL, created_at timestamptz NOT NULL)",
    "CREATE TABLE IF NOT EXISTS yardstick_outbox (id uuid PRIMARY KEY, type text NOT NULL,"
    " payload text NOT NULL, created_at timestamptz NOT NULL, published_at timestamptz)",
)
EVENT_TYPE = "taskflow.yardstick.task.created.v1"
POOL_SIZE = 10  # a worker's connections (work's own pool holds as many)


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    priority: str = "medium"
    assignee_ids: list[uuid.UUID] = []


class TaskCreated(BaseModel):
    id: uuid.UUID
    title: str
    priority: str
    assignee_ids: list[uuid.UUID]
    created_at: datetime


async def create_tables(database_url: str) -> None:
    """Made once by the bench before the workers start (two workers making them at once
    could collide on the catalogue)."""
    conn = await asyncpg.connect(database_url)
    try:
        for statement in TABLES:
            await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(
        os.environ["YARDSTICK_DATABASE_URL"], min_size=1, max_size=POOL_SIZE
    )
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(title="TaskFlow bench yardstick", lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/tasks", status_code=201)
async def create_task(task: TaskCreate) -> TaskCreated:
    created = TaskCreated(
        id=uuid.uuid4(),
        title=task.title,
        priority=task.priority,
        assignee_ids=task.assignee_ids,
        created_at=datetime.now(UTC),
    )
    data = created.model_dump(mode="json")
    event_id = uuid.uuid4()
    event = {
        "specversion": "1.0",
        "id": str(event_id),
        "type": EVENT_TYPE,
        "source": "/taskflow/yardstick",
        "time": data["created_at"],
        "datacontenttype": "application/json",
        "data": data,
    }
    pool: asyncpg.Pool = app.state.pool
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO yardstick_tasks (id, title, priority, assignee_ids, created_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            created.id,
            created.title,
            created.priority,
            json.dumps(data["assignee_ids"]),
            created.created_at,
        )
        await conn.execute(
            "INSERT INTO yardstick_outbox (id, type, payload, created_at) VALUES ($1, $2, $3, $4)",
            event_id,
            EVENT_TYPE,
            json.dumps(event),
            created.created_at,
        )
    return created

"""Teams' migrations on every database it supports: 0002 numbers existing teams from 0,
0003 starts the directory unverified."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from taskflow_chassis.db import Database
from taskflow_chassis.migrations import migrate_to
from taskflow_chassis.serve import migrations_dir
from taskflow_chassis.testing import fresh_database
from taskflow_teams import app as teams_app


async def migrate(database: Database, revision: str, *, down: bool = False) -> None:
    await migrate_to(
        database,
        migrations_dir(teams_app.__file__),
        "alembic_version_teams",
        revision,
        down=down,
    )


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
async def any_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(request.param, tmp_path, "taskflow_teams_migrations") as url:
        yield url


async def test_0002_adds_membership_seq_to_existing_teams(any_database_url: str) -> None:
    database = Database(any_database_url)
    try:
        await migrate(database, "0001")
        team_id = uuid.uuid4()
        now = datetime.now(UTC).replace(tzinfo=None)
        async with database.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO teams (id, name, created_by, created_at, updated_at)"
                    " VALUES (:id, 'Old', :by, :now, :now)"
                ),
                {
                    "id": team_id if database.dialect == "postgresql" else team_id.hex,
                    "by": uuid.uuid4() if database.dialect == "postgresql" else uuid.uuid4().hex,
                    "now": now,
                },
            )
        await migrate(database, "head")
        async with database.engine.begin() as conn:
            assert (await conn.execute(text("SELECT membership_seq FROM teams"))).scalar_one() == 0
            await conn.execute(text("UPDATE teams SET membership_seq = membership_seq + 1"))
            assert (await conn.execute(text("SELECT membership_seq FROM teams"))).scalar_one() == 1
        await migrate(database, "0001", down=True)
        async with database.engine.connect() as conn:
            columns = (await conn.execute(text("SELECT * FROM teams"))).keys()
            assert "membership_seq" not in columns
    finally:
        await database.dispose()


async def test_0003_starts_everyone_in_the_directory_unverified(any_database_url: str) -> None:
    database = Database(any_database_url)
    try:
        await migrate(database, "0002")
        user_id = uuid.uuid4()
        async with database.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO directory (user_id, username, email, is_participant, updated_at)"
                    " VALUES (:id, 'old', 'old@example.com', true, :now)"
                ),
                {
                    "id": user_id if database.dialect == "postgresql" else user_id.hex,
                    "now": datetime.now(UTC).replace(tzinfo=None),
                },
            )
        await migrate(database, "0003")
        async with database.engine.begin() as conn:
            verified = (await conn.execute(text("SELECT email_verified FROM directory"))).scalar()
            assert not verified
        await migrate(database, "0002", down=True)
        async with database.engine.connect() as conn:
            columns = (await conn.execute(text("SELECT * FROM directory"))).keys()
            assert "email_verified" not in columns
    finally:
        await database.dispose()


async def test_0006_grants_the_new_permissions_to_existing_leader_roles(
    any_database_url: str,
) -> None:
    database = Database(any_database_url)

    def key(value: uuid.UUID) -> uuid.UUID | str:
        return value if database.dialect == "postgresql" else value.hex

    try:
        await migrate(database, "0005")
        team_id, leader_id, viewer_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        now = datetime.now(UTC).replace(tzinfo=None)
        async with database.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO teams (id, name, created_by, created_at, updated_at)"
                    " VALUES (:id, 'Old', :by, :now, :now)"
                ),
                {"id": key(team_id), "by": key(uuid.uuid4()), "now": now},
            )
            for role_id, name, grants, leader in [
                (leader_id, "Team Leader", "members.manage team.update", True),
                (viewer_id, "Viewer", "", False),
            ]:
                await conn.execute(
                    text(
                        "INSERT INTO roles (id, team_id, name, permissions, is_builtin,"
                        " is_leader, created_at) VALUES (:id, :team, :name, :grants, true,"
                        " :leader, :now)"
                    ),
                    {
                        "id": key(role_id),
                        "team": key(team_id),
                        "name": name,
                        "grants": grants,
                        "leader": leader,
                        "now": now,
                    },
                )
        await migrate(database, "0006")
        query = text("SELECT name, permissions FROM roles ORDER BY name")
        async with database.engine.connect() as conn:
            granted = {name: grants for name, grants in (await conn.execute(query)).all()}
            assert granted == {
                "Team Leader": "audit.read members.manage team.update webhooks.manage",
                "Viewer": "",
            }
            assert (await conn.execute(text("SELECT COUNT(*) FROM audit_entries"))).scalar() == 0
        await migrate(database, "0005", down=True)
        async with database.engine.connect() as conn:
            granted = {name: grants for name, grants in (await conn.execute(query)).all()}
            assert granted["Team Leader"] == "members.manage team.update"
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            assert "audit_entries" not in tables
    finally:
        await database.dispose()

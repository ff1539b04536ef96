"""Batches against the real handlers: membership events of several teams, interleaved and
waiting together in a service's queue, applied as batches with its own handlers (work's
team_seq ordering, notify's membership numbers).

Each event depends on the one before it of its team (``team_seq``): a batch whose events
did not see what the earlier ones of the same batch wrote would leave a team marked for
resync, a member's role stale or a removed member in place. The chassis's own attacks
on batching (kill, outage, poison, duplicates, relay) are in
``libs/chassis/tests/test_batches.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from taskflow_chassis.bus.memory import MemoryBus
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.messaging import inbox_table
from taskflow_chassis.testing import TestTokens, app_running, fresh_database
from taskflow_contracts import teams
from taskflow_contracts.base import EventPayload
from taskflow_contracts.permissions import BUILT_IN_ROLES
from taskflow_notify.app import create_app as create_notify
from taskflow_notify.config import NotifySettings
from taskflow_notify.replica.models import MemberReplica as NotifyMember
from taskflow_work.app import create_app as create_work
from taskflow_work.config import WorkSettings
from taskflow_work.replica.models import MemberReplica, TeamReplica


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(request.param, tmp_path, "taskflow_batches") as url:
        yield url


def bus_url() -> str:
    return f"memory://batches-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def work(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = WorkSettings(
        data_dir=tmp_path,
        database_url=database_url,
        event_bus_url=bus_url(),
        relay_sweep_seconds=0.2,
        teams_url="http://teams.invalid",
    )
    app = create_work(settings, jwks_fetcher=TestTokens().jwks)
    async with app_running(app):
        app.state.authorizer.teams = None
        yield app


@pytest.fixture
async def notify(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = NotifySettings(
        data_dir=tmp_path,
        database_url=database_url,
        event_bus_url=bus_url(),
        public_url="https://taskflow.example",
        email_url=f"file://{tmp_path / 'mail'}",
        relay_sweep_seconds=0.2,
        reminder_timer=False,
    )
    app = create_notify(settings, jwks_fetcher=TestTokens().jwks)
    async with app_running(app):
        yield app


def membership(team_id: uuid.UUID, user_id: uuid.UUID, role: str, seq: int) -> dict[str, object]:
    return {
        "team_id": team_id,
        "user_id": user_id,
        "role_id": uuid.uuid5(team_id, role),
        "role_name": role,
        "permissions": sorted(BUILT_IN_ROLES[role]),
        "team_seq": seq,
    }


def joined(team_id: uuid.UUID, user_id: uuid.UUID, role: str, seq: int) -> teams.MemberJoined:
    return teams.MemberJoined.model_validate(membership(team_id, user_id, role, seq))


def changed(team_id: uuid.UUID, user_id: uuid.UUID, role: str, seq: int) -> EventPayload:
    return teams.MemberRoleChanged.model_validate(membership(team_id, user_id, role, seq))


@dataclass
class Teams:
    """Four teams, three people each, and their membership stories told in turns."""

    ids: list[uuid.UUID] = field(default_factory=lambda: [uuid.uuid4() for _ in range(4)])
    people: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.people = {team: [uuid.uuid4() for _ in range(3)] for team in self.ids}

    def story(self, team: uuid.UUID) -> list[EventPayload]:
        """Seven numbered changes, each meaningful only after the one before."""
        lead, dev, late = self.people[team]
        return [
            joined(team, lead, "Team Leader", 1),
            joined(team, dev, "Developer", 2),
            changed(team, dev, "Team Leader", 3),
            teams.MemberRemoved(team_id=team, user_id=lead, team_seq=4),
            joined(team, late, "Developer", 5),
            changed(team, dev, "Developer", 6),
            joined(team, lead, "Viewer", 7),  # back, after the removal of this very batch
        ]

    def interleaved(self) -> list[EventPayload]:
        """The teams created, then taking turns: every batch holds several teams' events,
        each team's in order."""
        payloads: list[EventPayload] = [
            teams.TeamCreated(team_id=team, name=f"T{n}", leader_id=self.people[team][0])
            for n, team in enumerate(self.ids)
        ]
        stories = [self.story(team) for team in self.ids]
        for step in range(7):
            payloads += [story[step] for story in stories]
        return payloads


async def apply_in_batches(app: FastAPI, payloads: list[EventPayload]) -> None:
    """Publish while the consumer is away, so the events wait together; then let it take
    them in batches. None of the batches may fail, nothing may be parked."""
    bus: MemoryBus = app.state.bus
    consumer = app.state.consumer
    await consumer.stop()
    for payload in payloads:
        await bus.publish(new_event(payload.event_type, source="/taskflow/teams", data=payload))
    routed = len(bus.queues[consumer.queue].messages)
    batches: list[int] = []
    apply_batch = consumer._on_batch

    async def counted(events: Sequence[CloudEvent]) -> None:
        await apply_batch(events)
        batches.append(len(events))

    consumer._on_batch = counted
    await consumer.start()
    await bus.drain(timeout=30)
    assert sum(batches) == routed and max(batches) > 1  # all in batches, none failed
    assert await bus.dead_letters(consumer.queue) == []
    async with app.state.database.session() as session:
        query = select(func.count()).select_from(inbox_table)
        assert (await session.execute(query)).scalar_one() == routed


async def test_work_applies_interleaved_membership_events_of_several_teams_in_batches(
    work: FastAPI,
) -> None:
    world = Teams()
    await apply_in_batches(work, world.interleaved())
    async with work.state.database.session() as session:
        replicas = (await session.execute(select(TeamReplica))).scalars().all()
        members = (await session.execute(select(MemberReplica))).scalars().all()
    assert {(r.team_id, r.membership_seq, r.resync_needed) for r in replicas} == {
        (team, 7, False) for team in world.ids
    }
    roles = ("Viewer", "Developer", "Developer")
    assert {(m.team_id, m.user_id, m.role_name, m.resync_needed) for m in members} == {
        (team, person, role, False)
        for team in world.ids
        for person, role in zip(world.people[team], roles, strict=True)
    }


async def test_notify_applies_interleaved_membership_numbers_of_several_teams_in_batches(
    notify: FastAPI,
) -> None:
    world = Teams()
    await apply_in_batches(notify, world.interleaved())
    async with notify.state.database.session() as session:
        members = (await session.execute(select(NotifyMember))).scalars().all()
    # Notify keeps each member's permissions (webhooks.manage), so a role change numbers
    # the row too: each keeps the number of its last join, role change or removal.
    assert {(m.team_id, m.user_id, m.seq, m.active) for m in members} == {
        (team, person, seq, True)
        for team in world.ids
        for person, seq in zip(world.people[team], (7, 6, 5), strict=True)
    }
    # ... and the permissions of the last role: back as a Viewer, a Developer again, a Developer.
    assert {(m.user_id, m.permissions) for m in members} == {
        (person, BUILT_IN_ROLES[role])
        for team in world.ids
        for person, role in zip(
            world.people[team], ("Viewer", "Developer", "Developer"), strict=True
        )
    }

"""Work never keeps access teams took away: membership events applied in teams' order,
a gap makes the team read through to teams, and the replica is resynced and rebuilt
from teams' internal API, which also names the people work never heard of from auth.

The replica-only cases play teams' events into work by hand (``world``). The others
run the real teams app beside work on separate buses: no teams event reaches work
unless the test forwards it, so it chooses which are late, lost or reordered.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlmodel import col
from taskflow_chassis.bus.memory import MemoryBus
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.testing import TestTokens, app_running
from taskflow_contracts import auth, teams
from taskflow_contracts.permissions import BUILT_IN_ROLES
from taskflow_teams.app import create_app as create_teams_app
from taskflow_teams.config import TeamsSettings
from taskflow_work.app import create_app as create_work_app
from taskflow_work.app import replica_departures
from taskflow_work.replica.commands import replica_command
from taskflow_work.replica.models import MemberReplica, Person, TeamReplica
from taskflow_work.replica.scheduled import ReplicaReconciler

from .conftest import World, make_settings

# The command as ``python -m taskflow_work replica`` runs it.
replica = partial(replica_command, departures=replica_departures())

KEY = "internal-test-key"


# --- the order of events, replica alone ------------------------------------------------------


def joined(team_id: uuid.UUID, user_id: uuid.UUID, role: str, seq: int) -> teams.MemberJoined:
    return teams.MemberJoined(
        team_id=team_id,
        user_id=user_id,
        role_id=uuid.uuid5(team_id, role),
        role_name=role,
        permissions=sorted(BUILT_IN_ROLES[role]),
        team_seq=seq,
    )


async def team_row(app: Any, team_id: uuid.UUID) -> TeamReplica | None:
    async with app.state.database.session() as session:
        row: TeamReplica | None = await session.get(TeamReplica, team_id)
        return row


async def member_row(app: Any, team_id: uuid.UUID, user_id: uuid.UUID) -> MemberReplica | None:
    async with app.state.database.session() as session:
        row: MemberReplica | None = await session.get(MemberReplica, (team_id, user_id))
        return row


async def test_a_late_join_after_the_removal_is_ignored(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    team_id = await world.team()
    lead, dev = world.outsider(), world.outsider()
    await world.teams_event(joined(team_id, lead.user_id, "Team Leader", 1))
    project = await world.project(team_id, lead)
    url = f"/api/v1/projects/{project['id']}"
    # Dev joins (2) and is removed (3); the join was held in the retry queue and comes last.
    late_join = joined(team_id, dev.user_id, "Developer", 2)
    await world.teams_event(teams.MemberRemoved(team_id=team_id, user_id=dev.user_id, team_seq=3))
    with caplog.at_level(logging.INFO, logger="taskflow.work.replica"):
        await world.teams_event(late_join)
    assert "late or replayed" in caplog.text
    assert await member_row(world.app, team_id, dev.user_id) is None
    assert (await world.client.get(url, headers=dev.headers)).status_code == 404
    team = await team_row(world.app, team_id)
    assert team is not None and team.membership_seq == 3
    # 3 came after 1: events are missing, so the team waits for a resync.
    assert team.resync_needed


async def test_a_replayed_copy_of_an_old_event_is_ignored_in_order(world: World) -> None:
    team_id = await world.team()
    lead, dev = world.outsider(), world.outsider()
    for event in (
        joined(team_id, lead.user_id, "Team Leader", 1),
        joined(team_id, dev.user_id, "Team Leader", 2),
        teams.MemberRoleChanged(
            team_id=team_id,
            user_id=dev.user_id,
            role_id=uuid.uuid5(team_id, "Viewer"),
            role_name="Viewer",
            permissions=sorted(BUILT_IN_ROLES["Viewer"]),
            team_seq=3,
        ),
    ):
        await world.teams_event(event)
    project = await world.project(team_id, lead)
    url = f"/api/v1/projects/{project['id']}"
    # A copy of the join (a new event id: the inbox cannot know it) comes again.
    await world.teams_event(joined(team_id, dev.user_id, "Team Leader", 2))
    row = await member_row(world.app, team_id, dev.user_id)
    assert row is not None and row.role_name == "Viewer" and not row.resync_needed
    assert (await world.client.delete(url, headers=dev.headers)).status_code == 403
    await world.teams_event(teams.MemberRemoved(team_id=team_id, user_id=dev.user_id, team_seq=4))
    await world.teams_event(joined(team_id, dev.user_id, "Team Leader", 2))
    assert (await world.client.get(url, headers=dev.headers)).status_code == 404
    team = await team_row(world.app, team_id)
    assert team is not None and team.membership_seq == 4 and not team.resync_needed


async def test_events_without_a_seq_apply_as_they_come(world: World) -> None:
    """Published before teams numbered them: applied in arrival order, as before."""
    team_id = await world.team()
    lead = await world.member(team_id)  # conftest's events carry no team_seq
    project = await world.project(team_id, lead)
    await world.teams_event(teams.MemberRemoved(team_id=team_id, user_id=lead.user_id))
    url = f"/api/v1/projects/{project['id']}"
    assert (await world.client.get(url, headers=lead.headers)).status_code == 404
    team = await team_row(world.app, team_id)
    assert team is not None and team.membership_seq == 0 and not team.resync_needed


# --- with the real teams app ------------------------------------------------------------------


class Stack:
    """Teams and work, each on its own bus; teams' events reach work only when forwarded."""

    def __init__(self, teams_app: Any, work_app: Any, tokens: TestTokens, buses: tuple[str, str]):
        self.teams_app, self.work_app, self.tokens = teams_app, work_app, tokens
        self.teams_bus, self.work_bus = MemoryBus(buses[0]), MemoryBus(buses[1])
        self.teams_events: list[CloudEvent] = []
        self.forwarded: set[str] = set()
        self.teams = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=teams_app), base_url="http://teams"
        )
        self.work = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=work_app), base_url="http://work"
        )

    async def start(self) -> None:
        for bus in (self.teams_bus, self.work_bus):
            await bus.connect()

        async def record(event: CloudEvent) -> None:
            self.teams_events.append(event)

        await self.teams_bus.subscribe("held-back", ["taskflow.teams.#"], record)

    async def close(self) -> None:
        await self.teams.aclose()
        await self.work.aclose()
        for bus in (self.teams_bus, self.work_bus):
            await bus.close()

    async def settle(self) -> None:
        for _ in range(3):
            await self.teams_bus.drain()
            await self.teams_app.state.relay.publish_pending()
            await self.work_bus.drain()
            await self.work_app.state.relay.publish_pending()

    async def forward(self, keep: Callable[[CloudEvent], bool] = lambda _: True) -> None:
        """Deliver the teams events not forwarded yet that ``keep`` picks, in order."""
        await self.settle()
        for event in self.teams_events:
            if event.id not in self.forwarded and keep(event):
                self.forwarded.add(event.id)
                await self.work_bus.publish(event)
        await self.settle()

    def drop(self, keep: Callable[[CloudEvent], bool]) -> None:
        """Lose events for good (parked, never replayed)."""
        self.forwarded |= {e.id for e in self.teams_events if keep(e)}

    async def person(self, name: str) -> dict[str, str]:
        user_id = uuid.uuid4()
        for payload in (
            auth.UserRegistered(
                user_id=user_id, username=name, email=f"{name}@example.com", email_verified=True
            ),
            auth.ParticipantRegistered(
                user_id=user_id,
                username=name,
                email=f"{name}@example.com",
                display_name=None,
                phone_number="+14155552671",
            ),
        ):
            await self.teams_bus.publish(
                new_event(payload.event_type, source="/taskflow/auth", data=payload)
            )
        await self.settle()
        return {"id": str(user_id), "email": f"{name}@example.com", **self.tokens.headers(user_id)}

    async def team(self, lead: dict[str, str]) -> str:
        created = await self.teams.post(
            "/api/v1/teams", headers=auth_of(lead), json={"name": "Core"}
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    async def join(
        self, team_id: str, lead: dict[str, str], name: str, role: str
    ) -> dict[str, str]:
        person = await self.person(name)
        roles = (
            await self.teams.get(f"/api/v1/teams/{team_id}/roles", headers=auth_of(lead))
        ).json()
        role_id = next(r["id"] for r in roles["items"] if r["name"] == role)
        invited = await self.teams.post(
            f"/api/v1/teams/{team_id}/invitations",
            headers=auth_of(lead),
            json={"email": person["email"], "role_id": role_id},
        )
        assert invited.status_code == 201, invited.text
        await self.settle()
        sent = [e for e in self.teams_events if e.type == "taskflow.teams.invitation.created.v1"]
        token = sent[-1].data["accept_url"].split("token=")[1]
        accepted = await self.teams.post(
            "/api/v1/invitations/accept", headers=auth_of(person), json={"token": token}
        )
        assert accepted.status_code == 200, accepted.text
        return person

    async def remove(self, team_id: str, lead: dict[str, str], person: dict[str, str]) -> None:
        removed = await self.teams.delete(
            f"/api/v1/teams/{team_id}/members/{person['id']}", headers=auth_of(lead)
        )
        assert removed.status_code == 204, removed.text
        await self.settle()

    async def project(self, team_id: str, lead: dict[str, str]) -> str:
        created = await self.work.post(
            "/api/v1/projects", headers=auth_of(lead), json={"team_id": team_id, "name": "P"}
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])


def auth_of(person: dict[str, str]) -> dict[str, str]:
    return {"Authorization": person["Authorization"]}


def membership_of(user: dict[str, str]) -> Callable[[CloudEvent], bool]:
    return lambda e: e.type.startswith("taskflow.teams.member.") and e.data["user_id"] == user["id"]


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    tokens = TestTokens()
    suffix = uuid.uuid4().hex[:8]
    buses = (f"memory://ro-teams-{suffix}", f"memory://ro-work-{suffix}")
    teams_app = create_teams_app(
        TeamsSettings(
            data_dir=tmp_path,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'teams.db'}",
            event_bus_url=buses[0],
            internal_api_key=SecretStr(KEY),
        ),
        jwks_fetcher=tokens.jwks,
    )
    settings = make_settings(database_url, buses[1], tmp_path)
    settings.internal_api_key = SecretStr(KEY)
    settings.replica_reconcile_seconds = 3600  # the tests run the passes themselves
    work_app = create_work_app(
        settings, jwks_fetcher=tokens.jwks, teams_transport=httpx.ASGITransport(app=teams_app)
    )
    async with app_running(teams_app), app_running(work_app):
        stack = Stack(teams_app, work_app, tokens, buses)
        await stack.start()
        yield stack
        await stack.close()


async def test_a_gap_makes_the_team_read_through_until_it_is_resynced(stack: Stack) -> None:
    reconciler = stack.work_app.state.reconciler
    await reconciler.stop()  # this test resyncs by hand, once it has seen the gap's effect
    lead = await stack.person("lead")
    team_id = await stack.team(lead)
    dev = await stack.join(team_id, lead, "dev", "Developer")
    await stack.forward()
    project = await stack.project(team_id, lead)
    url = f"/api/v1/projects/{project}"
    assert (await stack.work.get(url, headers=auth_of(dev))).status_code == 200
    # Dev is removed (seq 3): that event is parked. Then someone joins (seq 4) and arrives.
    await stack.remove(team_id, lead, dev)
    stack.drop(membership_of(dev))
    await stack.join(team_id, lead, "eve", "Viewer")
    await stack.forward()
    team = await team_row(stack.work_app, uuid.UUID(team_id))
    assert team is not None and team.resync_needed and team.membership_seq == 4
    row = await member_row(stack.work_app, uuid.UUID(team_id), uuid.UUID(dev["id"]))
    assert row is not None and row.resync_needed  # still there, no longer trusted
    # Teams answers for each of the team's requests: dev is refused, the leader is not.
    assert (await stack.work.get(url, headers=auth_of(dev))).status_code == 404
    assert (await stack.work.get(url, headers=auth_of(lead))).status_code == 200
    listed = await stack.work.get("/api/v1/projects", headers=auth_of(dev))
    assert listed.status_code == 200 and listed.json()["items"] == []
    # With teams' key refused, the resync waits; nothing else breaks.
    reconciler.sync.teams.key = SecretStr("wrong")
    assert await reconciler.resync_marked() == 0
    assert (await stack.work.get(url, headers=auth_of(lead))).status_code == 200
    reconciler.sync.teams.key = SecretStr(KEY)
    assert await reconciler.resync_marked() == 1
    team = await team_row(stack.work_app, uuid.UUID(team_id))
    assert team is not None and not team.resync_needed and team.membership_seq == 4
    assert await member_row(stack.work_app, uuid.UUID(team_id), uuid.UUID(dev["id"])) is None
    assert (await stack.work.get(url, headers=auth_of(dev))).status_code == 404
    # The parked removal is replayed at last: older than the resync, ignored.
    stack.forwarded -= {e.id for e in stack.teams_events if membership_of(dev)(e)}
    await stack.forward(membership_of(dev))
    team = await team_row(stack.work_app, uuid.UUID(team_id))
    assert team is not None and team.membership_seq == 4 and not team.resync_needed


async def devs_task(stack: Stack) -> tuple[dict[str, str], dict[str, str], str, dict[str, Any]]:
    """Lead and dev in a team work knows (every teams event forwarded), and a task of its
    project, created by lead and assigned to dev: (lead, dev, the team's id, the task)."""
    lead = await stack.person("lead")
    team_id = await stack.team(lead)
    dev = await stack.join(team_id, lead, "dev", "Developer")
    await stack.forward()
    project = await stack.project(team_id, lead)
    task = await stack.work.post(
        f"/api/v1/projects/{project}/tasks",
        headers=auth_of(lead),
        json={"title": "Dev's", "assignee_ids": [dev["id"]]},
    )
    assert task.status_code == 201, task.text
    return lead, dev, team_id, dict(task.json())


async def test_the_reconciler_undoes_a_removal_whose_event_never_came(stack: Stack) -> None:
    lead, dev, team_id, task = await devs_task(stack)
    task_url = f"/api/v1/tasks/{task['id']}"
    assert (await stack.work.get(task_url, headers=auth_of(dev))).status_code == 200
    # Removed in teams; work hears nothing of it, and nothing after it either.
    await stack.remove(team_id, lead, dev)
    stack.drop(lambda _: True)
    assert (await stack.work.get(task_url, headers=auth_of(dev))).status_code == 200  # stale
    report = await stack.work_app.state.reconciler.reconcile()
    assert report is not None and [r.team_id for r in report.results] == [uuid.UUID(team_id)]
    assert (await stack.work.get(task_url, headers=auth_of(dev))).status_code == 404
    shown = await stack.work.get(task_url, headers=auth_of(lead))
    assert shown.status_code == 200 and shown.json()["assignee_ids"] == []
    team = await team_row(stack.work_app, uuid.UUID(team_id))
    assert team is not None and team.membership_seq == 3
    # A pass with nothing behind changes nothing.
    again = await stack.work_app.state.reconciler.reconcile()
    assert again is not None and again.results == [] and again.compared == 1
    # The team is deleted in teams, its event lost too: the next pass drops its rows.
    assert (
        await stack.teams.delete(f"/api/v1/teams/{team_id}", headers=auth_of(lead))
    ).status_code == 204
    await stack.settle()
    stack.drop(lambda _: True)
    gone = await stack.work_app.state.reconciler.reconcile()
    assert gone is not None and [r.outcome for r in gone.results] == ["gone"]
    assert await team_row(stack.work_app, uuid.UUID(team_id)) is None
    assert (await stack.work.get(task_url, headers=auth_of(lead))).status_code == 404


async def test_replica_rebuild_restores_a_wiped_replica(stack: Stack) -> None:
    await stack.work_app.state.reconciler.stop()  # its first pass would name the people
    lead = await stack.person("lead")
    team_id = await stack.team(lead)
    dev = await stack.join(team_id, lead, "dev", "Reviewer")
    await stack.forward()
    project = await stack.project(team_id, lead)
    url = f"/api/v1/projects/{project}"
    async with stack.work_app.state.database.session() as session:
        await session.execute(delete(MemberReplica))
        await session.execute(delete(TeamReplica))
        await session.commit()
    settings = stack.work_app.state.settings
    transport = httpx.ASGITransport(app=stack.teams_app)
    out = io.StringIO()
    assert await replica(settings, ["rebuild"], out, teams_transport=transport) == 0
    assert f"team {team_id}: seq 0 -> 2, +2 -0 ~0 member(s)" in out.getvalue()
    assert "1 team(s) compared, 1 changed, 0 failed" in out.getvalue()
    # Work never heard of them from auth: their names come from teams too.
    assert "2 people compared, 2 added, 0 renamed from teams" in out.getvalue()
    assert await names_of(stack, lead, dev) == [("lead", None), ("dev", None)]
    async with stack.work_app.state.database.session() as session:
        rows = (
            (
                await session.execute(
                    select(MemberReplica).where(col(MemberReplica.team_id) == uuid.UUID(team_id))
                )
            )
            .scalars()
            .all()
        )
    assert {(str(r.user_id), r.role_name, r.from_event) for r in rows} == {
        (lead["id"], "Team Leader", True),
        (dev["id"], "Reviewer", True),
    }
    # Rows from events again: no read-through needed (teams is not asked).
    stack.work_app.state.authorizer.teams = None
    assert (await stack.work.get(url, headers=auth_of(dev))).status_code == 200
    # One team, and nothing to change.
    out = io.StringIO()
    assert await replica(settings, ["rebuild", "--team", team_id], out, transport) == 0
    assert "1 team(s) compared, 0 changed, 0 failed" in out.getvalue()
    out = io.StringIO()
    assert await replica(settings, ["status"], out) == 0
    assert "teams\t1" in out.getvalue() and "members from events\t2" in out.getvalue()
    assert "teams needing resync\t0" in out.getvalue()
    assert "people named\t2" in out.getvalue()
    # Without the key, the rebuild says so and fails.
    keyless = settings.model_copy(update={"internal_api_key": SecretStr("")})
    out = io.StringIO()
    assert await replica(keyless, ["rebuild"], out, transport) == 1
    assert "internal API key" in out.getvalue()


async def test_a_pass_pages_through_every_team_on_both_sides(stack: Stack) -> None:
    lead = await stack.person("lead")
    team_ids = [await stack.team(lead) for _ in range(3)]
    dev = await stack.join(team_ids[1], lead, "dev", "Developer")
    await stack.forward()
    # Dev's removal never reaches work; work also holds a team teams never had.
    await stack.remove(team_ids[1], lead, dev)
    stack.drop(lambda _: True)
    stranger = uuid.uuid4()
    async with stack.work_app.state.database.session() as session:
        session.add(TeamReplica(team_id=stranger, name="Ghost", membership_seq=7))
        session.add(
            MemberReplica(
                team_id=stranger, user_id=uuid.UUID(dev["id"]), role_id=uuid.uuid4(), role_name="X"
            )
        )
        await session.commit()
    report = await stack.work_app.state.reconciler.sync.reconcile(page_size=1)
    assert report.compared == 4 and report.failures == []
    assert sorted((str(r.team_id), r.outcome) for r in report.results) == sorted(
        [(team_ids[1], "resynced"), (str(stranger), "gone")]
    )
    assert await member_row(stack.work_app, uuid.UUID(team_ids[1]), uuid.UUID(dev["id"])) is None
    assert await member_row(stack.work_app, stranger, uuid.UUID(dev["id"])) is None


async def names_of(stack: Stack, *people: dict[str, str]) -> list[tuple[str, str | None]]:
    async with stack.work_app.state.database.session() as session:
        rows = [await session.get(Person, uuid.UUID(p["id"])) for p in people]
    return [(r.username, r.display_name) if r else ("?", "?") for r in rows]


async def auth_event(bus: MemoryBus, payload: Any) -> None:
    await bus.publish(new_event(payload.event_type, source="/taskflow/auth", data=payload))


def renamed(person: dict[str, str], username: str, display: str) -> auth.ParticipantUpdated:
    return auth.ParticipantUpdated(
        user_id=uuid.UUID(person["id"]),
        username=username,
        email=person["email"],
        display_name=display,
        phone_number="+14155552671",
    )


async def test_the_periodic_pass_names_the_people_work_never_heard_of(stack: Stack) -> None:
    await stack.work_app.state.reconciler.stop()  # a fresh one below makes its first pass
    lead, dev, _, task = await devs_task(stack)
    # Work kept no names before: teams' events do not carry them, auth's never came here.
    assert task["creator"] == {"id": lead["id"], "username": None, "display_name": None}
    await auth_event(stack.teams_bus, renamed(dev, "dev", "Dev Eloper"))
    await stack.settle()
    reconciler = ReplicaReconciler(
        stack.work_app.state.reconciler.sync, reconcile_seconds=3600, retry_seconds=3600
    )
    await reconciler.run_once()
    shown = await stack.work.get(f"/api/v1/tasks/{task['id']}", headers=auth_of(lead))
    assert shown.json()["creator"] == {"id": lead["id"], "username": "lead", "display_name": None}
    assert shown.json()["assignees"] == [
        {"id": dev["id"], "username": "dev", "display_name": "Dev Eloper"}
    ]
    # The next pass comes an hour later, not at every sweep.
    await auth_event(stack.teams_bus, renamed(lead, "lead", "Lea"))
    await stack.settle()
    await reconciler.run_once()
    assert await names_of(stack, lead) == [("lead", None)]
    # A pass catches up a rename whose event work lost (teams applied it after work's)...
    sync = reconciler.sync
    report = await sync.fill_people(page_size=1)
    assert (report.compared, report.added, report.renamed) == (2, 0, 1)
    assert await names_of(stack, lead, dev) == [("lead", "Lea"), ("dev", "Dev Eloper")]
    # ...but never takes back a newer name an event brought to work before teams has it.
    await auth_event(stack.work_bus, renamed(dev, "dev", "Newer"))
    await stack.settle()
    report = await sync.fill_people()
    assert (report.added, report.renamed) == (0, 0)
    assert await names_of(stack, dev) == [("dev", "Newer")]
    # Teams unreachable: the pass says so and the names stay.
    sync.teams.key = SecretStr("wrong")
    assert await reconciler.fill_people() is None
    sync.teams.key = SecretStr(KEY)
    assert await names_of(stack, lead, dev) == [("lead", "Lea"), ("dev", "Newer")]


# --- what an attacker of the replica tried (each once let a removed member back in) ---------


async def test_an_unnumbered_event_after_numbered_ones_resyncs_instead_of_applying(
    world: World,
) -> None:
    """A join parked before teams numbered its events, replayed after the member's removal:
    its place in the order is unknown, so the team is resynced rather than trusting it."""
    team_id = await world.team()
    lead, dev = world.outsider(), world.outsider()
    await world.teams_event(joined(team_id, lead.user_id, "Team Leader", 1))
    await world.teams_event(joined(team_id, dev.user_id, "Developer", 2))
    project = await world.project(team_id, lead)
    await world.teams_event(teams.MemberRemoved(team_id=team_id, user_id=dev.user_id, team_seq=3))
    old_join = joined(team_id, dev.user_id, "Developer", 2).model_copy(update={"team_seq": None})
    await world.teams_event(old_join)
    assert await member_row(world.app, team_id, dev.user_id) is None
    team = await team_row(world.app, team_id)
    assert team is not None and team.resync_needed and team.membership_seq == 3
    url = f"/api/v1/projects/{project['id']}"
    assert (await world.client.get(url, headers=dev.headers)).status_code == 404


async def test_a_read_through_answer_is_not_kept_if_an_event_landed_meanwhile(
    world: World,
) -> None:
    from taskflow_work.access import MemberAccess

    team_id = await world.team()
    lead, dev = world.outsider(), world.outsider()
    await world.teams_event(joined(team_id, lead.user_id, "Team Leader", 1))
    authorizer = world.app.state.authorizer
    seq_when_asked = 1
    # Teams answered "member" for dev; before the answer is kept, dev's join (2) and
    # removal (3) are applied: the answer is older than the removal.
    await world.teams_event(joined(team_id, dev.user_id, "Developer", 2))
    await world.teams_event(teams.MemberRemoved(team_id=team_id, user_id=dev.user_id, team_seq=3))
    answer = MemberAccess(team_id, dev.user_id, "Developer", frozenset({"tasks.view"}))
    await authorizer._remember(answer, uuid.uuid5(team_id, "Developer"), seq_when_asked)
    assert await member_row(world.app, team_id, dev.user_id) is None
    # With nothing landed in between, the answer is kept (as a read-through row).
    await authorizer._remember(answer, uuid.uuid5(team_id, "Developer"), 3)
    row = await member_row(world.app, team_id, dev.user_id)
    assert row is not None and not row.from_event


async def test_an_old_read_through_row_does_not_list_the_team(world: World) -> None:
    from datetime import timedelta

    from taskflow_chassis.types import utcnow

    team_id = await world.team()
    lead = world.outsider()
    await world.teams_event(joined(team_id, lead.user_id, "Team Leader", 1))
    project = await world.project(team_id, lead)
    dev = world.outsider()
    async with world.app.state.database.session() as session:
        session.add(
            MemberReplica(
                team_id=team_id,
                user_id=dev.user_id,
                role_id=uuid.uuid5(team_id, "Developer"),
                role_name="Developer",
                permission_list=" ".join(sorted(BUILT_IN_ROLES["Developer"])),
                from_event=False,
                updated_at=utcnow() - timedelta(hours=1),
            )
        )
        await session.commit()
    world.app.state.authorizer.teams = None  # teams does not confirm it (no read-through)
    listed = await world.client.get("/api/v1/projects", headers=dev.headers)
    assert listed.status_code == 200 and listed.json()["items"] == []
    tasks = await world.client.get("/api/v1/tasks", headers=dev.headers)
    assert tasks.status_code == 200 and tasks.json()["items"] == []
    assert (await world.client.get("/api/v1/projects", headers=lead.headers)).json()["items"][0][
        "id"
    ] == project["id"]


async def test_only_confirmed_members_of_a_team_in_step_can_be_assigned(world: World) -> None:
    team_id = await world.team()
    lead, dev = world.outsider(), world.outsider()
    await world.teams_event(joined(team_id, lead.user_id, "Team Leader", 1))
    await world.teams_event(joined(team_id, dev.user_id, "Developer", 2))
    project = await world.project(team_id, lead)
    tasks_url = f"/api/v1/projects/{project['id']}/tasks"
    async with world.app.state.database.session() as session:
        row = await session.get(MemberReplica, (team_id, dev.user_id))
        assert row is not None
        row.from_event = False  # only a read-through answer vouches for dev now
        await session.commit()
    refused = await world.client.post(
        tasks_url, headers=lead.headers, json={"title": "x", "assignee_ids": [str(dev.user_id)]}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("assignee-not-member")
    # A row of a team waiting for its resync (the lead's own access is checked apart).
    async with world.app.state.database.session() as session:
        row = await session.get(MemberReplica, (team_id, dev.user_id))
        assert row is not None
        row.from_event, row.resync_needed = True, True
        await session.commit()
    waiting = await world.client.post(
        tasks_url, headers=lead.headers, json={"title": "y", "assignee_ids": [str(dev.user_id)]}
    )
    assert waiting.status_code == 503, waiting.text
    assert waiting.headers["retry-after"] == "2"

"""A batch of events through notify's handlers (issue 20): the feed rows, their live events,
the task changes on the team's streams and the emails are gathered and written together
when the batch commits, in a few statements whatever the batch's size, and every promise
of one event at a time still holds: each event once, nothing half written, preferences
honoured, each notification on the live stream in order with the unread count it made.

SQLite, PostgreSQL and MariaDB (each path of the writes: RETURNING, or a look first).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.handlers import EventContext, HandlerMap
from taskflow_chassis.inbox import handle_batch, handle_once
from taskflow_chassis.messaging import inbox_table
from taskflow_chassis.migrations import upgrade_to_head
from taskflow_chassis.serve import migrations_dir
from taskflow_chassis.testing import fresh_database, statements_sent
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import Publisher
from taskflow_contracts import auth, teams, work
from taskflow_contracts.base import EventPayload
from taskflow_notify import app as notify_app
from taskflow_notify.config import NotifySettings
from taskflow_notify.deps import NotifyDeps
from taskflow_notify.email.models import EmailMessage
from taskflow_notify.email.service import EmailTemplates
from taskflow_notify.handlers import EVENT_HANDLERS
from taskflow_notify.live.models import LiveCursor, LiveEvent
from taskflow_notify.notifications.models import Notification, Preferences
from taskflow_notify.replica.models import (
    MemberReplica,
    ProjectReplica,
    TaskAssigneeReplica,
    TaskReplica,
    TeamReplica,
    UserReplica,
)

PUBLISHER = Publisher("notify")
# The tables the gathered writes go to: their statements a batch, not an event.
GATHERED = re.compile(
    r"\b(notifications|live_events|live_cursors|email_messages"
    r"|task_replicas|task_assignee_replicas)\b"
)


class Boom(EventPayload):
    event_type = "taskflow.test.boom.exploded.v1"


async def _explode(payload: Boom, context: EventContext[NotifyDeps]) -> None:
    raise RuntimeError("a handler failed mid-batch")


@dataclass
class Team:
    database: Database
    handlers: HandlerMap
    team_id: uuid.UUID
    project_id: uuid.UUID
    lead: uuid.UUID  # assigns
    dev: uuid.UUID  # is assigned

    def created(
        self, task_id: uuid.UUID, title: str, assignees: list[uuid.UUID]
    ) -> work.TaskCreated:
        return work.TaskCreated(
            task_id=task_id,
            project_id=self.project_id,
            team_id=self.team_id,
            title=title,
            status="todo",
            priority="medium",
            due_at=None,
            assignee_ids=assignees,
            created_by=self.lead,
        )

    def assigned(
        self, task_id: uuid.UUID, title: str, due_at: datetime | None = None
    ) -> work.TaskAssigned:
        """``dev`` assigned by ``lead``."""
        return work.TaskAssigned(
            task_id=task_id,
            project_id=self.project_id,
            team_id=self.team_id,
            title=title,
            due_at=due_at,
            assignee_id=self.dev,
            assigned_by=self.lead,
        )

    def assignment(self, number: int) -> list[CloudEvent]:
        """A task created with ``dev`` as its assignee: task.created, then task.assigned."""
        task_id, title = uuid.uuid4(), f"Task {number}"
        return [
            _event(self.created(task_id, title, [self.dev])),
            _event(self.assigned(task_id, title)),
        ]

    def assignments(self, count: int) -> list[CloudEvent]:
        return [e for number in range(count) for e in self.assignment(number)]

    async def apply(self, events: list[CloudEvent]) -> int:
        return await handle_batch(self.database, events, self.handlers, PUBLISHER)

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.database.session() as session:
            found = await session.execute(select(model).where(*where))
            return list(found.scalars())

    async def count(self, model: Any) -> int:
        async with self.database.session() as session:
            return int(
                (await session.execute(select(func.count()).select_from(model))).scalar_one()
            )

    async def stream(self, user_id: uuid.UUID) -> list[LiveEvent]:
        async with self.database.session() as session:
            found = await session.execute(
                select(LiveEvent).where(col(LiveEvent.user_id) == user_id).order_by("seq")
            )
            return list(found.scalars())


def _event(payload: EventPayload) -> CloudEvent:
    return new_event(payload.event_type, source="/taskflow/work", data=payload)


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
async def team(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Team]:
    async with fresh_database(request.param, tmp_path, "taskflow_notify_batch") as url:
        database = Database(url)
        try:
            await upgrade_to_head(
                database, migrations_dir(notify_app.__file__), "alembic_version_notify"
            )
            team_id, project_id, lead, dev = (uuid.uuid4() for _ in range(4))
            async with database.session() as session:
                session.add(TeamReplica(team_id=team_id, name="Platform"))
                session.add(ProjectReplica(project_id=project_id, team_id=team_id, name="Apollo"))
                for user_id, name in ((lead, "lead"), (dev, "dev")):
                    session.add(
                        UserReplica(
                            user_id=user_id,
                            username=name,
                            email=f"{name}@example.com",
                            display_name=name.title(),
                            email_verified=True,
                        )
                    )
                    session.add(MemberReplica(team_id=team_id, user_id=user_id, seq=1, active=True))
                await session.commit()
            settings = NotifySettings(database_url=url, public_url="https://taskflow.example")
            deps = NotifyDeps(settings=settings, templates=EmailTemplates())
            handlers = HandlerMap({**EVENT_HANDLERS, Boom: [_explode]}, deps)
            yield Team(database, handlers, team_id, project_id, lead, dev)
        finally:
            await database.dispose()


async def test_a_batch_writes_its_deliveries_in_the_same_few_statements_whatever_its_size(
    team: Team,
) -> None:
    """3 assignments or 12: the same statements for the feed, live and email rows; each
    further assignment costs only what its own event must read and replicate."""
    await team.apply(team.assignments(1))  # the users' cursor rows exist from here
    sent: dict[int, list[str]] = {}
    for size in (3, 12):
        with statements_sent(team.database) as sent[size]:
            assert await team.apply(team.assignments(size)) == 2 * size
    gathered = {size: [s for s in sent[size] if GATHERED.search(s)] for size in sent}
    assert len(gathered[3]) == len(gathered[12]), gathered
    assert len(gathered[3]) <= 14
    # The rest grows with the events, by no more than their own reads and replica writes
    # (webhooks' endpoints looked up aside): none an assignment since the task replica's
    # rows are gathered too, 2 before that, 7 before the live and email rows, 25 at first.
    own = {size: [s for s in sent[size] if "webhook" not in s] for size in sent}
    assert (len(own[12]) - len(own[3])) / 9 <= 1, own
    assert await team.count(Notification) == 1 + 3 + 12
    assert await team.count(EmailMessage) == 1 + 3 + 12


async def test_an_assignment_reads_its_people_and_audience_once_and_claims_its_events_at_once(
    team: Team,
) -> None:
    """Its two events in one batch: the live events' actor is the person the handlers
    read (not read again when they are written); whether the project is shown, its name
    and the team's members are one read for the notification's and the live events'
    handlers of both events; and the inbox rows go in one statement where the database
    says which it wrote (MariaDB looks first)."""
    await team.apply(team.assignments(1))
    with statements_sent(team.database) as sent:
        assert await team.apply(team.assignments(1)) == 2
    people = [s for s in sent if re.search(r"\bFROM user_replicas\b", s)]
    audience = [s for s in sent if re.search(r"\b(member_replicas|project_replicas)\b", s)]
    inbox = [s for s in sent if "inbox_messages" in s]
    assert len(people) == 1, people
    assert len(audience) == 1, audience
    assert len(inbox) == (2 if team.database.dialect == "mysql" else 1), inbox
    # What this batch put on the assignee's stream names the assigner all the same.
    written = [e for e in await team.stream(team.dev) if "actor" in e.payload][-3:]
    assert len(written) == 3
    assert {(e.payload["actor"]["id"], e.payload["actor"]["username"]) for e in written} == {
        (str(team.lead), "lead")
    }


async def test_a_comment_reads_who_hears_of_it_once_and_tells_only_members(team: Team) -> None:
    """Its recipients (the task's creator and assignees but its author) are told only while
    they are active members; that, whether the project is shown and the live events'
    recipients come from one read."""
    outsider = uuid.uuid4()
    async with team.database.session() as session:
        session.add(
            UserReplica(
                user_id=outsider,
                username="gone",
                email="gone@example.com",
                display_name="Gone",
                email_verified=True,
            )
        )
        session.add(MemberReplica(team_id=team.team_id, user_id=outsider, seq=1, active=False))
        await session.commit()
    created, assigned = team.assignment(0)
    also = _event(
        work.TaskAssigned(
            task_id=created.data["task_id"],
            project_id=team.project_id,
            team_id=team.team_id,
            title="Task 0",
            due_at=None,
            assignee_id=outsider,
            assigned_by=team.lead,
        )
    )
    await team.apply([created, assigned, also])
    comment = _event(
        work.CommentCreated(
            comment_id=uuid.uuid4(),
            task_id=created.data["task_id"],
            project_id=team.project_id,
            team_id=team.team_id,
            author_id=team.lead,
            excerpt="Looks good",
        )
    )
    with statements_sent(team.database) as sent:
        assert await team.apply([comment]) == 1
    audience = [s for s in sent if re.search(r"\b(member_replicas|project_replicas)\b", s)]
    assert len(audience) == 1, audience
    told = await team.rows(Notification, col(Notification.kind) == "task_commented")
    assert [n.user_id for n in told] == [team.dev]


async def test_each_notification_reaches_the_stream_in_order_with_the_unread_count_it_made(
    team: Team,
) -> None:
    await team.apply(team.assignments(3))
    dev_stream = await team.stream(team.dev)
    assert [e.seq for e in dev_stream] == list(range(1, 10))
    kinds = [(e.kind, e.payload.get("change")) for e in dev_stream]
    assert (
        kinds
        == [
            ("task.changed", "created"),
            ("notification", None),
            ("task.changed", "assigned"),
        ]
        * 3
    )
    notifications = [e.payload for e in dev_stream if e.kind == "notification"]
    assert [n["unread_count"] for n in notifications] == [1, 2, 3]
    assert [n["title"] for n in notifications] == [
        f'You were assigned "Task {n}"' for n in range(3)
    ]
    assert {n["actor"]["display_name"] for n in notifications} == {"Lead"}
    changes = [e.payload for e in dev_stream if e.kind == "task.changed"]
    assert {c["actor"]["username"] for c in changes} == {"lead"}
    # The assigner hears of the changes, not of a notification.
    lead_stream = await team.stream(team.lead)
    assert [e.seq for e in lead_stream] == list(range(1, 7))
    assert {e.kind for e in lead_stream} == {"task.changed"}
    [cursor] = await team.rows(LiveCursor, col(LiveCursor.user_id) == team.dev)
    assert cursor.seq == 9
    # A later batch numbers on, and counts on from what is unread.
    await team.apply(team.assignment(3))
    latest = (await team.stream(team.dev))[-2:]
    assert [e.seq for e in latest] == [11, 12]
    assert latest[0].payload["unread_count"] == 4


async def test_a_redelivered_batch_and_a_copy_within_one_change_nothing(team: Team) -> None:
    events = team.assignments(2)
    assert await team.apply([*events, events[1]]) == 4  # the copy runs once
    before = [await team.count(model) for model in (Notification, EmailMessage, LiveEvent)]
    assert before == [2, 2, 10]  # live: each change to both members, the notification to one
    assert await team.apply(events) == 0
    assert [await team.count(model) for model in (Notification, EmailMessage, LiveEvent)] == before


async def test_a_batch_that_fails_writes_nothing_and_its_events_then_apply_one_by_one(
    team: Team,
) -> None:
    """A handler failing after others gathered their rows: none of them is written (they
    were never more than memory), and applied alone the events write each row once."""
    events = team.assignment(0)
    with pytest.raises(RuntimeError):
        await team.apply([*events, _event(Boom())])
    for model in (Notification, EmailMessage, LiveEvent, LiveCursor, inbox_table):
        assert await team.count(model) == 0
    for one in events:
        assert await handle_once(team.database, one, team.handlers, PUBLISHER)
    written = [await team.count(model) for model in (Notification, EmailMessage, LiveEvent)]
    assert written == [1, 1, 5]
    [notification] = [e for e in await team.stream(team.dev) if e.kind == "notification"]
    assert notification.payload["unread_count"] == 1


async def test_preferences_are_honoured_within_a_batch(team: Team) -> None:
    async with team.database.session() as session:
        session.add(Preferences(user_id=team.dev, email_on_assignment=False))
        await session.commit()
    await team.apply(team.assignments(3))
    assert await team.count(Notification) == 3
    assert await team.count(EmailMessage) == 0


async def test_an_account_deleted_later_in_the_batch_takes_its_gathered_rows_along(
    team: Team,
) -> None:
    deleted = _event(auth.UserDeleted(user_id=team.dev))
    await team.apply([*team.assignments(2), deleted])
    assert await team.rows(Notification, col(Notification.user_id) == team.dev) == []
    assert await team.stream(team.dev) == []
    assert await team.rows(LiveCursor, col(LiveCursor.user_id) == team.dev) == []
    assert [e.seq for e in await team.stream(team.lead)] == [1, 2, 3, 4]


async def test_what_a_batch_keeps_reading_is_read_again_after_a_team_event(team: Team) -> None:
    """One read of the team's members and the task's visibility serves a run of task events;
    an event that may change them in between makes the next task event read them again."""
    now = utcnow()
    removed = _event(teams.MemberRemoved(team_id=team.team_id, user_id=team.dev, team_seq=2))
    deleted = _event(
        teams.TeamDeleted(
            team_id=team.team_id, deleted_at=now, purge_after=now + timedelta(days=30)
        )
    )
    await team.apply(
        [*team.assignment(0), removed, *team.assignment(1), deleted, *team.assignment(2)]
    )
    dev_stream = [(e.kind, e.payload.get("change")) for e in await team.stream(team.dev)]
    assert dev_stream == [
        ("task.changed", "created"),
        ("notification", None),
        ("task.changed", "assigned"),
        # Then removed: neither the next task's changes nor its late assignment reach them.
    ]
    assert await team.count(Notification) == 1  # none once the team was deleted
    assert len(await team.stream(team.lead)) == 4


async def _task(team: Team, task_id: uuid.UUID) -> tuple[Any, set[uuid.UUID]]:
    """The task's replica row (None if unknown) and its assignees."""
    [task] = await team.rows(TaskReplica, col(TaskReplica.task_id) == task_id) or [None]
    assignees = await team.rows(TaskAssigneeReplica, col(TaskAssigneeReplica.task_id) == task_id)
    return task, {row.user_id for row in assignees}


async def test_later_events_of_a_batch_read_the_task_rows_its_creates_and_assignments_gathered(
    team: Team,
) -> None:
    """task.created's and task.assigned's replica rows are written together, but an update,
    a comment and an unassignment later in the same batch still meet them, in order."""
    task_id, due = uuid.uuid4(), utcnow() + timedelta(days=2)
    about = {"task_id": task_id, "project_id": team.project_id, "team_id": team.team_id}
    events = [
        team.created(task_id, "Draft", [team.dev]),
        team.assigned(task_id, "Draft"),
        work.TaskUpdated(
            **about,
            title="Final",
            description=None,
            status="doing",
            priority="low",
            due_at=due,
            estimate_hours=None,
            labels=[],
            assignee_ids=[team.dev],
            changed=["title", "status", "due_at"],
            updated_by=team.lead,
        ),
        work.CommentCreated(comment_id=uuid.uuid4(), **about, author_id=team.lead, excerpt="OK"),
        work.TaskUnassigned(task_id=task_id, team_id=team.team_id, assignee_id=team.dev),
    ]
    assert await team.apply([_event(e) for e in events]) == 5
    task, assignees = await _task(team, task_id)
    assert (task.title, task.status, task.due_at) == ("Final", "doing", due)
    assert assignees == set()  # assigned, then unassigned
    # The comment found the task's creator and its assignee, and told the assignee.
    kinds = {n.kind for n in await team.rows(Notification, col(Notification.user_id) == team.dev)}
    assert kinds == {"task_assigned", "task_commented"}, kinds


async def test_an_assignment_retitles_a_task_met_in_an_earlier_batch_and_one_out_of_order(
    team: Team,
) -> None:
    """An assignment of a task created in an earlier batch sets its title and due date as
    the event tells them; one that arrives before its task's creation in the same batch
    leaves the task as task.created says, and its assignment stands."""
    earlier, later, due = uuid.uuid4(), uuid.uuid4(), utcnow() + timedelta(days=1)
    await team.apply([_event(team.created(earlier, "First", []))])
    batch = [
        team.assigned(earlier, "First, renamed", due),
        team.assigned(later, "Early", due),
        team.created(later, "As created", []),
    ]
    await team.apply([_event(e) for e in batch])
    task, assignees = await _task(team, earlier)
    assert (task.title, task.due_at, assignees) == ("First, renamed", due, {team.dev})
    task, assignees = await _task(team, later)
    assert (task.title, task.due_at, assignees) == ("As created", None, {team.dev})

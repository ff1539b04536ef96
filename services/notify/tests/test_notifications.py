"""What gets notified, to whom, once; the feed and the preferences."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.message import Message
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col
from taskflow_chassis.db import Database
from taskflow_chassis.events import new_event
from taskflow_chassis.types import utcnow
from taskflow_contracts import auth, teams, work
from taskflow_notify.email.models import EmailMessage, EmailStatus
from taskflow_notify.email.service import EmailTemplates
from taskflow_notify.notifications import service
from taskflow_notify.notifications.models import Kind, Notification

from .conftest import html_of, send_logged_email, text_of


def invitation(
    email: str, inviter: uuid.UUID, team_id: uuid.UUID | None = None
) -> teams.InvitationCreated:
    return teams.InvitationCreated(
        invitation_id=uuid.uuid4(),
        team_id=team_id or uuid.uuid4(),
        team_name="Platform",
        email=email,
        role_name="Developer",
        invited_by=inviter,
        accept_url="https://taskflow.example/invitations/accept?token=tok-123",
        expires_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


async def test_invitation_to_a_new_address_is_emailed_once(world: Any) -> None:
    lead = await world.person("lead")
    event = await world.event(invitation("newbie@example.com", lead["id"]))
    await world.redeliver(event)
    [message] = world.emails()
    assert message["To"] == "newbie@example.com"
    assert message["Subject"] == "You are invited to join Platform on TaskFlow"
    body = text_of(message)
    assert "https://taskflow.example/invitations/accept?token=tok-123" in body
    assert '{"token": "tok-123"}' in body and "No TaskFlow account yet?" in body
    assert 'href="https://taskflow.example/invitations/accept?token=tok-123"' in html_of(message)
    assert await world.feed(lead) == []


async def test_invitation_to_an_account_holder_also_lands_in_the_feed(world: Any) -> None:
    lead = await world.person("lead")
    dev = await world.person("dev")
    await world.event(invitation("DEV@example.com", lead["id"]))
    [item] = await world.feed(dev)
    assert item["kind"] == "invitation" and item["link"].endswith("token=tok-123")
    assert len(world.emails()) == 1


async def test_an_unverified_account_with_the_invited_address_gets_no_feed_row(
    world: Any,
) -> None:
    """Finding 5: whoever signs up with an invited address must not see its invitations."""
    lead = await world.person("lead")
    squatter = await world.person("victim", verified=False)
    await world.event(invitation("victim@example.com", lead["id"]))
    assert await world.feed(squatter) == []
    assert [m["To"] for m in world.emails()] == ["victim@example.com"]


async def test_same_event_twice_gives_one_notification_and_one_email(world: Any) -> None:
    team_id = uuid.uuid4()
    lead = await world.person("lead", team_id=team_id)
    dev = await world.person("dev", team_id=team_id)
    assigned = work.TaskAssigned(
        task_id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        team_id=team_id,
        title="Ship",
        due_at=None,
        assignee_id=dev["id"],
        assigned_by=lead["id"],
    )
    event = await world.event(assigned)
    await world.redeliver(event)
    await world.redeliver(event)
    assert len(await world.feed(dev)) == 1
    [message] = world.emails()
    assert message["To"] == "dev@example.com" and message["Subject"] == 'You were assigned "Ship"'
    assert "Lead assigned you the task" in text_of(message)


async def test_one_cause_delivered_twice_writes_one_row_and_one_email(world: Any) -> None:
    """Without the inbox's help (a reminder scan that comes round again, say)."""
    dev = await world.person("dev")
    outgoing = service.Outgoing(
        kind=Kind.TASK_DUE,
        cause="reminder:some-task:2026-12-01T09:00",
        title='"Ship" is due soon',
        body="Due Tue 01 Dec 2026, 09:00 UTC",
        link=None,
        user_id=dev["id"],
        email="dev@example.com",
        context={"name": "Dev", "title": "Ship", "due_at": "soon", "link": "", "project": None},
    )
    database = world.app.state.database
    for _ in range(2):
        async with database.session() as session:
            await service.deliver(session, EmailTemplates(), outgoing)
            await session.commit()
    async with database.session() as session:
        [notification] = (await session.execute(select(Notification))).scalars().all()
        [email] = (await session.execute(select(EmailMessage))).scalars().all()
    assert notification.user_id == dev["id"] and email.notification_id == notification.id
    await world.settle()
    [message] = world.emails()
    assert message["To"] == "dev@example.com"


class Recording:
    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        self.sent.append(message)


@pytest.mark.parametrize("returning", [True, False], ids=["update-returning", "update-then-read"])
async def test_a_job_claims_its_email_once_with_or_without_returning(
    world: Any, returning: bool
) -> None:
    """PostgreSQL and SQLite hand the claimed row back from the UPDATE; MariaDB cannot,
    and the job reads it after: both send once, and a second job sends nothing."""
    outgoing = service.Outgoing(
        kind=Kind.PASSWORD_RESET,
        cause=f"reset-{uuid.uuid4()}",
        title="Password reset requested",
        body="A link was sent.",
        link=None,
        email="ann@example.com",
        context={"name": "Ann", "reset_url": "https://taskflow.example/r", "expires_at": ""},
    )
    await world.app.state.email_dispatcher.stop()  # the jobs below are the only ones
    app_database = world.app.state.database
    async with app_database.session() as session:
        await service.deliver(session, EmailTemplates(), outgoing)
        await session.commit()
        email_id = (await session.execute(select(col(EmailMessage.id)))).scalar_one()
    database = Database(app_database.url)
    database.engine.sync_engine.dialect.update_returning = returning
    backend = Recording()
    try:
        settings = world.app.state.settings
        first = await send_logged_email(email_id, settings, backend=backend, database=database)
        again = await send_logged_email(email_id, settings, backend=backend, database=database)
    finally:
        await database.dispose()
    assert (first, again) == ("sent", "skipped")
    [message] = backend.sent
    assert message["To"] == "ann@example.com"
    async with app_database.session() as session:
        row = await session.get(EmailMessage, email_id)
    assert row is not None and row.status == "sent" and row.attempts == 1


async def test_self_assignment_and_preferences(world: Any) -> None:
    team_id = uuid.uuid4()
    dev = await world.person("dev", team_id=team_id)
    lead = await world.person("lead", team_id=team_id)
    base = {"project_id": uuid.uuid4(), "team_id": team_id, "title": "Mine", "due_at": None}
    await world.event(
        work.TaskAssigned(
            task_id=uuid.uuid4(), assignee_id=dev["id"], assigned_by=dev["id"], **base
        )
    )
    assert await world.feed(dev) == [] and world.emails() == []
    prefs = {
        "email_on_assignment": False,
        "email_on_comment": True,
        "email_reminders": True,
        "reminder_lead_hours": 6,
    }
    put = await world.client.put(
        "/api/v1/notifications/preferences", json=prefs, headers=dev["headers"]
    )
    assert put.status_code == 200 and put.json() == prefs
    assert (
        await world.client.get("/api/v1/notifications/preferences", headers=dev["headers"])
    ).json() == prefs
    await world.event(
        work.TaskAssigned(
            task_id=uuid.uuid4(), assignee_id=dev["id"], assigned_by=lead["id"], **base
        )
    )
    assert len(await world.feed(dev)) == 1 and world.emails() == []
    for bad in (
        {**prefs, "reminder_lead_hours": 0},
        {**prefs, "extra": 1},
        {"email_reminders": True},
    ):
        response = await world.client.put(
            "/api/v1/notifications/preferences", json=bad, headers=dev["headers"]
        )
        assert response.status_code == 422


async def test_comment_reaches_assignees_and_creator_but_not_its_author(world: Any) -> None:
    team_id = uuid.uuid4()
    creator = await world.person("creator", team_id=team_id)
    assignee = await world.person("assignee", team_id=team_id)
    author = await world.person("author", team_id=team_id)
    bystander = await world.person("bystander", team_id=team_id)
    task_id, project_id = uuid.uuid4(), uuid.uuid4()
    await world.event(
        work.TaskCreated(
            task_id=task_id,
            project_id=project_id,
            team_id=team_id,
            title="Fix it",
            status="todo",
            priority="high",
            due_at=None,
            assignee_ids=[],
            created_by=creator["id"],
        )
    )
    for who in (assignee, author):
        await world.event(
            work.TaskAssigned(
                task_id=task_id,
                project_id=project_id,
                team_id=team_id,
                title="Fix it",
                due_at=None,
                assignee_id=who["id"],
                assigned_by=creator["id"],
            )
        )
    before = len(world.emails())
    await world.event(
        work.CommentCreated(
            comment_id=uuid.uuid4(),
            task_id=task_id,
            project_id=project_id,
            team_id=team_id,
            author_id=author["id"],
            excerpt="Looks good <b>now</b>",
        )
    )
    comment_mails = world.emails()[before:]
    assert sorted(m["To"] for m in comment_mails) == ["assignee@example.com", "creator@example.com"]
    assert all(m["Subject"] == 'New comment on "Fix it"' for m in comment_mails)
    assert "Looks good &lt;b&gt;now&lt;/b&gt;" in html_of(comment_mails[0])
    assert [n["kind"] for n in await world.feed(author)] == ["task_assigned"]
    assert await world.feed(bystander) == []
    assert "task_commented" in [n["kind"] for n in await world.feed(creator)]
    # The creator wants no comment emails from now on: the feed row still comes.
    quiet = {
        "email_on_assignment": True,
        "email_on_comment": False,
        "email_reminders": True,
        "reminder_lead_hours": 24,
    }
    put = await world.client.put(
        "/api/v1/notifications/preferences", json=quiet, headers=creator["headers"]
    )
    assert put.status_code == 200
    before = len(world.emails())
    await world.event(
        work.CommentCreated(
            comment_id=uuid.uuid4(),
            task_id=task_id,
            project_id=project_id,
            team_id=team_id,
            author_id=author["id"],
            excerpt="One more thing",
        )
    )
    assert [m["To"] for m in world.emails()[before:]] == ["assignee@example.com"]
    commented = [n for n in await world.feed(creator) if n["kind"] == "task_commented"]
    assert len(commented) == 2


async def test_password_reset_is_emailed(world: Any) -> None:
    user = await world.person("ann")
    await world.event(
        auth.PasswordResetRequested(
            user_id=user["id"],
            email="ann@example.com",
            reset_url="https://taskflow.example/reset-password?token=r1",
            expires_at=datetime(2026, 12, 1, tzinfo=UTC),
        )
    )
    [message] = world.emails()
    assert message["Subject"] == "Reset your TaskFlow password"
    assert "https://taskflow.example/reset-password?token=r1" in text_of(message)


async def test_feed_order_unread_filter_pages_and_marking(world: Any) -> None:
    team_id = uuid.uuid4()
    lead = await world.person("lead", team_id=team_id)
    dev = await world.person("dev", team_id=team_id)
    for n in range(5):
        await world.event(
            work.TaskAssigned(
                task_id=uuid.uuid4(),
                project_id=uuid.uuid4(),
                team_id=team_id,
                title=f"T{n}",
                due_at=None,
                assignee_id=dev["id"],
                assigned_by=lead["id"],
            )
        )
    items = await world.feed(dev)
    assert [i["title"] for i in items] == [f'You were assigned "T{n}"' for n in (4, 3, 2, 1, 0)]
    page = (
        await world.client.get("/api/v1/notifications", params={"limit": 2}, headers=dev["headers"])
    ).json()
    rest = (
        await world.client.get(
            "/api/v1/notifications",
            params={"limit": 10, "cursor": page["next_cursor"]},
            headers=dev["headers"],
        )
    ).json()
    assert [i["id"] for i in page["items"] + rest["items"]] == [i["id"] for i in items]
    marked = await world.client.post(
        f"/api/v1/notifications/{items[0]['id']}/read", headers=dev["headers"]
    )
    assert marked.status_code == 200 and marked.json()["read_at"]
    assert len(await world.feed(dev, unread="true")) == 4
    assert len(await world.feed(dev, unread="false")) == 1
    not_mine = await world.client.post(
        f"/api/v1/notifications/{items[1]['id']}/read", headers=lead["headers"]
    )
    assert not_mine.status_code == 404
    all_read = await world.client.post("/api/v1/notifications/read-all", headers=dev["headers"])
    assert all_read.json() == {"marked": 4}
    assert await world.feed(dev, unread="true") == []
    assert (await world.client.get("/api/v1/notifications")).status_code == 401


async def test_removed_member_hears_no_more_comments(world: Any) -> None:
    team_id = uuid.uuid4()
    creator = await world.person("creator", team_id=team_id)
    author = await world.person("author", team_id=team_id)
    task_id, project_id = uuid.uuid4(), uuid.uuid4()
    await world.event(
        work.TaskCreated(
            task_id=task_id,
            project_id=project_id,
            team_id=team_id,
            title="T",
            status="todo",
            priority="low",
            due_at=None,
            assignee_ids=[],
            created_by=creator["id"],
        )
    )
    await world.event(teams.MemberRemoved(team_id=team_id, user_id=creator["id"]))
    await world.event(
        work.CommentCreated(
            comment_id=uuid.uuid4(),
            task_id=task_id,
            project_id=project_id,
            team_id=team_id,
            author_id=author["id"],
            excerpt="hi",
        )
    )
    assert await world.feed(creator) == [] and world.emails() == []


async def test_a_late_join_does_not_bring_a_removed_member_back(world: Any) -> None:
    """Teams numbered the join 2 and the removal 3; the join was held in a retry queue (or
    replayed from the dead-letter queue) and arrives last: the removal stands."""
    team_id = uuid.uuid4()
    creator = await world.person("creator", team_id=team_id)
    author = await world.person("author", team_id=team_id)
    task_id, project_id = uuid.uuid4(), uuid.uuid4()
    await world.event(
        work.TaskCreated(
            task_id=task_id,
            project_id=project_id,
            team_id=team_id,
            title="Secret roadmap",
            status="todo",
            priority="low",
            due_at=None,
            assignee_ids=[],
            created_by=creator["id"],
        )
    )
    role = uuid.uuid4()
    late_join = teams.MemberJoined(
        team_id=team_id,
        user_id=creator["id"],
        role_id=role,
        role_name="Developer",
        permissions=[],
        team_seq=2,
    )
    await world.event(teams.MemberRemoved(team_id=team_id, user_id=creator["id"], team_seq=3))
    await world.event(late_join)
    await world.event(
        work.CommentCreated(
            comment_id=uuid.uuid4(),
            task_id=task_id,
            project_id=project_id,
            team_id=team_id,
            author_id=author["id"],
            excerpt="the plan",
        )
    )
    assert await world.feed(creator) == [] and world.emails() == []
    # A newer join (4) does bring them back.
    await world.event(late_join.model_copy(update={"team_seq": 4}))
    await world.event(
        work.CommentCreated(
            comment_id=uuid.uuid4(),
            task_id=task_id,
            project_id=project_id,
            team_id=team_id,
            author_id=author["id"],
            excerpt="welcome back",
        )
    )
    assert [n["kind"] for n in await world.feed(creator)] == ["task_commented"]


async def test_a_job_lost_after_claiming_is_made_again(world: Any) -> None:
    """The process died between marking an email queued and handing it to Celery."""
    user = await world.person("ann")
    dispatcher = world.app.state.email_dispatcher
    await dispatcher.stop()
    reset = auth.PasswordResetRequested(
        user_id=user["id"],
        email="ann@example.com",
        reset_url="https://taskflow.example/r?token=1",
        expires_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    await world.bus.publish(new_event(reset.event_type, source="/t", data=reset))
    await world.bus.drain()
    async with world.app.state.database.session() as session:
        await session.execute(
            update(EmailMessage).values(status=EmailStatus.QUEUED, queued_at=utcnow())
        )
        await session.commit()
    assert await dispatcher.run_once() == 0  # queued a moment ago: its job may still run
    assert world.emails() == []
    dispatcher.requeue_after = 0
    assert await dispatcher.run_once() == 1
    await world.settle()
    assert len(world.emails()) == 1
    assert await dispatcher.run_once() == 0  # sent: nothing more to do


async def test_email_verification_link_is_emailed(world: Any) -> None:
    user = await world.person("ann")
    await world.event(
        auth.EmailVerificationRequested(
            user_id=user["id"],
            email="ann@example.com",
            verify_url="https://taskflow.example/verify-email?token=v1",
            expires_at=datetime(2026, 12, 1, tzinfo=UTC),
        )
    )
    [message] = world.emails()
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "Verify your email address for TaskFlow"
    body = text_of(message)
    assert "https://taskflow.example/verify-email?token=v1" in body
    assert '{"token": "v1"}' in body and "/api/v1/auth/users/verify_email" in body
    assert 'href="https://taskflow.example/verify-email?token=v1"' in html_of(message)
    [item] = await world.feed(user)
    assert item["kind"] == "email_verification" and item["link"] is None


async def test_email_change_sends_the_link_to_the_new_address_and_warns_the_old(
    world: Any,
) -> None:
    user = await world.person("ann")
    await world.event(
        auth.EmailChangeRequested(
            user_id=user["id"],
            old_email="ann@example.com",
            new_email="nina@elsewhere.example",
            confirm_url="https://taskflow.example/verify-email?token=c1",
            expires_at=datetime(2026, 12, 1, tzinfo=UTC),
        )
    )
    link, notice = sorted(world.emails(), key=lambda m: m["To"] == "ann@example.com")
    assert link["To"] == "nina@elsewhere.example"
    assert link["Subject"] == "Confirm your new email address for TaskFlow"
    assert "https://taskflow.example/verify-email?token=c1" in text_of(link)
    assert notice["To"] == "ann@example.com"
    assert notice["Subject"] == "Someone asked to change your TaskFlow email address"
    warning = text_of(notice)
    assert "n***@elsewhere.example" in warning and "change your password" in warning
    # The token and the full new address never reach the old address or the feed.
    assert "c1" not in warning and "nina@" not in warning and "c1" not in html_of(notice)
    [item] = await world.feed(user)
    assert item["kind"] == "email_change_notice" and "n***@elsewhere.example" in item["body"]
    assert "token" not in str(item)


async def test_an_assignment_arriving_after_the_assignee_s_removal_tells_them_nothing(
    world: Any,
) -> None:
    """Work assigned the task while the person was a member; teams' removal reached notify
    first: no feed row, live event or email naming the team's task goes to them. Someone
    whose join has not reached notify yet is still told (work assigns members only)."""
    team_id = uuid.uuid4()
    lead = await world.person("lead", team_id=team_id)
    gone = await world.person("gone", team_id=team_id)
    newcomer = await world.person("newcomer")  # joined in teams; notify has not heard yet
    task_id, project_id = uuid.uuid4(), uuid.uuid4()
    await world.event(teams.MemberRemoved(team_id=team_id, user_id=gone["id"]))
    for assignee in (gone, newcomer):
        await world.event(
            work.TaskAssigned(
                task_id=task_id,
                project_id=project_id,
                team_id=team_id,
                title="Secret acquisition plan",
                due_at=None,
                assignee_id=assignee["id"],
                assigned_by=lead["id"],
            )
        )
    assert await world.feed(gone) == []
    assert [n["kind"] for n in await world.feed(newcomer)] == ["task_assigned"]
    assert [m["To"] for m in world.emails()] == [newcomer["email"]]

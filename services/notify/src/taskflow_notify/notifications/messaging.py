"""The events that notify someone: invitations, password resets, email verification and
changes, assignments, comments."""

from __future__ import annotations

import uuid
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.events import CloudEvent
from taskflow_contracts import auth, teams, work

from taskflow_notify.config import NotifySettings, get_settings
from taskflow_notify.notifications import service
from taskflow_notify.notifications.models import Kind
from taskflow_notify.replica.models import (
    InvitationReplica,
    MemberReplica,
    ProjectReplica,
    TaskAssigneeReplica,
    TaskReplica,
    UserReplica,
)

_settings: NotifySettings | None = None


def use_settings(settings: NotifySettings) -> None:
    """The app's settings, for handlers (whose signature the chassis fixes) to read."""
    global _settings
    _settings = settings


def settings() -> NotifySettings:
    return _settings or get_settings()


def _when(moment: datetime | None) -> str:
    return moment.strftime("%a %d %b %Y, %H:%M UTC") if moment else ""


def _task_link(task_id: uuid.UUID) -> str:
    return f"{settings().public_url.rstrip('/')}/tasks/{task_id}"


async def on_invitation_sent(session: AsyncSession, event: CloudEvent) -> None:
    """Created or resent: the invited address gets the link; an account holder whose address
    is verified also a feed row (an address merely typed in at sign-up proves nothing)."""
    data = teams.InvitationCreated.model_validate(event.data)
    invitee = (
        await session.execute(
            select(UserReplica).where(
                UserReplica.email == data.email.lower(),  # type: ignore[arg-type]
                UserReplica.email_verified.is_(True),  # type: ignore[attr-defined]
            )
        )
    ).scalar_one_or_none()
    inviter = await service.person(session, data.invited_by)
    token = _token_of(data.accept_url)
    await service.deliver(
        session,
        service.Outgoing(
            kind=Kind.INVITATION,
            cause=event.id,
            title=f"You are invited to join {data.team_name}",
            body=f"{service.display(inviter)} invited you to {data.team_name} as {data.role_name}.",
            link=data.accept_url,
            user_id=invitee.user_id if invitee else None,
            email=data.email,
            context={
                "inviter": service.display(inviter),
                "team_name": data.team_name,
                "role_name": data.role_name,
                "accept_url": data.accept_url,
                "token": token,
                "email": data.email,
                "api_base": settings().public_url.rstrip("/"),
                "expires_at": _when(data.expires_at),
            },
        ),
    )


async def on_invitation_accepted(session: AsyncSession, event: CloudEvent) -> None:
    """The inviter learns, in the feed, that their invitation was taken up."""
    data = teams.InvitationAccepted.model_validate(event.data)
    invitation = await session.get(InvitationReplica, data.invitation_id)
    if invitation is None:
        return
    joiner = service.display(await service.person(session, data.user_id), invitation.email)
    await service.deliver(
        session,
        service.Outgoing(
            kind=Kind.INVITATION_ACCEPTED,
            cause=event.id,
            title=f"{joiner} joined {invitation.team_name}",
            body=f"{joiner} accepted your invitation to {invitation.team_name}.",
            link=None,
            user_id=invitation.invited_by,
        ),
    )


async def on_password_reset(session: AsyncSession, event: CloudEvent) -> None:
    data = auth.PasswordResetRequested.model_validate(event.data)
    user = await service.person(session, data.user_id)
    await service.deliver(
        session,
        service.Outgoing(
            kind=Kind.PASSWORD_RESET,
            cause=event.id,
            title="Password reset requested",
            body="A password reset link was sent to your email address.",
            link=None,
            user_id=data.user_id,
            email=data.email,
            context={
                "name": service.display(user, "there"),
                "reset_url": data.reset_url,
                "expires_at": _when(data.expires_at),
            },
        ),
    )


def _token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query).get("token", [""])[0]


def mask_email(address: str) -> str:
    """``n***@example.com``: enough for the owner to recognise, little for anyone else."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


async def _email_link(
    session: AsyncSession,
    event: CloudEvent,
    kind: Kind,
    title: str,
    *,
    user_id: uuid.UUID,
    to: str,
    link_url: str,
    expires_at: datetime,
    in_feed: bool,
) -> None:
    """A link proving ``to`` receives mail; the feed row, if any, never holds the link."""
    user = await service.person(session, user_id)
    await service.deliver(
        session,
        service.Outgoing(
            kind=kind,
            cause=event.id,
            title=title,
            body=f"A link was sent to {to}.",
            link=None,
            user_id=user_id if in_feed else None,
            email=to,
            context={
                "name": service.display(user, "there"),
                "email": to,
                "link_url": link_url,
                "token": _token_of(link_url),
                "api_base": settings().public_url.rstrip("/"),
                "expires_at": _when(expires_at),
            },
        ),
    )


async def on_email_verification_requested(session: AsyncSession, event: CloudEvent) -> None:
    """Sign-up or resend: the link goes to the address it verifies."""
    data = auth.EmailVerificationRequested.model_validate(event.data)
    await _email_link(
        session,
        event,
        Kind.EMAIL_VERIFICATION,
        "Verify your email address",
        user_id=data.user_id,
        to=data.email,
        link_url=data.verify_url,
        expires_at=data.expires_at,
        in_feed=True,
    )


async def on_email_change_requested(session: AsyncSession, event: CloudEvent) -> None:
    """The confirmation link to the new address (email only: the feed is the account's,
    whose holder may not be the address's owner)."""
    data = auth.EmailChangeRequested.model_validate(event.data)
    await _email_link(
        session,
        event,
        Kind.EMAIL_CHANGE,
        "Confirm your new email address",
        user_id=data.user_id,
        to=data.new_email,
        link_url=data.confirm_url,
        expires_at=data.expires_at,
        in_feed=False,
    )


async def on_email_change_notice(session: AsyncSession, event: CloudEvent) -> None:
    """The current address hears of the request, so a thief's attempt does not go unseen."""
    data = auth.EmailChangeRequested.model_validate(event.data)
    user = await service.person(session, data.user_id)
    masked = mask_email(data.new_email)
    await service.deliver(
        session,
        service.Outgoing(
            kind=Kind.EMAIL_CHANGE_NOTICE,
            cause=event.id,
            title="Someone asked to change your email address",
            body=f"A change of your account's email to {masked} was requested. "
            "If this wasn't you, change your password.",
            link=None,
            user_id=data.user_id,
            email=data.old_email,
            context={
                "name": service.display(user, "there"),
                "masked_email": masked,
                "api_base": settings().public_url.rstrip("/"),
                "expires_at": _when(data.expires_at),
            },
        ),
    )


async def on_task_assigned(session: AsyncSession, event: CloudEvent) -> None:
    data = work.TaskAssigned.model_validate(event.data)
    if data.assignee_id == data.assigned_by:
        return  # nobody needs telling what they just did themselves
    found = await service.people(
        session,
        data.assignee_id,
        data.assigned_by,
        default_lead_hours=settings().default_reminder_lead_hours,
    )
    assignee, prefs = found.get(data.assignee_id, (None, None))
    assigner, _ = found.get(data.assigned_by, (None, None))
    project = await session.get(ProjectReplica, data.project_id)
    link = _task_link(data.task_id)
    await service.deliver(
        session,
        service.Outgoing(
            kind=Kind.TASK_ASSIGNED,
            cause=event.id,
            title=f'You were assigned "{data.title}"',
            body=f'{service.display(assigner)} assigned you "{data.title}".',
            link=link,
            user_id=data.assignee_id,
            email=assignee.email if assignee and prefs and prefs.email_on_assignment else None,
            context={
                "name": service.display(assignee, "there"),
                "assigner": service.display(assigner),
                "title": data.title,
                "project": project.name if project else None,
                "due_at": _when(data.due_at),
                "link": link,
            },
        ),
    )


async def on_comment_created(session: AsyncSession, event: CloudEvent) -> None:
    """The task's assignees and creator hear of it, never the comment's own author."""
    data = work.CommentCreated.model_validate(event.data)
    task = await session.get(TaskReplica, data.task_id)
    recipients: set[uuid.UUID] = set(
        (
            await session.execute(
                select(TaskAssigneeReplica.user_id).where(
                    TaskAssigneeReplica.task_id == data.task_id
                )
            )
        ).scalars()  # type: ignore[arg-type]
    )
    if task is not None:
        recipients.add(task.created_by)
    recipients.discard(data.author_id)
    found = await service.people(
        session,
        data.author_id,
        *recipients,
        default_lead_hours=settings().default_reminder_lead_hours,
    )
    author, _ = found.get(data.author_id, (None, None))
    title = task.title if task else "a task"
    link = _task_link(data.task_id)
    for user_id in sorted(recipients):
        # Only people still in the team hear about its tasks.
        member = await session.get(MemberReplica, (data.team_id, user_id))
        if member is None or not member.active:
            continue
        user, prefs = found.get(user_id, (None, None))
        await service.deliver(
            session,
            service.Outgoing(
                kind=Kind.TASK_COMMENTED,
                cause=event.id,
                title=f'{service.display(author)} commented on "{title}"',
                body=data.excerpt,
                link=link,
                user_id=user_id,
                email=user.email if user and prefs and prefs.email_on_comment else None,
                context={
                    "name": service.display(user, "there"),
                    "author": service.display(author),
                    "title": title,
                    "excerpt": data.excerpt,
                    "link": link,
                },
            ),
        )

"""The events that notify someone: invitations, password resets, email verification and
changes, assignments, comments (none about a task of a deleted team or project); and a
deleted account, whose feed goes."""

from __future__ import annotations

import uuid
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select
from sqlmodel import col
from taskflow_contracts import auth, teams, work

from taskflow_notify.deps import Context
from taskflow_notify.notifications import service
from taskflow_notify.notifications.models import Kind
from taskflow_notify.replica.models import (
    InvitationReplica,
    TaskAssigneeReplica,
    TaskReplica,
    UserReplica,
)
from taskflow_notify.replica.service import kept_reads, task_audience


def _when(moment: datetime | None) -> str:
    return moment.strftime("%a %d %b %Y, %H:%M UTC") if moment else ""


def _api_base(context: Context) -> str:
    return context.deps.settings.public_url.rstrip("/")


def _task_link(context: Context, task_id: uuid.UUID) -> str:
    return f"{_api_base(context)}/tasks/{task_id}"


def _about(payload: work.TaskAssigned | work.CommentCreated) -> dict[str, uuid.UUID]:
    """The ids a notification about a task carries as fields."""
    return {
        "team_id": payload.team_id,
        "project_id": payload.project_id,
        "task_id": payload.task_id,
    }


async def _deliver(context: Context, outgoing: service.Outgoing) -> None:
    """Gathered: written with the batch's others when its unit of work commits."""
    service.deliveries(context.uow).add(context.deps.templates, outgoing)


async def on_invitation_sent(
    payload: teams.InvitationCreated | teams.InvitationResent, context: Context
) -> None:
    """Created or resent: the invited address gets the link; an account holder whose address
    is verified also a feed row (an address merely typed in at sign-up proves nothing)."""
    invitee = (
        await context.session.execute(
            select(UserReplica).where(
                col(UserReplica.email) == payload.email.lower(),
                col(UserReplica.email_verified).is_(True),
            )
        )
    ).scalar_one_or_none()
    inviter = service.display(await service.person(context.session, payload.invited_by))
    token = _token_of(payload.accept_url)
    await _deliver(
        context,
        service.Outgoing(
            kind=Kind.INVITATION,
            cause=context.event.id,
            title=f"You are invited to join {payload.team_name}",
            body=f"{inviter} invited you to {payload.team_name} as {payload.role_name}.",
            link=payload.accept_url,
            team_id=payload.team_id,
            actor_id=payload.invited_by,
            user_id=invitee.user_id if invitee else None,
            email=payload.email,
            context={
                "inviter": inviter,
                "team_name": payload.team_name,
                "role_name": payload.role_name,
                "accept_url": payload.accept_url,
                "token": token,
                "email": payload.email,
                "api_base": _api_base(context),
                "expires_at": _when(payload.expires_at),
            },
        ),
    )


async def on_invitation_accepted(payload: teams.InvitationAccepted, context: Context) -> None:
    """The inviter learns, in the feed, that their invitation was taken up."""
    invitation = await context.session.get(InvitationReplica, payload.invitation_id)
    if invitation is None:
        return
    joiner = service.display(
        await service.person(context.session, payload.user_id), invitation.email
    )
    await _deliver(
        context,
        service.Outgoing(
            kind=Kind.INVITATION_ACCEPTED,
            cause=context.event.id,
            title=f"{joiner} joined {invitation.team_name}",
            body=f"{joiner} accepted your invitation to {invitation.team_name}.",
            link=None,
            team_id=payload.team_id,
            actor_id=payload.user_id,
            user_id=invitation.invited_by,
        ),
    )


async def on_password_reset(payload: auth.PasswordResetRequested, context: Context) -> None:
    user = await service.person(context.session, payload.user_id)
    await _deliver(
        context,
        service.Outgoing(
            kind=Kind.PASSWORD_RESET,
            cause=context.event.id,
            title="Password reset requested",
            body="A password reset link was sent to your email address.",
            link=None,
            user_id=payload.user_id,
            email=payload.email,
            context={
                "name": service.display(user, "there"),
                "reset_url": payload.reset_url,
                "expires_at": _when(payload.expires_at),
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
    context: Context,
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
    user = await service.person(context.session, user_id)
    await _deliver(
        context,
        service.Outgoing(
            kind=kind,
            cause=context.event.id,
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
                "api_base": _api_base(context),
                "expires_at": _when(expires_at),
            },
        ),
    )


async def on_email_verification_requested(
    payload: auth.EmailVerificationRequested, context: Context
) -> None:
    """Sign-up or resend: the link goes to the address it verifies."""
    await _email_link(
        context,
        Kind.EMAIL_VERIFICATION,
        "Verify your email address",
        user_id=payload.user_id,
        to=payload.email,
        link_url=payload.verify_url,
        expires_at=payload.expires_at,
        in_feed=True,
    )


async def on_email_change_requested(payload: auth.EmailChangeRequested, context: Context) -> None:
    """The confirmation link to the new address (email only: the feed is the account's,
    whose holder may not be the address's owner)."""
    await _email_link(
        context,
        Kind.EMAIL_CHANGE,
        "Confirm your new email address",
        user_id=payload.user_id,
        to=payload.new_email,
        link_url=payload.confirm_url,
        expires_at=payload.expires_at,
        in_feed=False,
    )


async def on_email_change_notice(payload: auth.EmailChangeRequested, context: Context) -> None:
    """The current address hears of the request, so a thief's attempt does not go unseen."""
    user = await service.person(context.session, payload.user_id)
    masked = mask_email(payload.new_email)
    await _deliver(
        context,
        service.Outgoing(
            kind=Kind.EMAIL_CHANGE_NOTICE,
            cause=context.event.id,
            title="Someone asked to change your email address",
            body=f"A change of your account's email to {masked} was requested. "
            "If this wasn't you, change your password.",
            link=None,
            user_id=payload.user_id,
            email=payload.old_email,
            context={
                "name": service.display(user, "there"),
                "masked_email": masked,
                "api_base": _api_base(context),
                "expires_at": _when(payload.expires_at),
            },
        ),
    )


async def on_task_assigned(payload: work.TaskAssigned, context: Context) -> None:
    if payload.assignee_id == payload.assigned_by:
        return  # nobody needs telling what they just did themselves
    session, kept = context.session, kept_reads(context.uow)
    audience = await task_audience(kept, session, payload.team_id, payload.project_id)
    if not audience.shown:
        return  # its team or project was deleted meanwhile
    if payload.assignee_id in audience.former:
        # Assigned while a member, removed since: the removal came first here. One whose
        # join has not come yet is told (work assigns members only).
        return
    lead_hours = context.deps.settings.default_reminder_lead_hours
    found = await kept.kept(
        ("people", payload.assignee_id, payload.assigned_by),
        lambda: service.people(
            session, payload.assignee_id, payload.assigned_by, default_lead_hours=lead_hours
        ),
    )
    # The assigner is the live event's actor: its writer need not read them again.
    kept.remember_people(
        (payload.assignee_id, payload.assigned_by), (user for user, _prefs in found.values())
    )
    assignee, prefs = found.get(payload.assignee_id, (None, None))
    assigner, _ = found.get(payload.assigned_by, (None, None))
    link = _task_link(context, payload.task_id)
    await _deliver(
        context,
        service.Outgoing(
            kind=Kind.TASK_ASSIGNED,
            cause=context.event.id,
            title=f'You were assigned "{payload.title}"',
            body=f'{service.display(assigner)} assigned you "{payload.title}".',
            link=link,
            **_about(payload),
            actor_id=payload.assigned_by,
            user_id=payload.assignee_id,
            email=assignee.email if assignee and prefs and prefs.email_on_assignment else None,
            context={
                "name": service.display(assignee, "there"),
                "assigner": service.display(assigner),
                "title": payload.title,
                "project": audience.project_name,
                "due_at": _when(payload.due_at),
                "link": link,
            },
        ),
    )


async def on_comment_created(payload: work.CommentCreated, context: Context) -> None:
    """The task's assignees and creator hear of it, never the comment's own author."""
    audience = await task_audience(
        kept_reads(context.uow), context.session, payload.team_id, payload.project_id
    )
    if not audience.shown:
        return  # its team or project was deleted meanwhile
    task = await context.session.get(TaskReplica, payload.task_id)
    assignees = select(col(TaskAssigneeReplica.user_id)).where(
        col(TaskAssigneeReplica.task_id) == payload.task_id
    )
    recipients: set[uuid.UUID] = set((await context.session.execute(assignees)).scalars())
    if task is not None:
        recipients.add(task.created_by)
    recipients.discard(payload.author_id)
    found = await service.people(
        context.session,
        payload.author_id,
        *recipients,
        default_lead_hours=context.deps.settings.default_reminder_lead_hours,
    )
    author, _ = found.get(payload.author_id, (None, None))
    title = task.title if task else "a task"
    link = _task_link(context, payload.task_id)
    for user_id in sorted(recipients):
        if user_id not in audience.members:
            continue  # only people still in the team hear about its tasks
        user, prefs = found.get(user_id, (None, None))
        await _deliver(
            context,
            service.Outgoing(
                kind=Kind.TASK_COMMENTED,
                cause=context.event.id,
                title=f'{service.display(author)} commented on "{title}"',
                body=payload.excerpt,
                link=link,
                **_about(payload),
                actor_id=payload.author_id,
                user_id=user_id,
                email=user.email if user and prefs and prefs.email_on_comment else None,
                context={
                    "name": service.display(user, "there"),
                    "author": service.display(author),
                    "title": title,
                    "excerpt": payload.excerpt,
                    "link": link,
                },
            ),
        )


async def on_user_deleted(payload: auth.UserDeleted, context: Context) -> None:
    await service.forget_user(context.uow, payload.user_id)

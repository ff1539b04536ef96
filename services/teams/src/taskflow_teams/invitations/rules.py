"""When an invitation may still be answered, and by whom (no database; unit-tested alone)."""

from __future__ import annotations

from datetime import datetime

from taskflow_chassis.problems import ProblemError, conflict

from taskflow_teams.replica.models import Person
from taskflow_teams.teams.models import Invitation, InvitationStatus


def not_open(status: InvitationStatus, loc: list[str | int]) -> ProblemError:
    """409 for an invitation no longer pending, named at ``loc`` (its id in the path, or the
    token in the body)."""
    return conflict(
        f"Invitation {status.value}",
        f"This invitation was already {status.value}.",
        type=f"invitation-{status.value}",
        field=str(loc[-1]),
        loc=loc,
    )


def ensure_pending(invitation: Invitation) -> None:
    """Revoking or resending needs a pending invitation (resending revives an expired one)."""
    if invitation.status != InvitationStatus.PENDING:
        raise not_open(InvitationStatus(invitation.status), ["path", "invitation_id"])


def ensure_open(invitation: Invitation, now: datetime) -> None:
    """Answering needs a pending invitation that has not expired."""
    status = invitation.status_at(now)
    if status == InvitationStatus.EXPIRED:
        raise ProblemError(
            410,
            "Invitation expired",
            "Ask the team to resend the invitation.",
            type="invitation-expired",
        )
    if status != InvitationStatus.PENDING:
        raise not_open(status, ["body", "token"])


def ensure_addressed_to(invitation: Invitation, person: Person) -> None:
    """Only the owner of the invited address answers (``person``'s email is verified)."""
    if person.email != invitation.email:
        raise ProblemError(
            403,
            "Invitation for another email",
            "This invitation was sent to a different email address than your account's.",
            type="invitation-wrong-recipient",
        )

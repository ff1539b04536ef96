"""The rules that need no database: who may grant, remove, step down, edit, delete, answer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from taskflow_chassis.problems import ProblemError
from taskflow_contracts import permissions as P
from taskflow_teams.invitations import rules as invitation_rules
from taskflow_teams.replica.models import Person
from taskflow_teams.teams import rules
from taskflow_teams.teams.models import Invitation, InvitationStatus, Role

NOW = datetime(2030, 1, 1, tzinfo=UTC)
TEAM = uuid.uuid4()


def role(*, leader: bool = False, builtin: bool = False) -> Role:
    return Role(team_id=TEAM, name="r", is_leader=leader, is_builtin=builtin)


def invitation(status: InvitationStatus = InvitationStatus.PENDING, *, days: int = 1) -> Invitation:
    return Invitation(
        team_id=TEAM,
        email="ann@example.com",
        role_id=uuid.uuid4(),
        invited_by=uuid.uuid4(),
        token_hash="0" * 64,
        status=status,
        expires_at=NOW + timedelta(days=days),
    )


def refusal(rule: Callable[..., None], *args: object) -> ProblemError:
    with pytest.raises(ProblemError) as raised:
        rule(*args)
    return raised.value


def test_nobody_grants_permissions_they_lack() -> None:
    held = frozenset({P.TEAM_UPDATE, P.MEMBERS_INVITE})
    rules.ensure_within(held, [P.TEAM_UPDATE])
    rules.ensure_within(held, [])
    problem = refusal(rules.ensure_within, held, [P.TEAM_DELETE, P.TEAM_UPDATE])
    assert (problem.status, problem.type) == (
        403,
        "/problems/permission-escalation",
    )
    assert problem.title == "Cannot grant permissions you lack"
    assert problem.extensions == {"permissions": [P.TEAM_DELETE]}


def test_leaving_needs_no_permission_removing_another_needs_members_manage() -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    assert rules.permission_to_remove(me, me) is None
    assert rules.permission_to_remove(me, other) == P.MEMBERS_MANAGE


def test_only_a_leader_given_a_role_that_does_not_lead_steps_down() -> None:
    leader, member = role(leader=True), role()
    assert rules.steps_down(leader, member)
    assert not rules.steps_down(leader, role(leader=True))
    assert not rules.steps_down(member, leader)
    assert not rules.steps_down(member, role())


def test_the_last_leader_cannot_go() -> None:
    rules.ensure_another_leader(2)
    for leaders in (1, 0):
        problem = refusal(rules.ensure_another_leader, leaders)
        assert (problem.status, problem.type) == (
            409,
            "/problems/last-team-leader",
        )
        assert problem.title == "A team keeps at least one Team Leader"


def test_the_leader_role_is_never_edited_and_built_in_roles_never_deleted() -> None:
    rules.ensure_editable(role(builtin=True))
    rules.ensure_deletable(role())
    edited = refusal(rules.ensure_editable, role(leader=True, builtin=True))
    assert (edited.status, edited.type) == (409, "/problems/leader-role-fixed")
    deleted = refusal(rules.ensure_deletable, role(builtin=True))
    assert (deleted.status, deleted.type) == (409, "/problems/builtin-role")


def test_an_invitation_is_answered_while_pending_and_unexpired() -> None:
    invitation_rules.ensure_open(invitation(), NOW)
    expired = refusal(invitation_rules.ensure_open, invitation(days=-1), NOW)
    assert (expired.status, expired.type) == (
        410,
        "/problems/invitation-expired",
    )
    for status in (InvitationStatus.ACCEPTED, InvitationStatus.DECLINED, InvitationStatus.REVOKED):
        used = refusal(invitation_rules.ensure_open, invitation(status), NOW)
        assert (used.status, used.title) == (409, f"Invitation {status.value}")
        assert used.type == f"/problems/invitation-{status.value}"


def test_an_expired_invitation_may_still_be_revoked_or_resent() -> None:
    invitation_rules.ensure_pending(invitation(days=-1))
    revoked = refusal(invitation_rules.ensure_pending, invitation(InvitationStatus.REVOKED))
    assert (revoked.status, revoked.type) == (
        409,
        "/problems/invitation-revoked",
    )


def test_only_the_invited_address_answers() -> None:
    def person(email: str) -> Person:
        return Person(user_id=uuid.uuid4(), username="ann", email=email, email_verified=True)

    invitation_rules.ensure_addressed_to(invitation(), person("ann@example.com"))
    problem = refusal(invitation_rules.ensure_addressed_to, invitation(), person("bo@example.com"))
    assert (problem.status, problem.type) == (
        403,
        "/problems/invitation-wrong-recipient",
    )

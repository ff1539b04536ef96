"""The teams and invitation pages' pure rules: the API's problems in words a person acts
on, the roles a caller may hand out, a member's name."""

from __future__ import annotations

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.invitations import rules as invitation_rules
from taskflow_web.teams import rules


def problem(status: int, kind: str = "about:blank", detail: str = "The API's words.") -> ApiProblem:
    return ApiProblem(status=status, title="t", detail=detail, type=kind)


def test_problem_detail_says_what_to_do() -> None:
    assert rules.problem_detail(problem(412)) == rules.CHANGED_MEANWHILE
    assert (
        rules.problem_detail(problem(403, "/problems/participant-required")) == rules.PROFILE_FIRST
    )
    assert rules.problem_detail(problem(409, "last-team-leader")) == "The API's words."


def test_answer_problem_of_an_emailed_link() -> None:
    answer = invitation_rules.answer_problem
    assert answer(problem(404)) == invitation_rules.UNKNOWN_LINK
    assert answer(problem(403, "/problems/invitation-wrong-recipient")) == (
        invitation_rules.WRONG_ACCOUNT
    )
    assert answer(problem(403, "email-not-verified")) == invitation_rules.VERIFY_FIRST
    assert answer(problem(410, "invitation-expired")) == invitation_rules.EXPIRED
    assert answer(problem(403, "participant-required")) == rules.PROFILE_FIRST
    assert answer(problem(409, "invitation-revoked", "Already revoked.")) == "Already revoked."


def test_a_final_answer_leaves_nothing_to_press() -> None:
    assert invitation_rules.is_final(problem(404))
    assert invitation_rules.is_final(problem(409, "invitation-accepted"))
    assert invitation_rules.is_final(problem(410, "invitation-expired"))
    assert not invitation_rules.is_final(problem(403, "invitation-wrong-recipient"))


def test_grantable_roles_are_within_the_callers_permissions() -> None:
    roles = [
        {"name": "Viewer", "permissions": []},
        {"name": "Reviewer", "permissions": ["tasks.review", "comments.create"]},
        {"name": "Team Leader", "permissions": ["team.delete", "tasks.review"]},
    ]
    held = {"tasks.review", "comments.create", "members.invite"}
    assert [r["name"] for r in rules.grantable_roles(roles, held)] == ["Viewer", "Reviewer"]
    assert [r["name"] for r in rules.grantable_roles(roles, set())] == ["Viewer"]


def test_person_name() -> None:
    assert rules.person_name({"display_name": "Ada L.", "username": "ada"}) == "Ada L."
    assert rules.person_name({"display_name": None, "username": "ada"}) == "ada"
    assert rules.person_name({"user_id": "0123456789abcdef"}) == "01234567"

"""Pure rules of the invitation pages: the API's answers to an emailed link in words a
person acts on (no API, no request; unit-tested alone)."""

from __future__ import annotations

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.teams import rules as team_rules

UNKNOWN_LINK = (
    "This invitation link is not valid: it was mistyped, or a newer invitation replaced it. "
    "Ask the team to send the invitation again."
)
WRONG_ACCOUNT = (
    "This invitation was sent to another email address than the one of the account you are "
    "signed in with. Sign out and sign in (or sign up) with the invited address."
)
VERIFY_FIRST = (
    "Confirm your email address first: follow the link we emailed when you signed up, or "
    "ask for a new one on your profile page. Then come back to this link."
)
EXPIRED = "This invitation has expired. Ask the team to send it again."


def is_final(problem: ApiProblem) -> bool:
    """Whether no answer can work any more (an unknown link, an invitation used, revoked or
    expired), unlike one the person can fix (another account, a profile, a verification)."""
    return problem.status in {404, 409, 410}


def answer_problem(problem: ApiProblem) -> str:
    """What went wrong with accepting or declining, and what to do about it."""
    kind = problem.type.rsplit("/", 1)[-1]
    if problem.status == 404:
        return UNKNOWN_LINK
    if kind == "invitation-wrong-recipient":
        return WRONG_ACCOUNT
    if kind == "email-not-verified":
        return VERIFY_FIRST
    if problem.status == 410:
        return EXPIRED
    return team_rules.problem_detail(problem)

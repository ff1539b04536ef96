"""The pure rules: password strength, phone numbers, email addresses."""

from __future__ import annotations

import pytest
from taskflow_auth.credentials.rules import check_password_strength
from taskflow_auth.participants.rules import parse_phone_number
from taskflow_auth.users.rules import normalize_email
from taskflow_chassis.problems import ProblemError


@pytest.mark.parametrize(
    ("password", "detail"),
    [
        ("short1", "Use at least 8 characters."),
        ("password123", "This password is too common or too simple."),
        ("abababababab", "This password is too common or too simple."),
        ("my-Asmith-secret", "The password must not contain the username or email."),
        ("Alice.Smith", "The password must not contain the username or email."),
    ],
)
def test_a_weak_password_is_a_422_naming_its_field(password: str, detail: str) -> None:
    with pytest.raises(ProblemError) as refused:
        check_password_strength(
            password, username="asmith", email="alice.smith@example.com", field="password"
        )
    problem = refused.value
    assert (problem.status, problem.title, problem.detail) == (422, "Weak password", detail)
    assert problem.type.endswith("/weak-password")
    assert problem.extensions["errors"][0]["field"] == "password"


def test_a_strong_password_passes() -> None:
    check_password_strength("correct-horse-battery", username="alice", email="a@example.com")


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [("+44 20 7946 0958", None, "+442079460958"), ("020 7946 0958", "GB", "+442079460958")],
)
def test_a_phone_number_is_kept_in_e164(raw: str, region: str | None, e164: str) -> None:
    assert parse_phone_number(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "region", "hint"),
    [
        ("020 7946 0958", None, "international form"),
        ("not a number", "GB", "Not a phone number"),
        ("+44 20 7946", None, "not valid"),
    ],
)
def test_a_bad_phone_number_is_a_422_naming_phone_number(
    raw: str, region: str | None, hint: str
) -> None:
    with pytest.raises(ProblemError) as refused:
        parse_phone_number(raw, region)
    problem = refused.value
    assert problem.status == 422 and problem.type.endswith("/invalid-phone-number")
    assert hint in (problem.detail or "")
    assert problem.extensions["errors"][0]["field"] == "phone_number"


def test_an_email_is_compared_trimmed_and_lower_case() -> None:
    assert normalize_email("  Alice@Example.COM ") == "alice@example.com"

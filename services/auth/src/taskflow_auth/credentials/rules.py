"""What a new password must be: long enough, not common, not the account's own name."""

from __future__ import annotations

from taskflow_chassis.problems import ProblemError, invalid_field

COMMON_PASSWORDS = frozenset(
    {
        "password", "password1", "password123", "12345678", "123456789", "1234567890",
        "qwertyui", "qwerty123", "iloveyou", "11111111", "00000000", "abcdefgh",
        "abc12345", "letmein1", "welcome1", "admin123", "passw0rd", "sunshine",
        "football", "baseball", "trustno1", "superman", "princess", "starwars",
    }
)  # fmt: skip


def weak_password(detail: str, field: str) -> ProblemError:
    return invalid_field(field, "Weak password", detail, type="weak-password")


def check_password_strength(
    password: str, *, username: str, email: str, field: str = "new_password"
) -> None:
    """A 422 naming ``field`` when the password is too weak."""
    lowered = password.lower()
    if len(password) < 8:
        raise weak_password("Use at least 8 characters.", field)
    if lowered in COMMON_PASSWORDS or len(set(password)) < 4:
        raise weak_password("This password is too common or too simple.", field)
    if username.lower() in lowered or email.split("@")[0].lower() == lowered:
        raise weak_password("The password must not contain the username or email.", field)

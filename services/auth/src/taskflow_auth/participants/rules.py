"""Phone numbers: parsed with a region hint and kept in E.164."""

from __future__ import annotations

import phonenumbers
from taskflow_chassis.problems import ProblemError, invalid_field


def phone_problem(detail: str) -> ProblemError:
    return invalid_field(
        "phone_number", "Invalid phone number", detail, type="invalid-phone-number"
    )


def parse_phone_number(raw: str, region: str | None) -> str:
    """The number in E.164, or a 422 naming ``phone_number``."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        hint = (
            ""
            if region or raw.startswith("+")
            else " Give it in international form (+...) or pass region."
        )
        raise phone_problem(f"Not a phone number: {exc._msg}.{hint}") from exc
    if not phonenumbers.is_valid_number(number):
        raise phone_problem("This phone number is not valid.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

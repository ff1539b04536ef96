"""Pure rules of the profile page: what it says when another tab saved the profile first."""

from __future__ import annotations

from collections.abc import Mapping

FIELD_NAMES = {"display_name": "display name", "phone_number": "phone number", "region": "region"}


def changed_elsewhere(current: Mapping[str, str]) -> str:
    """The message of a save refused with 412: the profile's values now (another tab's or
    device's save), and what saving again does."""
    now = "; ".join(
        f"{label} “{current.get(name) or ''}”" if current.get(name) else f"{label} empty"
        for name, label in FIELD_NAMES.items()
    )
    return (
        f"Your profile was changed elsewhere since this page was shown. It now reads: {now}. "
        "Save again to replace it with what is below, or reload to keep it."
    )

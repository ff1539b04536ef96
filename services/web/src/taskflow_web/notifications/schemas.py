"""The forms of the notification pages (each posts its CSRF token, see pages.schemas)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from taskflow_web.pages.schemas import WebForm

# Where a mark-read form sends the person back to: the feed as they were reading it.
Back = Annotated[str, Field(default="", max_length=2048)]


class MarkReadForm(WebForm):
    back: Back


class PreferencesForm(WebForm):
    """A checkbox left unticked is not sent at all: off."""

    email_on_assignment: bool = False
    email_on_comment: bool = False
    email_reminders: bool = False
    # Judged by the API (1 to 672 hours): what was typed comes back with its message.
    reminder_lead_hours: Annotated[str, Field(default="", max_length=16)]
    # The version (ETag) the page was shown with: saved only if still current.
    version: Annotated[str, Field(default="", max_length=128)]

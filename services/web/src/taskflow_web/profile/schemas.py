"""The profile form: the participant profile (display name, phone number, region)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from taskflow_web.pages.schemas import WebForm


class ProfileForm(WebForm):
    display_name: Annotated[str, Field(default="", max_length=100)]
    phone_number: Annotated[str, Field(default="", max_length=32)]
    region: Annotated[str, Field(default="", max_length=2)]


class ResendForm(WebForm):
    pass

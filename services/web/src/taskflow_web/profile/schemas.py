"""The profile's forms: the participant profile (display name, phone number, region), a new
password, signing out everywhere, and the account's deletion."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from taskflow_web.pages.schemas import WebForm
from taskflow_web.projects.schemas import Version


class ProfileForm(WebForm):
    display_name: Annotated[str, Field(default="", max_length=100)]
    phone_number: Annotated[str, Field(default="", max_length=32)]
    region: Annotated[str, Field(default="", max_length=2)]
    # The profile's ETag as the page showed it: another tab's save in between answers 412.
    version: Version


class ResendForm(WebForm):
    pass


class SignOutEverywhereForm(WebForm):
    pass


Password = Annotated[str, Field(default="", max_length=1024)]


class PasswordForm(WebForm):
    current_password: Password
    new_password: Password


class DeleteAccountForm(WebForm):
    # Not current_password: the page's password form has that field (one id per page).
    password: Password

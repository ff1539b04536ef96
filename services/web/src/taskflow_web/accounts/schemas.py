"""The forms of signing up, in and out, and of the emailed links."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from taskflow_web.pages.schemas import WebForm

Text = Annotated[str, Field(default="", max_length=254)]
Password = Annotated[str, Field(default="", max_length=1024)]
Token = Annotated[str, Field(default="", max_length=512)]


class LoginForm(WebForm):
    username: Text
    password: Password
    next: Annotated[str, Field(default="", max_length=2048)]


class SignUpForm(WebForm):
    username: Text
    email: Text
    password: Password
    # Where to come back once the address is confirmed and the person signed in (an
    # invitation's link, for one).
    next: Annotated[str, Field(default="", max_length=2048)]


class ForgotPasswordForm(WebForm):
    email: Text


class ResetPasswordForm(WebForm):
    token: Token
    new_password: Password


class LogoutForm(WebForm):
    pass

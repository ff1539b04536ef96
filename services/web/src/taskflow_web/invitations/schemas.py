"""The invitation forms: send one (email and role), and answer the emailed link."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from taskflow_web.pages.schemas import WebForm

Token = Annotated[str, Field(default="", max_length=512)]


class InviteForm(WebForm):
    email: Annotated[str, Field(default="", max_length=254)]
    role_id: Annotated[str, Field(default="", max_length=64)]


class AnswerForm(WebForm):
    """Accept or decline: the token of the emailed link."""

    token: Token

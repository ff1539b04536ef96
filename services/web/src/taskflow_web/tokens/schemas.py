"""The forms of the API tokens page: a new token (name, scopes, expiry, optional team), and
the revoke button that carries nothing but the CSRF token."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from taskflow_web.pages.schemas import WebForm

Scope = Annotated[str, Field(max_length=64)]


class TokenForm(WebForm):
    name: Annotated[str, Field(default="", max_length=100)]
    scopes: Annotated[list[Scope], Field(max_length=64)] = []
    expires_in_days: Annotated[str, Field(default="", max_length=4)]
    team_id: Annotated[str, Field(default="", max_length=36)]


class RevokeForm(WebForm):
    """A button with nothing but its CSRF token."""

"""The forms of the teams pages: a team, a member's role, a role's permissions. A form
that changes or deletes something carries the ``etag`` it was shown with, sent as
``If-Match`` (someone else's change in between answers 412)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from taskflow_web.pages.schemas import WebForm

Name = Annotated[str, Field(default="", max_length=200)]
Description = Annotated[str, Field(default="", max_length=4000)]
Tag = Annotated[str, Field(default="", max_length=100)]
Id = Annotated[str, Field(default="", max_length=64)]


class TeamForm(WebForm):
    name: Name
    description: Description


class TeamEditForm(TeamForm):
    etag: Tag


class TaggedForm(WebForm):
    """A button that changes or deletes one thing as it was shown (delete, remove, leave,
    revoke)."""

    etag: Tag


class PlainForm(WebForm):
    """A button with nothing but its CSRF token (restore, resend)."""


class MemberRoleForm(TaggedForm):
    role_id: Id


class RoleForm(TaggedForm):
    name: Name
    permissions: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=64)] = []

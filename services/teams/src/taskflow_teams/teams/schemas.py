"""Teams API models. Inputs forbid unknown fields and bound every string."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, StringConstraints
from pydantic.config import JsonDict
from taskflow_chassis.openapi import (
    EXAMPLE_CREATED_AT,
    EXAMPLE_OTHER_USER_ID,
    EXAMPLE_PERSON,
    EXAMPLE_ROLE_ID,
    EXAMPLE_TEAM_ID,
    EXAMPLE_UPDATED_AT,
    EXAMPLE_USER_ID,
)
from taskflow_contracts.permissions import ALL_PERMISSIONS, BUILT_IN_ROLES, DEVELOPER

from taskflow_teams.replica.schemas import PersonRef

TeamName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
RoleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


def _known_permission(value: str) -> str:
    if value not in ALL_PERMISSIONS:
        raise ValueError(f"unknown permission; choose from: {', '.join(sorted(ALL_PERMISSIONS))}")
    return value


Permission = Annotated[str, Field(max_length=64), AfterValidator(_known_permission)]
PermissionList = Annotated[list[Permission], Field(max_length=len(ALL_PERMISSIONS) * 2)]

# The examples' team, Marketing: Grace Hopper created it and leads it; Ada Lovelace, the
# signed-in person, is one of its Developers.
EXAMPLE_TEAM_NAME = "Marketing"
DEVELOPER_PERMISSIONS: list[JsonValue] = [*sorted(BUILT_IN_ROLES[DEVELOPER])]
ROLE_READ_EXAMPLE: JsonDict = {
    "id": EXAMPLE_ROLE_ID,
    "team_id": EXAMPLE_TEAM_ID,
    "name": DEVELOPER,
    "permissions": DEVELOPER_PERMISSIONS,
    "is_builtin": True,
    "is_leader": False,
    "created_at": EXAMPLE_CREATED_AT,
}
MEMBER_READ_EXAMPLE: JsonDict = {
    "team_id": EXAMPLE_TEAM_ID,
    "user_id": EXAMPLE_USER_ID,
    "username": "ada",
    "display_name": "Ada Lovelace",
    "user": EXAMPLE_PERSON,
    "role_id": EXAMPLE_ROLE_ID,
    "role_name": "Developer",
    "joined_at": EXAMPLE_UPDATED_AT,
}


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamCreate(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": EXAMPLE_TEAM_NAME, "description": "Launches, posts and events."}]
        }
    )

    name: TeamName
    description: Description | None = None


class TeamUpdate(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"description": "Launches, posts, events and the blog."}]}
    )

    name: TeamName | None = None
    description: Description | None = None


class RoleCreate(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Editor", "permissions": ["comments.create", "tasks.review"]}]
        }
    )

    name: RoleName
    permissions: PermissionList = []


class RoleUpdate(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"permissions": ["comments.create", "comments.moderate", "tasks.review"]}]
        }
    )

    name: RoleName | None = None
    permissions: PermissionList | None = None


class MemberRoleChange(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"role_id": EXAMPLE_ROLE_ID}]})

    role_id: uuid.UUID


class RoleRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ROLE_READ_EXAMPLE]})

    id: uuid.UUID
    team_id: uuid.UUID
    name: str
    permissions: list[str]
    is_builtin: bool
    is_leader: bool
    created_at: datetime


class TeamRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_TEAM_ID,
                    "name": EXAMPLE_TEAM_NAME,
                    "description": "Launches, posts and events.",
                    "created_by": EXAMPLE_OTHER_USER_ID,
                    "created_at": EXAMPLE_CREATED_AT,
                    "updated_at": EXAMPLE_UPDATED_AT,
                    "my_role": ROLE_READ_EXAMPLE,
                }
            ]
        }
    )

    id: uuid.UUID
    name: str
    description: str | None
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime
    my_role: RoleRead | None = None


class MemberRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [MEMBER_READ_EXAMPLE]})

    team_id: uuid.UUID
    user_id: uuid.UUID
    username: str | None
    display_name: str | None
    # The same person, in the shape every answer names a person with.
    user: PersonRef
    role_id: uuid.UUID
    role_name: str
    joined_at: datetime


class MyMembership(MemberRead):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**MEMBER_READ_EXAMPLE, "permissions": DEVELOPER_PERMISSIONS}]
        }
    )

    permissions: list[str]

"""Teams API models. Inputs forbid unknown fields and bound every string."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from taskflow_contracts.permissions import ALL_PERMISSIONS

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


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamCreate(Input):
    name: TeamName
    description: Description | None = None


class TeamUpdate(Input):
    name: TeamName | None = None
    description: Description | None = None


class RoleCreate(Input):
    name: RoleName
    permissions: PermissionList = []


class RoleUpdate(Input):
    name: RoleName | None = None
    permissions: PermissionList | None = None


class MemberRoleChange(Input):
    role_id: uuid.UUID


class RoleRead(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    name: str
    permissions: list[str]
    is_builtin: bool
    is_leader: bool
    created_at: datetime


class TeamRead(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime
    my_role: RoleRead | None = None


class MemberRead(BaseModel):
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
    permissions: list[str]

"""Permission catalogue API models."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PermissionRead(BaseModel):
    name: str = Field(examples=["tasks.review"])
    description: str


class BuiltInRoleRead(BaseModel):
    name: str = Field(examples=["Reviewer"])
    permissions: list[str] = Field(description="The permissions the role grants, sorted.")


class PermissionCatalogue(BaseModel):
    permissions: list[PermissionRead] = Field(description="Every permission, sorted by name.")
    built_in_roles: list[BuiltInRoleRead] = Field(
        description="The roles every team is created with, from Team Leader down."
    )

"""Permission catalogue API models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict
from taskflow_contracts.permissions import BUILT_IN_ROLES, DESCRIPTIONS, REVIEWER, TASKS_REVIEW

PERMISSION_EXAMPLE: JsonDict = {"name": TASKS_REVIEW, "description": DESCRIPTIONS[TASKS_REVIEW]}
BUILT_IN_ROLE_EXAMPLE: JsonDict = {
    "name": REVIEWER,
    "permissions": [*sorted(BUILT_IN_ROLES[REVIEWER])],
}


class PermissionRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [PERMISSION_EXAMPLE]})

    name: str = Field(examples=["tasks.review"])
    description: str


class BuiltInRoleRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [BUILT_IN_ROLE_EXAMPLE]})

    name: str = Field(examples=["Reviewer"])
    permissions: list[str] = Field(description="The permissions the role grants, sorted.")


class PermissionCatalogue(BaseModel):
    # One of each: the answer lists every permission and every built-in role.
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"permissions": [PERMISSION_EXAMPLE], "built_in_roles": [BUILT_IN_ROLE_EXAMPLE]}
            ]
        }
    )

    permissions: list[PermissionRead] = Field(description="Every permission, sorted by name.")
    built_in_roles: list[BuiltInRoleRead] = Field(
        description="The roles every team is created with, from Team Leader down."
    )

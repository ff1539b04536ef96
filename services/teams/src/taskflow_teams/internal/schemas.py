"""What the internal API answers: a team's memberships as of one sequence number, and
the names of the people teams knows."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic.config import JsonDict
from taskflow_chassis.openapi import EXAMPLE_ROLE_ID, EXAMPLE_TEAM_ID, EXAMPLE_USER_ID

from taskflow_teams.teams.schemas import DEVELOPER_PERMISSIONS, EXAMPLE_TEAM_NAME

MEMBER_GRANT_EXAMPLE: JsonDict = {
    "user_id": EXAMPLE_USER_ID,
    "role_id": EXAMPLE_ROLE_ID,
    "role_name": "Developer",
    "permissions": DEVELOPER_PERMISSIONS,
}
TEAM_SEQ_EXAMPLE: JsonDict = {"team_id": EXAMPLE_TEAM_ID, "seq": 42}


class MemberGrant(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [MEMBER_GRANT_EXAMPLE]})

    user_id: uuid.UUID
    role_id: uuid.UUID
    role_name: str
    permissions: list[str]


class TeamMemberships(BaseModel):
    """Every member of a team with their role's permissions, read in one statement with the
    team's ``seq``: the state after that membership event and before the next one."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "team_id": EXAMPLE_TEAM_ID,
                    "name": EXAMPLE_TEAM_NAME,
                    "seq": 42,
                    "members": [MEMBER_GRANT_EXAMPLE],
                }
            ]
        }
    )

    team_id: uuid.UUID
    name: str
    seq: int
    members: list[MemberGrant]


class TeamSeq(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [TEAM_SEQ_EXAMPLE]})

    team_id: uuid.UUID
    seq: int


class TeamSeqPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [TEAM_SEQ_EXAMPLE], "next_after": EXAMPLE_TEAM_ID}]
        }
    )

    items: list[TeamSeq]
    # Pass as ``after`` for the next page; null on the last one.
    next_after: uuid.UUID | None = None


class PersonNames(BaseModel):
    """A person's names as teams holds them (from auth's events); ``updated_at``: when
    teams last applied one, so a replica keeps whichever copy is newer."""

    user_id: uuid.UUID
    username: str
    display_name: str | None
    updated_at: datetime


class PeoplePage(BaseModel):
    items: list[PersonNames]
    # Pass as ``after`` for the next page; null on the last one.
    next_after: uuid.UUID | None = None

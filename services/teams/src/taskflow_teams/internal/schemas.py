"""What the internal API answers: a team's memberships as of one sequence number, and
the names of the people teams knows."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class MemberGrant(BaseModel):
    user_id: uuid.UUID
    role_id: uuid.UUID
    role_name: str
    permissions: list[str]


class TeamMemberships(BaseModel):
    """Every member of a team with their role's permissions, read in one statement with the
    team's ``seq``: the state after that membership event and before the next one."""

    team_id: uuid.UUID
    name: str
    seq: int
    members: list[MemberGrant]


class TeamSeq(BaseModel):
    team_id: uuid.UUID
    seq: int


class TeamSeqPage(BaseModel):
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

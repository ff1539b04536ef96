"""What work knows of teams: kept from teams' events, read through to teams when missing."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Text, false
from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_work.tables import WorkTable


class TeamReplica(WorkTable, table=True):
    __tablename__ = "team_replicas"

    team_id: uuid.UUID = Field(primary_key=True)
    name: str = Field(max_length=100)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    # The team_seq of the last membership event applied (or of the last resync).
    membership_seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # An event came with a gap behind it: the rows of this team are not trusted until
    # a resync from teams' internal API replaces them.
    resync_needed: bool = Field(
        default=False, index=True, sa_column_kwargs={"server_default": false()}
    )


class MemberReplica(WorkTable, table=True):
    __tablename__ = "member_replicas"

    team_id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(primary_key=True, index=True)
    role_id: uuid.UUID = Field(index=True)
    role_name: str = Field(max_length=50)
    permission_list: str = Field(default="", sa_column=Column("permissions", Text, nullable=False))
    # False while the row only comes from a read-through; the teams event makes it True.
    from_event: bool = Field(default=True)
    # The team's resync_needed, kept on each of its rows so the authorization that reads
    # this row learns it from the same statement (set and cleared with the team's).
    resync_needed: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(self.permission_list.split())


class Person(WorkTable, table=True):
    """What work knows of a person, from auth's user and participant events: the names
    shown beside a person's id. A person not known yet is shown with null names."""

    __tablename__ = "person"

    user_id: uuid.UUID = Field(primary_key=True)
    username: str = Field(max_length=32)
    display_name: str | None = Field(default=None, max_length=100)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())

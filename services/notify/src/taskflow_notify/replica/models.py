"""What notify knows of the other services: people, teams, memberships, tasks."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field
from taskflow_chassis.types import UtcDateTime, utc_column

from taskflow_notify.tables import NotifyTable


class UserReplica(NotifyTable, table=True):
    __tablename__ = "user_replicas"

    user_id: uuid.UUID = Field(primary_key=True)
    username: str = Field(max_length=32)
    email: str = Field(max_length=254, index=True)
    display_name: str | None = Field(default=None, max_length=100)
    # From auth's user events: only a verified address gets its invitations in the feed.
    email_verified: bool = Field(default=False)


class SoftDeleted(NotifyTable):
    """A team or project deleted softly (restorable) keeps its rows; while ``deleted_at`` is
    set, its tasks get no reminders or notifications. ``restored_at`` is the time of the
    latest restoration applied, so a deletion and a restoration arriving out of order
    still end as they happened (the later one wins)."""

    deleted_at: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)
    restored_at: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)


class TeamReplica(SoftDeleted, table=True):
    __tablename__ = "team_replicas"

    team_id: uuid.UUID = Field(primary_key=True)
    name: str = Field(max_length=100)


class MemberReplica(NotifyTable, table=True):
    """A membership, applied in teams' order: a removal leaves the row inactive with the
    number that removed it, so an older join arriving later is known as older."""

    __tablename__ = "member_replicas"

    team_id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(primary_key=True, index=True)
    # The team's membership number (team_seq) of the last join, role change or removal
    # of this member applied (a role's edit moves the role's, RoleReplica); 0 for events
    # published before teams numbered them.
    seq: int = 0
    active: bool = True
    # The member's role and its newest permissions (space-separated catalogue strings,
    # RoleReplica's), from member.joined, member.role_changed and role.updated; None for a
    # row from before notify kept them (webhooks.manage is then not known to be held).
    role_id: uuid.UUID | None = None
    permission_list: str | None = Field(
        default=None, sa_column=Column("permissions", Text, nullable=True)
    )

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset((self.permission_list or "").split())


class RoleReplica(NotifyTable, table=True):
    """A role's permissions as the newest team event that stated them (its team_seq) told:
    a role's edit and a member's change to that role may arrive in either order, and a
    member's permissions are always their role's newest, so an older statement arriving
    late never undoes a newer one."""

    __tablename__ = "role_replicas"

    role_id: uuid.UUID = Field(primary_key=True)
    team_id: uuid.UUID = Field(index=True)
    # The team_seq of the statement kept; 0 for events published before teams numbered them.
    seq: int = 0
    permissions: str = Field(sa_column=Column("permissions", Text, nullable=False))


class ProjectReplica(SoftDeleted, table=True):
    __tablename__ = "project_replicas"

    project_id: uuid.UUID = Field(primary_key=True)
    team_id: uuid.UUID = Field(index=True)
    name: str = Field(max_length=200)


class TaskReplica(NotifyTable, table=True):
    __tablename__ = "task_replicas"

    task_id: uuid.UUID = Field(primary_key=True)
    project_id: uuid.UUID = Field(index=True)
    team_id: uuid.UUID = Field(index=True)
    title: str = Field(max_length=200)
    status: str = Field(max_length=16)
    due_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True, index=True))
    created_by: uuid.UUID


class TaskAssigneeReplica(NotifyTable, table=True):
    __tablename__ = "task_assignee_replicas"

    task_id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(primary_key=True, index=True)


class InvitationReplica(NotifyTable, table=True):
    __tablename__ = "invitation_replicas"

    invitation_id: uuid.UUID = Field(primary_key=True)
    team_id: uuid.UUID
    team_name: str = Field(max_length=100)
    email: str = Field(max_length=254)
    invited_by: uuid.UUID

"""The generations a kept page depends on: one counter per project, per team, per person,
and one for everybody's names. An event (or a person's own change) moves a counter on;
an answer kept at other counters than the current ones is never served."""

from __future__ import annotations

import uuid
from collections.abc import Hashable

# Everybody's names (cards and member lists show them): one counter for all.
NAMES = "names"

# A kept answer's key: the person first, so nobody is served another's answer.
Key = tuple[Hashable, ...]


def project(project_id: uuid.UUID | str) -> str:
    return f"project:{project_id}"


def team(team_id: uuid.UUID | str) -> str:
    return f"team:{team_id}"


def person(user_id: uuid.UUID | str) -> str:
    """Moved on by every change the person makes through web: their next page shows it
    before the event arrives (read-your-own-writes)."""
    return f"person:{user_id}"


def project_scope(
    user_id: uuid.UUID | str, team_id: uuid.UUID | str, project_id: uuid.UUID | str
) -> tuple[str, ...]:
    """What a project's pages (board, list) read: the project and its tasks, the team's
    members and the person's membership (role, permissions), names on cards."""
    return (person(user_id), team(team_id), project(project_id), NAMES)

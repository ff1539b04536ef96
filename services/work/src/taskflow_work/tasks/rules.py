"""The rules of a task that depend on what a request asks: which permissions it needs
beyond the route's own, and which values it may not remove. No database here."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from taskflow_chassis.problems import invalid_field
from taskflow_contracts import permissions as P

from taskflow_work.tasks.models import Status

# A task always has these; a request may change them, never set them to null.
REQUIRED = ("title", "status", "priority", "labels")


def crosses_done(before: str, after: str) -> bool:
    """Moving into or out of done is a review decision; everything else is an edit."""
    return (before == Status.DONE) != (after == Status.DONE)


def permissions_to_create(status: Status, assignee_ids: Sequence[uuid.UUID]) -> list[str]:
    """Beyond tasks.create: a task born done is reviewed, one born assigned is assigned."""
    needed = []
    if status == Status.DONE:
        needed.append(P.TASKS_REVIEW)
    if assignee_ids:
        needed.append(P.TASKS_ASSIGN)
    return needed


def permissions_to_update(status_before: str, changes: Mapping[str, Any]) -> list[str]:
    """A status change across done needs tasks.review; any other change tasks.update."""
    status = changes.get("status")
    crossing = status is not None and crosses_done(status_before, status)
    needed = []
    if crossing:
        needed.append(P.TASKS_REVIEW)
    if set(changes) - {"status"} or (status is not None and not crossing):
        needed.append(P.TASKS_UPDATE)
    return needed


def refuse_removing_required(changes: Mapping[str, Any]) -> None:
    """422 for a change that sets one of the ``REQUIRED`` values to null."""
    for name in REQUIRED:
        if name in changes and changes[name] is None:
            raise invalid_field(
                name, "Value required", f"{name} cannot be null.", type="value-required"
            )

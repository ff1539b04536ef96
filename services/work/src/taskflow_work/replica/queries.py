"""The names beside a person's id, read in the statement that reads what names them.

A column made here is a correlated scalar subquery on the person replica: it goes into the
statement that reads a page or a row (no second round trip). Its value is one entry per
person known (id, username and display name, separated by control characters, which no
name holds), or NULL when none is; ``people_of`` turns it back into PersonRefs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.db import one_of
from taskflow_chassis.types import table_of

from taskflow_work.replica.models import Person
from taskflow_work.replica.schemas import PersonRef

_people = table_of(Person)
_FIELD = "\x1f"
_ENTRY = "\x1e"

Names = dict[uuid.UUID, PersonRef]


def _entry() -> ColumnElement[str]:
    return (
        cast(_people.c.user_id, String)
        + literal(_FIELD, String)
        + _people.c.username
        + literal(_FIELD, String)
        + func.coalesce(_people.c.display_name, literal("", String))
    )


def person_column(user_id: ColumnElement[Any], name: str) -> Any:
    """The entry of the person ``user_id`` names (a column of the outer statement)."""
    return select(_entry()).where(_people.c.user_id == user_id).scalar_subquery().label(name)


def people_column(link: Any, link_id: ColumnElement[Any], owner_id: Any, name: str) -> Any:
    """The entries of the people ``link`` (a table of ``owner_id`` and ``user_id``) lists
    for ``link_id`` (a column of the outer statement)."""
    entries = (
        select(func.aggregate_strings(_entry(), _ENTRY))
        .select_from(link.join(_people, _people.c.user_id == link.c.user_id))
        .where(owner_id == link_id)
    )
    return entries.scalar_subquery().label(name)


def listed_people_column(parameter: str, name: str) -> Any:
    """The entries of the people the array bound as ``parameter`` lists, in one column, for
    PostgreSQL's one statement of a write (``tasks.queries.write_at_once``): ``= ANY`` of
    an array is one text whatever their number, where an expanding IN list is rendered
    again on every run and is a text (prepared anew) per length."""
    entries = select(func.aggregate_strings(_entry(), _ENTRY)).where(
        one_of(_people.c.user_id, parameter, "postgresql")
    )
    return entries.scalar_subquery().label(name)


def names_of(*values: str | None) -> Names:
    """The people in the values of name columns. An entry that does not parse (say, cut
    short by a database's length limit) is skipped: that person shows null names."""
    names: Names = {}
    for value in values:
        for entry in (value or "").split(_ENTRY):
            parts = entry.split(_FIELD)
            if len(parts) != 3:
                continue
            try:
                user_id = uuid.UUID(parts[0])
            except ValueError:
                continue
            names[user_id] = PersonRef(
                id=user_id, username=parts[1] or None, display_name=parts[2] or None
            )
    return names


def ref(names: Names, user_id: uuid.UUID) -> PersonRef:
    """The person ``user_id``, with null names when the replica does not know them."""
    return names.get(user_id) or PersonRef(id=user_id, username=None, display_name=None)


async def load_names(session: AsyncSession, user_ids: Iterable[uuid.UUID]) -> Names:
    """The names of these people, in one statement (for an answer to a write)."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(_people.c.user_id, _people.c.username, _people.c.display_name).where(
            _people.c.user_id.in_(wanted)
        )
    )
    return {
        row.user_id: PersonRef(id=row.user_id, username=row.username, display_name=row.display_name)
        for row in rows
    }

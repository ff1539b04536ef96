"""Writes built once per shape, their values bound on each run.

A statement built with its values in it (``insert(t).values(title=...)``) is a new object
each request: SQLAlchemy walks it to build its cache key before it can reuse the compiled
SQL, and building and keying an insert of a dozen columns costs more CPU than the
database takes to run it. A template holds bind parameters only, is built once per
shape (a table's columns, a number of rows) and keyed once; each run passes its values
as parameters (``BoundWrite``). Parameter names carry a prefix, so the templates of one
request can go into one statement side by side."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Delete, Insert, Table, Update, bindparam, insert, select, union_all, update

__all__ = [
    "BoundWrite",
    "bound_row",
    "bound_update",
    "bound_values",
    "insert_rows_template",
    "insert_template",
    "update_template",
]


@dataclass(frozen=True)
class BoundWrite:
    """A template and the values of one run (by the template's parameter names)."""

    statement: Insert | Update | Delete
    params: Mapping[str, Any]


@functools.cache
def insert_template(table: Table, prefix: str, columns: tuple[str, ...]) -> Insert:
    """One row of ``columns``, each value the parameter ``{prefix}_{column}``."""
    return insert(table).values(
        {name: bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in columns}
    )


@functools.lru_cache(maxsize=256)
def insert_rows_template(table: Table, prefix: str, columns: tuple[str, ...], count: int) -> Insert:
    """``count`` rows of ``columns`` (row i's values are ``{prefix}_{i}_{column}``), as a
    SELECT of bound values: one shape per count."""
    rows = [
        select(
            *(
                bindparam(f"{prefix}_{index}_{name}", type_=table.c[name].type).label(name)
                for name in columns
            )
        )
        for index in range(count)
    ]
    selected = rows[0] if count == 1 else union_all(*rows)
    return insert(table).from_select(list(columns), selected)


def bound_row(table: Table, prefix: str, values: Mapping[str, Any]) -> BoundWrite:
    """One row of ``values`` (by column name) into ``table``, through its template."""
    template = insert_template(table, prefix, tuple(values))
    return BoundWrite(template, {f"{prefix}_{name}": value for name, value in values.items()})


@functools.cache
def update_template(table: Table, prefix: str, key: str, columns: tuple[str, ...]) -> Update:
    """The row whose ``key`` is ``{prefix}_key`` gets ``columns`` (``{prefix}_{column}``)."""
    return (
        update(table)
        .where(table.c[key] == bindparam(f"{prefix}_key", type_=table.c[key].type))
        .values({name: bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in columns})
    )


def bound_update(
    table: Table, prefix: str, key: tuple[str, Any], values: Mapping[str, Any]
) -> BoundWrite:
    """``values`` (by column name) written to the row whose column ``key[0]`` is ``key[1]``,
    through its template."""
    template = update_template(table, prefix, key[0], tuple(values))
    params = {f"{prefix}_{name}": value for name, value in values.items()}
    return BoundWrite(template, {f"{prefix}_key": key[1], **params})


def bound_values(prefix: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The parameters of ``insert_rows_template`` for these rows."""
    return {
        f"{prefix}_{index}_{name}": value
        for index, row in enumerate(rows)
        for name, value in row.items()
    }

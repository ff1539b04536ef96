"""Writes built once per shape (taskflow_chassis.bound): the same template for the same
shape whatever the values, and the values of each run written as given."""

from __future__ import annotations

from sqlalchemy import select
from taskflow_chassis.bound import bound_row, bound_update, bound_values, insert_rows_template
from taskflow_chassis.db import Database

from .conftest import widgets


async def rows(database: Database) -> list[tuple[str, int]]:
    async with database.session() as session:
        found = await session.execute(select(widgets.c.id, widgets.c.count).order_by(widgets.c.id))
        return [(str(row[0]), int(row[1])) for row in found]


async def test_one_template_per_shape_and_each_run_s_values(database: Database) -> None:
    first, second = (
        bound_row(widgets, "w", {"id": "a", "count": 1}),
        bound_row(widgets, "w", {"id": "b", "count": 2}),
    )
    assert first.statement is second.statement  # built and keyed once
    assert bound_row(widgets, "w", {"id": "c"}).statement is not first.statement
    two = insert_rows_template(widgets, "many", ("id", "count"), 2)
    assert insert_rows_template(widgets, "many", ("id", "count"), 2) is two
    bump = bound_update(widgets, "u", ("id", "a"), {"count": 10})
    assert bound_update(widgets, "u", ("id", "b"), {"count": 20}).statement is bump.statement
    async with database.session() as session:
        for write in (first, second):
            await session.execute(write.statement, dict(write.params))
        values = bound_values("many", [{"id": "d", "count": 4}, {"id": "e", "count": 5}])
        await session.execute(two, values)
        await session.execute(bump.statement, dict(bump.params))
        await session.commit()
    assert await rows(database) == [("a", 10), ("b", 2), ("d", 4), ("e", 5)]

"""Bulk changes on MySQL/MariaDB too: the tasks are held by a locking read of their ids in
id order there (no FOR UPDATE OF one table of a join), and the writes run as on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from taskflow_chassis.testing import fresh_mysql_database

from .test_bulk import (
    test_a_bulk_change_changes_every_task_with_an_event_and_entry_each,
    test_a_stale_if_match_answers_412_and_changes_nothing,
    test_an_outsiders_task_is_not_found_and_every_failure_is_listed,
    test_concurrent_bulk_changes_of_overlapping_tasks_both_land,
    test_one_forbidden_task_changes_nothing_and_is_listed,
)

__all__ = [
    "test_a_bulk_change_changes_every_task_with_an_event_and_entry_each",
    "test_a_stale_if_match_answers_412_and_changes_nothing",
    "test_an_outsiders_task_is_not_found_and_every_failure_is_listed",
    "test_concurrent_bulk_changes_of_overlapping_tasks_both_land",
    "test_one_forbidden_task_changes_nothing_and_is_listed",
]


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with fresh_mysql_database("taskflow_work_test") as url:
        yield url

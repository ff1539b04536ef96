"""The label and list filters on MySQL/MariaDB too: their statement has a branch of its own
there (a binary needle, as the column's collation would ignore case); and the due-date
sort, whose far instants MariaDB reads as its own DATETIME."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from taskflow_chassis.testing import fresh_mysql_database

from .test_task_filters import (
    test_pages_by_due_date_go_through_the_undated_tasks_last_both_ways,
    test_the_label_filter_matches_tasks_with_any_of_the_labels_exactly,
    test_values_of_one_filter_are_ored_and_filters_anded,
)

__all__ = [
    "test_pages_by_due_date_go_through_the_undated_tasks_last_both_ways",
    "test_the_label_filter_matches_tasks_with_any_of_the_labels_exactly",
    "test_values_of_one_filter_are_ored_and_filters_anded",
]


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with fresh_mysql_database("taskflow_work_test") as url:
        yield url

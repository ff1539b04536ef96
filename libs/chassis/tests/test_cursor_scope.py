"""A cursor's scope is the set of the list's query pairs: a repeated filter's values
count as a set (neither their order nor a value given twice changes the list), and
every value counts (one more, one fewer or another one is another list)."""

from __future__ import annotations

from taskflow_chassis.pagination import list_scope


def test_the_scope_of_a_repeated_filter_is_the_set_of_its_values() -> None:
    both = list_scope("/tasks", [("status", "todo"), ("status", "done"), ("sort", "due_at")])
    assert both == list_scope(
        "/tasks", [("sort", "due_at"), ("status", "done"), ("status", "todo")]
    )
    assert both == list_scope(
        "/tasks", [("status", "todo"), ("status", "done"), ("status", "todo"), ("sort", "due_at")]
    )
    assert both == list_scope(
        "/tasks", [("status", "todo"), ("limit", "3"), ("status", "done"), ("sort", "due_at")]
    )
    todo = list_scope("/tasks", [("status", "todo"), ("sort", "due_at")])
    done = list_scope("/tasks", [("status", "done"), ("sort", "due_at")])
    assert len({both, todo, done}) == 3
    # The pairs, not the values alone: a value under another name is another list.
    assert list_scope("/tasks", [("label", "todo")]) != list_scope("/tasks", [("status", "todo")])

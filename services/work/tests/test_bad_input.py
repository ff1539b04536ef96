"""Input at the edge: nothing a client sends, and nothing stored, gets a 500.

Each case was a 500 (issue 16): metadata nested 300 deep, then every member's
list of projects; a cursor with a key of the wrong type on every list; NUL in
text; instants whose UTC conversion overflows.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col
from taskflow_work.projects.models import Project


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def forged_cursor(*values: Any) -> str:
    raw = json.dumps(list(values)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def assert_problem(response: Any, status: int, type_suffix: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    if type_suffix:
        assert body["type"].endswith(type_suffix), body
    return body


async def test_deep_metadata_is_refused_and_lists_keep_working(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    for levels in (300, 33):
        created = await world.client.post(
            "/api/v1/projects",
            headers=lead.headers,
            json={"team_id": str(team), "name": "Deep", "metadata": deep(levels)},
        )
        assert_problem(created, 422)
        patched = await world.client.patch(
            f"/api/v1/projects/{project['id']}",
            headers=lead.headers,
            json={"metadata": deep(levels)},
        )
        assert_problem(patched, 422)
    wide = {f"k{n}": n for n in range(201)}
    assert_problem(
        await world.client.patch(
            f"/api/v1/projects/{project['id']}", headers=lead.headers, json={"metadata": wide}
        ),
        422,
    )
    fine = {"color": "teal", "nested": deep(10), "list": [1, "two", None, 3.5, True]}
    saved = await world.client.patch(
        f"/api/v1/projects/{project['id']}", headers=lead.headers, json={"metadata": fine}
    )
    assert saved.status_code == 200 and saved.json()["metadata"] == fine
    listed = await world.client.get("/api/v1/projects", headers=lead.headers)
    assert listed.status_code == 200
    assert [p["metadata"] for p in listed.json()["items"]] == [fine]


@pytest.mark.parametrize(
    "stored",
    [json.dumps(deep(300)), "not json", "[1, 2]", '{"a": "\\u0000"}', '{"a": "\\ud800"}'],
)
async def test_a_stored_value_that_would_not_pass_today_never_breaks_reading(
    world: Any, stored: str
) -> None:
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead, metadata={"color": "teal"})
    async with world.app.state.database.session() as session:
        await session.execute(
            update(Project)
            .where(col(Project.id) == uuid.UUID(project["id"]))
            .values(metadata_json=stored)
        )
        await session.commit()
    listed = await world.client.get("/api/v1/projects", headers=lead.headers)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    read = await world.client.get(f"/api/v1/projects/{project['id']}", headers=lead.headers)
    assert read.status_code == 200, read.text
    assert read.json()["metadata"] == item["metadata"]
    assert isinstance(item["metadata"], dict)


LISTS = [
    "/api/v1/projects",
    "/api/v1/tasks",
    "/api/v1/tasks?sort=due_at",
    "/api/v1/tasks?sort=-due_at",
    "/api/v1/tasks?sort=priority",
    "/api/v1/tasks?sort=-priority",
    "/api/v1/tasks?sort=created_at",
    "/api/v1/tasks?sort=-created_at",
]
WRONG_KEYS: list[Any] = [
    [{"t": "not a time"}, "00000000-0000-0000-0000-000000000000"],
    [{"t": 12}, "00000000-0000-0000-0000-000000000000"],
    ["a string", "00000000-0000-0000-0000-000000000000"],
    [12, "00000000-0000-0000-0000-000000000000"],
    [[1], {"x": 1}],
    [None, None],
    [True, "not-a-uuid"],
    [1e308, "00000000-0000-0000-0000-000000000000"],
]


async def lead_with_work(world: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """A team's leader, with two projects, two tasks in the first, and two comments."""
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    await world.project(team, lead, name="Second")
    task = await world.task(project["id"], lead, due_at="2026-12-01T00:00:00Z")
    await world.task(project["id"], lead, title="Another")
    for body in ("one", "two"):
        await world.client.post(
            f"/api/v1/tasks/{task['id']}/comments", headers=lead.headers, json={"body": body}
        )
    return lead, project, task


def scope_of(cursor: str) -> str:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    scope: str = json.loads(raw)[0]
    return scope


async def test_a_cursor_with_a_wrong_key_answers_400_on_every_list(world: Any) -> None:
    lead, project, task = await lead_with_work(world)
    lists = [
        *LISTS,
        f"/api/v1/tasks?project_id={project['id']}",
        f"/api/v1/tasks/{task['id']}/activity",
        f"/api/v1/tasks/{task['id']}/comments",
    ]
    for path in lists:
        first = await world.client.get(path, params={"limit": 1}, headers=lead.headers)
        issued = first.json()["next_cursor"]
        assert issued, path
        # The list's own scope, so only the position's types are wrong.
        scope = scope_of(issued)
        for values in WRONG_KEYS:
            response = await world.client.get(
                path,
                params={"limit": 1, "cursor": forged_cursor(scope, *values)},
                headers=lead.headers,
            )
            assert_problem(response, 400, "invalid-cursor")
        assert_problem(
            await world.client.get(
                path, params={"cursor": forged_cursor(*WRONG_KEYS[0])}, headers=lead.headers
            ),
            400,
            "invalid-cursor",
        )


async def test_a_cursor_is_bound_to_its_sort_and_filters(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    for n in range(3):
        await world.task(project["id"], lead, title=f"Task {n}", due_at="2026-12-01T00:00:00Z")
    first = await world.client.get(
        "/api/v1/tasks", params={"limit": 1, "sort": "due_at"}, headers=lead.headers
    )
    cursor = first.json()["next_cursor"]
    assert cursor
    same = await world.client.get(
        "/api/v1/tasks",
        params={"limit": 1, "sort": "due_at", "cursor": cursor},
        headers=lead.headers,
    )
    assert same.status_code == 200, same.text
    for other in (
        {"sort": "priority"},
        {"sort": "-due_at"},
        {"sort": "due_at", "status": "todo"},
        {"sort": "due_at", "q": "Task"},
    ):
        response = await world.client.get(
            "/api/v1/tasks", params={"limit": 1, "cursor": cursor, **other}, headers=lead.headers
        )
        assert_problem(response, 400, "invalid-cursor")
    projects = await world.client.get(
        "/api/v1/projects", params={"cursor": cursor}, headers=lead.headers
    )
    assert_problem(projects, 400, "invalid-cursor")


async def test_nul_or_a_lone_surrogate_in_text_answers_422(world: Any) -> None:
    lead, project, task = await lead_with_work(world)
    cases = [
        ("POST", "/api/v1/projects", {"team_id": project["team_id"], "name": "a\u0000b"}),
        ("PATCH", f"/api/v1/projects/{project['id']}", {"description": "\u0000"}),
        ("PATCH", f"/api/v1/projects/{project['id']}", {"metadata": {"k\u0000": 1}}),
        ("POST", f"/api/v1/projects/{project['id']}/tasks", {"title": "x\u0000"}),
        ("PATCH", f"/api/v1/tasks/{task['id']}", {"labels": ["a\u0000"]}),
        ("POST", f"/api/v1/tasks/{task['id']}/comments", {"body": "hi\u0000"}),
    ]
    for method, path, body in cases:
        response = await world.client.request(method, path, json=body, headers=lead.headers)
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["loc"][0] == "body", problem
    # httpx would not encode a lone surrogate: the escaped JSON is sent as it is.
    surrogate = await world.client.patch(
        f"/api/v1/projects/{project['id']}",
        content=b'{"metadata": {"k": "\\ud800"}}',
        headers={**lead.headers, "content-type": "application/json"},
    )
    assert assert_problem(surrogate, 422)["errors"][0]["loc"] == ["body", "metadata", "k"]
    searched = await world.client.get(
        "/api/v1/tasks", params={"q": "a\u0000"}, headers=lead.headers
    )
    problem = assert_problem(searched, 422)
    assert problem["errors"][0]["loc"] == ["query", "q"]


@pytest.mark.parametrize(
    "instant",
    [
        "0001-01-01T00:00:00+05:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:00:00-05:00",
        "9999-12-31T23:59:59-00:01",
        "1899-12-31T23:59:59Z",
    ],
)
async def test_instants_out_of_range_answer_422(world: Any, instant: str) -> None:
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    created = await world.client.post(
        f"/api/v1/projects/{project['id']}/tasks",
        headers=lead.headers,
        json={"title": "Late", "due_at": instant},
    )
    assert_problem(created, 422)
    for name in ("due_before", "due_after"):
        response = await world.client.get(
            "/api/v1/tasks", params={name: instant}, headers=lead.headers
        )
        assert_problem(response, 422)

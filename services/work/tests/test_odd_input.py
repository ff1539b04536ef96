"""Odd input on the task list (labels that look like JSON, compact dates), the 405 Allow
list, and every answer a route can give documented (503 included)."""

from __future__ import annotations

from typing import Any

from .test_bad_input import assert_problem
from .test_task_filters import listed, setup


async def test_a_compact_date_is_not_taken_as_seconds_since_1970(world: Any) -> None:
    """`20261201` is the ISO 8601 basic form of a date alone; the document offers only
    `format: date` or `format: date-time`. Pydantic reads a digit string as a Unix
    timestamp (1970-08-23T12:06:41Z), so the filter silently means another thing, and a
    task's due date is set to 1970 with no offset given (the instant type says an offset
    is required)."""
    lead, _, project = await setup(world)
    await world.task(project["id"], lead, title="dated", due_at="2026-12-05")
    await world.task(project["id"], lead, title="old", due_at="1980-01-01")
    response = await world.client.get(
        "/api/v1/tasks", params={"due_after": "20261201"}, headers=lead.headers
    )
    # Either refused (it is neither of the documented formats) or read as 2026-12-01;
    # now it answers 200 with "old" too: due after 1970-08-23T12:06:41Z.
    if response.status_code != 422:
        assert [t["title"] for t in response.json()["items"]] == ["dated"], response.text
    created = await world.client.post(
        f"/api/v1/projects/{project['id']}/tasks",
        headers=lead.headers,
        json={"title": "numeric", "due_at": 20261201},
    )
    assert_problem(created, 422)


async def test_the_405_allow_list_of_a_docs_file_names_only_what_it_serves(world: Any) -> None:
    """StaticFiles refuses POST with a bare 405; the chassis then asks every route whether
    it matches the path with each method, and a Mount matches every method: the answer
    says POST is allowed while refusing it."""
    response = await world.client.post("/docs/static/swagger-ui.css")
    problem = assert_problem(response, 405)
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert "POST" not in allowed, (response.headers["allow"], problem["detail"])
    assert allowed <= {"GET", "HEAD"}, response.headers["allow"]


async def test_the_405_allow_list_of_a_path_with_several_routes(world: Any) -> None:
    lead, _, project = await setup(world)
    task = await world.task(project["id"], lead)
    comment = (
        await world.client.post(
            f"/api/v1/tasks/{task['id']}/comments", headers=lead.headers, json={"body": "x"}
        )
    ).json()
    for path, expected in (
        (f"/api/v1/tasks/{task['id']}", "DELETE, GET, PATCH"),
        (f"/api/v1/comments/{comment['id']}", "DELETE, GET, PATCH"),
        ("/api/v1/tasks", "GET"),
    ):
        response = await world.client.put(path, headers=lead.headers, json={})
        assert_problem(response, 405)
        assert response.headers["allow"] == expected, (path, response.headers["allow"])


async def test_labels_that_look_like_json_escapes_match_only_themselves(world: Any) -> None:
    """Held (passes): labels are matched as JSON text; escapes, separators and unicode
    cannot make one label match another."""
    lead, _, project = await setup(world)
    labels = {
        "A": ["bug"],
        "B": ["\\u0062ug"],  # a backslash-u in the label itself
        "C": ["b\u00fcg", "a\u2028b", "\U0001f41b"],
        "D": ['", "bug', "[bug"],
    }
    for title, its in labels.items():
        await world.task(project["id"], lead, title=title, labels=its)
    base = [("project_id", project["id"]), ("sort", "created_at")]
    for wanted, titles in (
        ("bug", ["A"]),
        ("\\u0062ug", ["B"]),
        ("b\u00fcg", ["C"]),
        ("\U0001f41b", ["C"]),
        ('", "bug', ["D"]),
        ("[bug", ["D"]),
        ("\\", []),
        ('"', []),
    ):
        assert await listed(world, lead, [*base, ("label", wanted)]) == titles, wanted


async def test_every_answer_a_route_can_give_is_in_the_document(world: Any) -> None:
    """openapi.py promises every error documented as a Problem. /readyz answers 503 (with
    a body that is not a Problem) when its database is down, and every API route answers
    a 503 problem on a database outage (problems.py): none of them is documented, so a
    generated client meets a status its document does not allow."""
    schema = (await world.client.get("/openapi/work.json")).json()
    ready = schema["paths"]["/readyz"]["get"]["responses"]
    assert "503" in ready or "default" in ready, sorted(ready)
    listed_tasks = schema["paths"]["/api/v1/tasks"]["get"]["responses"]
    assert "503" in listed_tasks or "default" in listed_tasks, sorted(listed_tasks)

"""The task list's filters mean what they say: repeated values of one filter OR'ed,
different filters AND'ed, labels filtered for real (exactly), unknown parameters
refused, cursors bound to their filters, due dates as dates or date-times."""

from __future__ import annotations

import uuid
from typing import Any

from .test_bad_input import assert_problem

Params = list[tuple[str, str]]


async def setup(world: Any) -> tuple[Any, Any, dict[str, Any]]:
    team = await world.team()
    lead = await world.member(team)
    dev = await world.member(team, "Developer")
    return lead, dev, await world.project(team, lead)


async def listed(world: Any, member: Any, params: Params) -> list[str]:
    response = await world.client.get("/api/v1/tasks", params=params, headers=member.headers)
    assert response.status_code == 200, response.text
    return [task["title"] for task in response.json()["items"]]


async def test_values_of_one_filter_are_ored_and_filters_anded(world: Any) -> None:
    lead, dev, project = await setup(world)
    other = await world.member(await world.team("Elsewhere"))
    specs = [
        ("A", "todo", "low", [dev.user_id]),
        ("B", "in_progress", "high", [lead.user_id]),
        ("C", "done", "high", [dev.user_id, lead.user_id]),
        ("D", "backlog", "critical", []),
    ]
    for title, status, priority, assignees in specs:
        await world.task(
            project["id"],
            lead,
            title=title,
            status=status,
            priority=priority,
            assignee_ids=[str(a) for a in assignees],
        )
    base = [("project_id", project["id"]), ("sort", "created_at")]

    async def titles(*params: tuple[str, str]) -> list[str]:
        return await listed(world, lead, [*base, *params])

    assert await titles(("status", "todo"), ("status", "in_progress")) == ["A", "B"]
    assert await titles(("status", "in_progress"), ("status", "todo")) == ["A", "B"]
    assert await titles(("status", "todo"), ("status", "todo")) == ["A"]
    assert await titles(("priority", "high"), ("priority", "critical")) == ["B", "C", "D"]
    # AND across filters: high or critical, and todo or done.
    assert await titles(
        ("priority", "high"), ("priority", "critical"), ("status", "todo"), ("status", "done")
    ) == ["C"]
    assert await titles(("assignee", "me")) == ["B", "C"]
    assert await titles(("assignee", "me"), ("assignee", str(dev.user_id))) == ["A", "B", "C"]
    assert await titles(("assignee", str(dev.user_id)), ("assignee", str(other.user_id))) == [
        "A",
        "C",
    ]
    # A task assigned to both is listed once.
    assert await titles(
        ("assignee", str(dev.user_id)), ("assignee", str(lead.user_id)), ("status", "done")
    ) == ["C"]
    assert await titles(("assignee", str(uuid.uuid4()))) == []
    too_many = [("status", "todo")] * 21
    response = await world.client.get("/api/v1/tasks", params=too_many, headers=lead.headers)
    assert_problem(response, 422)
    for bad in (("status", "finished"), ("priority", ""), ("assignee", "you")):
        response = await world.client.get(
            "/api/v1/tasks", params=[("status", "todo"), bad], headers=lead.headers
        )
        assert_problem(response, 422)


async def test_the_label_filter_matches_tasks_with_any_of_the_labels_exactly(world: Any) -> None:
    lead, _, project = await setup(world)
    labels = {
        "A": ["bug", "ui"],
        "B": ["ui"],
        "C": ["Bug"],
        "D": ["bugfix", 'x"bug', "bug\\", 'a, "bug"'],
        "E": ["café", "100%_done"],
        "F": [],
    }
    for title, its_labels in labels.items():
        await world.task(project["id"], lead, title=title, labels=its_labels)
    base = [("project_id", project["id"]), ("sort", "created_at")]

    async def titles(*wanted: str) -> list[str]:
        return await listed(world, lead, [*base, *(("label", label) for label in wanted)])

    assert await titles("bug") == ["A"]  # neither Bug, nor bugfix, nor "bug" inside a label
    assert await titles("ui") == ["A", "B"]
    assert await titles("bug", "Bug") == ["A", "C"]
    assert await titles("Bug", "ui") == ["A", "B", "C"]
    assert await titles(" ui ") == ["A", "B"]  # trimmed, as labels are when stored
    assert await titles('x"bug') == ["D"]
    assert await titles("bug\\") == ["D"]
    assert await titles('a, "bug"') == ["D"]
    assert await titles("café") == ["E"]
    assert await titles("Café") == []
    assert await titles("100%_done") == ["E"]
    assert await titles("100%") == []
    assert await titles("%") == []
    assert await titles("nothing") == []
    # AND with another filter; OR within the labels.
    response = await world.client.get(
        "/api/v1/tasks",
        params=[*base, ("label", "ui"), ("label", "Bug"), ("q", "B")],
        headers=lead.headers,
    )
    assert [t["title"] for t in response.json()["items"]] == ["B"]
    # The change of a task's labels is what the filter sees.
    task = (await listed(world, lead, [*base, ("label", "ui")]))[0]
    assert task == "A"
    [a] = [
        t
        for t in (
            await world.client.get("/api/v1/tasks", params=base, headers=lead.headers)
        ).json()["items"]
        if t["title"] == "A"
    ]
    await world.client.patch(
        f"/api/v1/tasks/{a['id']}", headers=lead.headers, json={"labels": ["done"]}
    )
    assert await titles("ui") == ["B"]
    assert await titles("done") == ["A"]
    for bad in ("", "x" * 51):
        assert_problem(
            await world.client.get("/api/v1/tasks", params=[("label", bad)], headers=lead.headers),
            422,
        )


async def test_the_label_filter_pages_with_a_cursor(world: Any) -> None:
    lead, _, project = await setup(world)
    for n in range(7):
        await world.task(project["id"], lead, title=f"T{n}", labels=["even" if n % 2 else "odd"])
    seen: list[str] = []
    params: Params = [("project_id", project["id"]), ("label", "odd"), ("limit", "2")]
    cursor = None
    while True:
        page = (
            await world.client.get(
                "/api/v1/tasks",
                params=[*params, *([("cursor", cursor)] if cursor else [])],
                headers=lead.headers,
            )
        ).json()
        seen += [t["title"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["T6", "T4", "T2", "T0"]


async def test_unknown_or_repeated_single_parameters_answer_400(world: Any) -> None:
    lead, _, project = await setup(world)
    await world.task(project["id"], lead)
    for params, kind, names in [
        ([("stauts", "todo")], "unknown-query-parameter", ["stauts"]),
        ([("labels", "a"), ("status", "todo")], "unknown-query-parameter", ["labels"]),
        ([("sort", "due_at"), ("sort", "priority")], "repeated-query-parameter", ["sort"]),
        ([("project_id", project["id"])] * 2, "repeated-query-parameter", ["project_id"]),
        ([("limit", "1"), ("limit", "2")], "repeated-query-parameter", ["limit"]),
    ]:
        response = await world.client.get("/api/v1/tasks", params=params, headers=lead.headers)
        problem = assert_problem(response, 400, kind)
        assert [e["loc"] for e in problem["errors"]] == [["query", n] for n in names]
    projects = await world.client.get(
        "/api/v1/projects", params={"archived": "false", "status": "todo"}, headers=lead.headers
    )
    assert_problem(projects, 400, "unknown-query-parameter")


async def test_a_cursor_is_bound_to_the_set_of_filter_values(world: Any) -> None:
    lead, _, project = await setup(world)
    for n in range(3):
        await world.task(project["id"], lead, title=f"T{n}", status="todo")
        await world.task(project["id"], lead, title=f"D{n}", status="in_review")
    todo = [("status", "todo"), ("limit", "1")]
    first = await world.client.get("/api/v1/tasks", params=todo, headers=lead.headers)
    cursor = first.json()["next_cursor"]
    assert cursor
    refused = [
        [("status", "done")],
        [("status", "in_review")],
        [("status", "todo"), ("status", "done")],
        [("status", "todo"), ("label", "x")],
        [],
    ]
    for params in refused:
        response = await world.client.get(
            "/api/v1/tasks", params=[*params, ("cursor", cursor)], headers=lead.headers
        )
        assert_problem(response, 400, "invalid-cursor")
    # The same set of values, in another order or with one repeated: the same list.
    both = [("status", "todo"), ("status", "in_review"), ("limit", "2")]
    first = await world.client.get("/api/v1/tasks", params=both, headers=lead.headers)
    cursor = first.json()["next_cursor"]
    for params in (
        [("status", "in_review"), ("status", "todo")],
        [("status", "todo"), ("status", "in_review"), ("status", "todo")],
    ):
        response = await world.client.get(
            "/api/v1/tasks",
            params=[*params, ("limit", "2"), ("cursor", cursor)],
            headers=lead.headers,
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == 2
    response = await world.client.get(
        "/api/v1/tasks",
        params=[("status", "todo"), ("limit", "2"), ("cursor", cursor)],
        headers=lead.headers,
    )
    assert_problem(response, 400, "invalid-cursor")


async def test_a_due_date_may_be_a_date_alone_meaning_that_day_in_utc(world: Any) -> None:
    lead, _, project = await setup(world)
    day = await world.task(project["id"], lead, title="day", due_at="2026-12-01")
    assert day["due_at"] == "2026-12-01T23:59:59.999999Z"  # due on a day: by its end
    await world.task(project["id"], lead, title="morning", due_at="2026-12-01T09:00:00+01:00")
    await world.task(project["id"], lead, title="before", due_at="2026-11-30T23:00:00Z")
    await world.task(project["id"], lead, title="after", due_at="2026-12-02T00:00:00Z")
    await world.task(project["id"], lead, title="undated")
    base = [("project_id", project["id"]), ("sort", "due_at")]

    async def titles(**params: str) -> list[str]:
        return await listed(world, lead, [*base, *params.items()])

    # A date alone: before that day begins, after it ends (the day itself is neither).
    assert await titles(due_before="2026-12-01") == ["before"]
    assert await titles(due_after="2026-12-01") == ["after"]
    assert await titles(due_before="2026-12-02") == ["before", "morning", "day"]
    assert await titles(due_after="2026-11-30") == ["morning", "day", "after"]
    assert await titles(due_after="2026-11-30", due_before="2026-12-02") == ["morning", "day"]
    # A date-time is that instant, as before.
    assert await titles(due_before="2026-12-01T08:00:01Z") == ["before", "morning"]
    assert await titles(due_after="2026-12-01T23:59:59Z") == ["day", "after"]
    # An update takes a date too; a date-time keeps its instant.
    edited = await world.client.patch(
        f"/api/v1/tasks/{day['id']}", headers=lead.headers, json={"due_at": "2026-12-05"}
    )
    assert edited.status_code == 200 and edited.json()["due_at"] == "2026-12-05T23:59:59.999999Z"
    edited = await world.client.patch(
        f"/api/v1/tasks/{day['id']}",
        headers=lead.headers,
        json={"due_at": "2026-12-05T10:00:00+02:00"},
    )
    assert edited.json()["due_at"] == "2026-12-05T08:00:00Z"
    for bad in ("2026-02-30", "2026-12-01T10:00:00", "12/01/2026", "0001-01-01", "tomorrow"):
        assert_problem(
            await world.client.patch(
                f"/api/v1/tasks/{day['id']}", headers=lead.headers, json={"due_at": bad}
            ),
            422,
        )
        assert_problem(
            await world.client.get(
                "/api/v1/tasks", params={"due_before": bad}, headers=lead.headers
            ),
            422,
        )


async def test_the_openapi_document_says_what_the_filters_mean(world: Any) -> None:
    schema = (await world.client.get("/openapi/work.json")).json()
    operation = schema["paths"]["/api/v1/tasks"]["get"]
    assert "OR'ed" in operation["description"] and "AND'ed" in operation["description"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["label"]["schema"]["anyOf"][0]["type"] == "array"
    assert "any of" in parameters["label"]["description"]
    for name in ("status", "priority", "assignee"):
        assert parameters[name]["schema"]["anyOf"][0]["type"] == "array", name
    created = schema["components"]["schemas"]["TaskCreate"]["properties"]["due_at"]
    assert "end of that day" in str(created)
    assert "start of that day" in str(parameters["due_before"]["schema"])


async def test_pages_by_due_date_go_through_the_undated_tasks_last_both_ways(world: Any) -> None:
    lead, _, project = await setup(world)
    # d3: the latest due date accepted (the end of 9998), still before every undated task.
    for title, due in [("u1", None), ("d2", "2026-12-02T00:00:00Z"), ("u2", None),
                       ("d1", "2026-12-01T00:00:00Z"), ("d3", "9998-12-31")]:  # fmt: skip
        await world.task(project["id"], lead, title=title, **({"due_at": due} if due else {}))
    # From 9999 on, a due date would sort among the undated ones: refused, and said why.
    refused = await world.client.post(
        f"/api/v1/projects/{project['id']}/tasks",
        headers=lead.headers,
        json={"title": "far", "due_at": "9999-01-01T00:00:00Z"},
    )
    assert refused.status_code == 422
    assert "before 9999-01-01" in refused.json()["errors"][0]["msg"]

    async def one_at_a_time(sort: str) -> list[str]:
        seen: list[str] = []
        params = {"project_id": project["id"], "sort": sort, "limit": 1}
        while True:
            response = await world.client.get("/api/v1/tasks", params=params, headers=lead.headers)
            assert response.status_code == 200, response.text
            seen += [task["title"] for task in response.json()["items"]]
            cursor = response.json()["next_cursor"]
            if cursor is None:
                return seen
            params["cursor"] = cursor

    soonest = await one_at_a_time("due_at")
    latest = await one_at_a_time("-due_at")
    assert soonest[:3] == ["d1", "d2", "d3"] and sorted(soonest[3:]) == ["u1", "u2"]
    assert latest[:3] == ["d3", "d2", "d1"] and sorted(latest[3:]) == ["u1", "u2"]
    assert soonest[3:] == latest[3:][::-1]  # the undated by id, in one order and its reverse

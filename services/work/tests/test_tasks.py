"""Tasks: review rule, assignees, filters, sorts, search, pagination, activity."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from taskflow_contracts import teams


async def setup(world: Any) -> tuple[uuid.UUID, Any, dict[str, Any]]:
    team = await world.team()
    lead = await world.member(team)
    return team, lead, await world.project(team, lead)


async def test_create_read_update_with_events_and_activity(world: Any) -> None:
    team, lead, project = await setup(world)
    dev = await world.member(team, "Developer")
    task = await world.task(
        project["id"],
        lead,
        description="Draft it",
        priority="high",
        due_at="2026-12-01T10:00:00+02:00",
        estimate_hours=3.5,
        labels=["plan", "plan", "q4"],
        assignee_ids=[str(dev.user_id)],
    )
    assert task["due_at"].startswith("2026-12-01T08:00:00") and task["labels"] == ["plan", "q4"]
    assert task["assignee_ids"] == [str(dev.user_id)] and task["status"] == "todo"
    edited = await world.client.patch(
        f"/api/v1/tasks/{task['id']}",
        headers=dev.headers,
        json={"status": "in_progress", "title": "Write the plan v2"},
    )
    assert edited.status_code == 200 and edited.json()["status"] == "in_progress"
    activity = (
        await world.client.get(f"/api/v1/tasks/{task['id']}/activity", headers=dev.headers)
    ).json()["items"]
    assert [a["action"] for a in activity] == ["created", "updated"]
    assert activity[1]["details"]["status"] == ["todo", "in_progress"] and activity[1][
        "actor_id"
    ] == str(dev.user_id)
    await world.settle()
    [created] = world.of_type("taskflow.work.task.created.v1")
    assert created.data["assignee_ids"] == [str(dev.user_id)] and created.data["priority"] == "high"
    [assigned] = world.of_type("taskflow.work.task.assigned.v1")
    assert assigned.data["assignee_id"] == str(dev.user_id)
    [updated] = world.of_type("taskflow.work.task.updated.v1")
    assert (
        updated.data["changed"] == ["status", "title"]
        and updated.data["title"] == "Write the plan v2"
    )


async def test_only_review_moves_into_or_out_of_done(world: Any) -> None:
    team, lead, project = await setup(world)
    dev = await world.member(team, "Developer")
    reviewer = await world.member(team, "Reviewer")
    task = await world.task(project["id"], lead, status="in_review")
    url = f"/api/v1/tasks/{task['id']}"
    assert (
        await world.client.patch(url, headers=dev.headers, json={"status": "done"})
    ).status_code == 403
    assert (
        await world.client.patch(url, headers=reviewer.headers, json={"status": "done"})
    ).status_code == 200
    assert (
        await world.client.patch(url, headers=dev.headers, json={"status": "todo"})
    ).status_code == 403
    assert (
        await world.client.patch(url, headers=reviewer.headers, json={"title": "x"})
    ).status_code == 403
    assert (
        await world.client.patch(url, headers=reviewer.headers, json={"status": "in_review"})
    ).status_code == 200
    # Reviewer moves within the not-done statuses only with tasks.update, which it lacks.
    assert (
        await world.client.patch(url, headers=reviewer.headers, json={"status": "todo"})
    ).status_code == 403
    done_at_birth = await world.client.post(
        f"/api/v1/projects/{project['id']}/tasks",
        headers=dev.headers,
        json={"title": "t", "status": "done"},
    )
    assert done_at_birth.status_code == 403


async def test_assignees_must_be_members_and_need_tasks_assign(world: Any) -> None:
    team, lead, project = await setup(world)
    dev = await world.member(team, "Developer")
    stranger = world.outsider()
    task = await world.task(project["id"], lead)
    url = f"/api/v1/tasks/{task['id']}/assignees"
    refused = await world.client.post(
        url, headers=lead.headers, json={"user_id": str(stranger.user_id)}
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "user_id"
    no_right = await world.client.post(url, headers=dev.headers, json={"user_id": str(dev.user_id)})
    assert no_right.status_code == 403
    ok = await world.client.post(url, headers=lead.headers, json={"user_id": str(dev.user_id)})
    assert ok.status_code == 200 and ok.json()["assignee_ids"] == [str(dev.user_id)]
    again = await world.client.post(url, headers=lead.headers, json={"user_id": str(dev.user_id)})
    assert again.json()["assignee_ids"] == [str(dev.user_id)]
    create_with = await world.client.post(
        f"/api/v1/projects/{project['id']}/tasks",
        headers=dev.headers,
        json={"title": "t", "assignee_ids": [str(dev.user_id)]},
    )
    assert create_with.status_code == 403
    assert (
        await world.client.delete(f"{url}/{dev.user_id}", headers=lead.headers)
    ).status_code == 204
    assert (
        await world.client.delete(f"{url}/{dev.user_id}", headers=lead.headers)
    ).status_code == 404
    await world.settle()
    assert len(world.of_type("taskflow.work.task.unassigned.v1")) == 1
    actions = [
        a["action"]
        for a in (
            await world.client.get(f"/api/v1/tasks/{task['id']}/activity", headers=lead.headers)
        ).json()["items"]
    ]
    assert actions == ["created", "assigned", "unassigned"]


async def test_filters_sorts_and_search(world: Any) -> None:
    team, lead, project = await setup(world)
    other_project = await world.project(team, lead, name="Other")
    dev = await world.member(team, "Developer")
    specs = [
        ("Alpha release notes", "low", "todo", "2026-12-03T00:00:00Z", [dev.user_id]),
        ("Beta crash fix", "critical", "in_progress", "2026-12-01T00:00:00Z", []),
        ("Gamma docs", "medium", "todo", None, [dev.user_id]),
        ("Delta 100% coverage", "high", "done", "2026-12-02T00:00:00Z", []),
    ]
    ids = {}
    for title, priority, status, due, assignees in specs:
        body: dict[str, Any] = {
            "title": title,
            "priority": priority,
            "status": status,
            "assignee_ids": [str(a) for a in assignees],
        }
        if due:
            body["due_at"] = due
        ids[title.split()[0]] = (await world.task(project["id"], lead, **body))["id"]
    await world.task(
        other_project["id"], lead, title="Epsilon elsewhere", description="mentions alpha"
    )

    async def titles(**params: Any) -> list[str]:
        response = await world.client.get(
            "/api/v1/tasks", params={"project_id": project["id"], **params}, headers=dev.headers
        )
        assert response.status_code == 200, response.text
        return [t["title"].split()[0] for t in response.json()["items"]]

    assert await titles(sort="due_at") == ["Beta", "Delta", "Alpha", "Gamma"]
    assert await titles(sort="-due_at") == ["Alpha", "Delta", "Beta", "Gamma"]
    assert await titles(sort="priority") == ["Alpha", "Gamma", "Delta", "Beta"]
    assert await titles(sort="-priority") == ["Beta", "Delta", "Gamma", "Alpha"]
    assert await titles(sort="created_at") == ["Alpha", "Beta", "Gamma", "Delta"]
    assert await titles(sort="-created_at") == ["Delta", "Gamma", "Beta", "Alpha"]
    assert await titles(status="todo", sort="created_at") == ["Alpha", "Gamma"]
    assert await titles(priority="critical") == ["Beta"]
    assert await titles(assignee="me", sort="created_at") == ["Alpha", "Gamma"]
    assert await titles(assignee=str(dev.user_id), sort="created_at") == ["Alpha", "Gamma"]
    assert await titles(due_before="2026-12-02T12:00:00Z", sort="due_at") == ["Beta", "Delta"]
    assert await titles(due_after="2026-12-01T12:00:00Z", sort="due_at") == ["Delta", "Alpha"]
    assert await titles(q="CRASH") == ["Beta"]
    assert await titles(q="100%") == ["Delta"]
    assert await titles(q="_") == []
    everywhere = await world.client.get(
        "/api/v1/tasks", params={"q": "alpha", "sort": "created_at"}, headers=dev.headers
    )
    assert [t["title"].split()[0] for t in everywhere.json()["items"]] == ["Alpha", "Epsilon"]
    by_team = await world.client.get(
        "/api/v1/tasks", params={"team_id": str(team)}, headers=dev.headers
    )
    assert len(by_team.json()["items"]) == 5
    for bad in (
        {"sort": "title"},
        {"status": "finished"},
        {"due_before": "yesterday"},
        {"due_before": "2026-12-01T00:00:00"},
        {"limit": 500},
    ):
        response = await world.client.get("/api/v1/tasks", params=bad, headers=dev.headers)
        assert response.status_code == 422, bad


async def test_pagination_walks_every_row_once_while_rows_are_inserted(world: Any) -> None:
    _, lead, project = await setup(world)
    for n in range(30):
        await world.task(
            project["id"],
            lead,
            title=f"task {n}",
            priority=["low", "medium", "high", "critical"][n % 4],
        )
    for sort in ("created_at", "-created_at", "priority", "-priority", "due_at"):
        seen: list[str] = []
        cursor = None
        inserted = 0
        while True:
            params: dict[str, Any] = {"project_id": project["id"], "limit": 7, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            page = (
                await world.client.get("/api/v1/tasks", params=params, headers=lead.headers)
            ).json()
            seen += [t["id"] for t in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
            await world.task(
                project["id"], lead, title=f"inserted {sort} {inserted}", priority="medium"
            )
            inserted += 1
        assert len(seen) == len(set(seen)), f"{sort}: a row came twice"
        assert len(seen) >= 30
    garbage = await world.client.get(
        "/api/v1/tasks", params={"cursor": "not-a-cursor"}, headers=lead.headers
    )
    assert garbage.status_code == 400


async def test_removed_member_loses_access_when_the_event_is_handled(world: Any) -> None:
    team, lead, project = await setup(world)
    dev = await world.member(team, "Developer")
    task = await world.task(project["id"], lead, assignee_ids=[str(dev.user_id)])
    assert (
        await world.client.get(f"/api/v1/tasks/{task['id']}", headers=dev.headers)
    ).status_code == 200
    await world.teams_event(teams.MemberRemoved(team_id=team, user_id=dev.user_id))
    assert (
        await world.client.get(f"/api/v1/tasks/{task['id']}", headers=dev.headers)
    ).status_code == 404
    assert (
        await world.client.get(f"/api/v1/projects/{project['id']}", headers=dev.headers)
    ).status_code == 404
    assert (await world.client.get("/api/v1/tasks", headers=dev.headers)).json()["items"] == []
    assert (await world.client.get(f"/api/v1/tasks/{task['id']}", headers=lead.headers)).json()[
        "assignee_ids"
    ] == []


async def test_role_change_and_role_edit_apply(world: Any) -> None:
    team, _, project = await setup(world)
    viewer = await world.member(team, "Viewer")
    create = {"title": "t"}
    url = f"/api/v1/projects/{project['id']}/tasks"
    assert (await world.client.post(url, headers=viewer.headers, json=create)).status_code == 403
    await world.teams_event(
        teams.RoleUpdated(
            team_id=team,
            role_id=world.role_id(team, "Viewer"),
            name="Viewer",
            permissions=["tasks.create"],
        )
    )
    assert (await world.client.post(url, headers=viewer.headers, json=create)).status_code == 201
    await world.teams_event(
        teams.MemberRoleChanged(
            team_id=team,
            user_id=viewer.user_id,
            role_id=uuid.uuid4(),
            role_name="Nobody",
            permissions=[],
        )
    )
    assert (await world.client.post(url, headers=viewer.headers, json=create)).status_code == 403


async def test_assignee_list_follows_every_change_in_order(world: Any) -> None:
    team, lead, project = await setup(world)
    dev, reviewer = await world.member(team, "Developer"), await world.member(team, "Reviewer")
    task = await world.task(project["id"], lead, assignee_ids=[str(dev.user_id)])
    url = f"/api/v1/tasks/{task['id']}"

    async def shown() -> tuple[list[str], list[str]]:
        one = (await world.client.get(url, headers=lead.headers)).json()["assignee_ids"]
        page = await world.client.get(
            "/api/v1/tasks", params={"project_id": project["id"]}, headers=lead.headers
        )
        return one, page.json()["items"][0]["assignee_ids"]

    assert await shown() == ([str(dev.user_id)],) * 2
    for person in (lead, reviewer):
        added = await world.client.post(
            f"{url}/assignees", headers=lead.headers, json={"user_id": str(person.user_id)}
        )
        assert added.status_code == 200, added.text
    in_order = [str(dev.user_id), str(lead.user_id), str(reviewer.user_id)]
    assert added.json()["assignee_ids"] == in_order
    assert await shown() == (in_order,) * 2
    assert (
        await world.client.delete(f"{url}/assignees/{lead.user_id}", headers=lead.headers)
    ).status_code == 204
    assert await shown() == ([str(dev.user_id), str(reviewer.user_id)],) * 2
    await world.teams_event(teams.MemberRemoved(team_id=team, user_id=reviewer.user_id))
    assert await shown() == ([str(dev.user_id)],) * 2
    mine = await world.client.get("/api/v1/tasks", params={"assignee": "me"}, headers=dev.headers)
    assert [t["id"] for t in mine.json()["items"]] == [task["id"]]


async def test_assignments_at_once_all_land(world: Any) -> None:
    team, lead, project = await setup(world)
    people = [await world.member(team, "Developer") for _ in range(4)]
    task = await world.task(project["id"], lead)
    url = f"/api/v1/tasks/{task['id']}/assignees"
    answers = await asyncio.gather(
        *(
            world.client.post(url, headers=lead.headers, json={"user_id": str(p.user_id)})
            for p in people
        )
    )
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    shown = (await world.client.get(f"/api/v1/tasks/{task['id']}", headers=lead.headers)).json()
    assert sorted(shown["assignee_ids"]) == sorted(str(p.user_id) for p in people)


async def test_a_project_page_checks_membership_full_or_empty(world: Any) -> None:
    _, lead, project = await setup(world)
    _, empty_lead, empty = await setup(world)
    stranger = world.outsider()
    await world.task(project["id"], lead)
    for project_id in (project["id"], empty["id"], str(uuid.uuid4())):
        refused = await world.client.get(
            "/api/v1/tasks", params={"project_id": project_id}, headers=stranger.headers
        )
        assert refused.status_code == 404, refused.text
    full = await world.client.get(
        "/api/v1/tasks", params={"project_id": project["id"]}, headers=lead.headers
    )
    assert full.status_code == 200 and len(full.json()["items"]) == 1
    # A member of another team sees none of this project's tasks, even with tasks in it.
    other_lead = (await setup(world))[1]
    other = await world.client.get(
        "/api/v1/tasks", params={"project_id": project["id"]}, headers=other_lead.headers
    )
    assert other.status_code == 404
    lead_of_empty = await world.client.get(
        "/api/v1/tasks", params={"project_id": empty["id"]}, headers=lead.headers
    )
    assert lead_of_empty.status_code == 404  # lead is no member of the empty project's team
    own_empty = await world.client.get(
        "/api/v1/tasks", params={"project_id": empty["id"]}, headers=empty_lead.headers
    )
    assert own_empty.status_code == 200 and own_empty.json()["items"] == []


async def test_a_stranger_among_assignees_refuses_the_whole_create(world: Any) -> None:
    team, lead, project = await setup(world)
    dev, stranger = await world.member(team, "Developer"), world.outsider()
    await world.settle()
    published = len(world.published)
    refused = await world.client.post(
        f"/api/v1/projects/{project['id']}/tasks",
        headers=lead.headers,
        json={"title": "t", "assignee_ids": [str(dev.user_id), str(stranger.user_id)]},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "assignee_ids"
    assert str(stranger.user_id) in refused.json()["detail"]
    assert str(dev.user_id) not in refused.json()["detail"]
    page = await world.client.get(
        "/api/v1/tasks", params={"project_id": project["id"]}, headers=lead.headers
    )
    assert page.json()["items"] == []
    mine = await world.client.get("/api/v1/tasks", params={"assignee": "me"}, headers=dev.headers)
    assert mine.json()["items"] == []
    await world.settle()
    assert len(world.published) == published


# --- a task deleted while something is written to it ------------------------------------
# The DELETE goes first and the write 0 to 20 ms later, so either may win; the loser of
# the race answers as if it came after the other (404: the task, or its comment, is gone),
# never a 500, with nothing of it written or announced.

RACE_ROUNDS = 16
Write = Callable[[Any, dict[str, Any]], Awaitable[httpx.Response]]


async def _deleted_while_written(
    world: Any, write: Write, *, with_comment: bool = False
) -> Counter[tuple[int, int]]:
    """Each round a new task (and, ``with_comment``, a comment on it: ``task["comment"]``),
    deleted by its project's lead while ``write(lead, task)`` writes to it: the (DELETE,
    write) statuses counted. The task is gone after each round, whoever won."""
    _, lead, project = await setup(world)
    outcomes: Counter[tuple[int, int]] = Counter()
    for _ in range(RACE_ROUNDS):
        task = await world.task(project["id"], lead)
        url = f"/api/v1/tasks/{task['id']}"
        if with_comment:
            comment = await world.client.post(
                f"{url}/comments", headers=lead.headers, json={"body": "Before"}
            )
            task["comment"] = comment.json()
        delay = random.uniform(0, 0.02)

        async def later(task: dict[str, Any] = task, delay: float = delay) -> httpx.Response:
            await asyncio.sleep(delay)
            return await write(lead, task)

        deleted, written = await asyncio.gather(
            world.client.delete(url, headers=lead.headers), later()
        )
        outcomes[(deleted.status_code, written.status_code)] += 1
        shown = await world.client.get(url, headers=lead.headers)
        assert shown.status_code == 404, (dict(outcomes), deleted.text, written.text)
    return outcomes


async def _events_about(world: Any, event_type: str) -> int:
    await world.settle()
    return len(world.of_type(event_type))


@pytest.mark.parametrize(
    ("method", "path", "body", "written", "announced"),
    [
        ("PATCH", "", {"title": "New"}, 200, "taskflow.work.task.updated.v1"),
        ("POST", "/comments", {"body": "Hi"}, 201, "taskflow.work.comment.created.v1"),
    ],
    ids=["edited", "commented_on"],
)
async def test_a_task_written_to_while_it_is_deleted_answers_404_and_announces_nothing(
    world: Any, method: str, path: str, body: dict[str, str], written: int, announced: str
) -> None:
    """A PATCH of the task, or a comment's POST, racing the task's DELETE: written before
    the delete (``written``) or not found after it (404), and only a write that answered
    ``written`` is announced."""
    outcomes = await _deleted_while_written(
        world,
        lambda lead, task: world.client.request(
            method, f"/api/v1/tasks/{task['id']}{path}", headers=lead.headers, json=body
        ),
    )
    assert set(outcomes) <= {(204, written), (204, 404)}, dict(outcomes)
    assert await _events_about(world, announced) == outcomes[(204, written)]


@pytest.mark.parametrize(
    ("method", "body", "written"),
    [("PATCH", {"body": "Now"}, 200), ("DELETE", None, 204)],
    ids=["edited", "deleted"],
)
async def test_a_comment_written_to_while_its_task_is_deleted_answers_404(
    world: Any, method: str, body: dict[str, str] | None, written: int
) -> None:
    """A comment's PATCH or DELETE racing its task's DELETE: done before the task's delete
    (``written``) or not found after it (404)."""
    outcomes = await _deleted_while_written(
        world,
        lambda lead, task: world.client.request(
            method, f"/api/v1/comments/{task['comment']['id']}", headers=lead.headers, json=body
        ),
        with_comment=True,
    )
    assert set(outcomes) <= {(204, written), (204, 404)}, dict(outcomes)

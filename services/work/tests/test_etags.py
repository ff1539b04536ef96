"""Entity tags in work: a task, a project and a comment carry a strong ETag, the same from
their GET and from the write that answered them (304 while current); PATCH and DELETE
honour If-Match (412 with the current tag, ``*`` matches, 428 where required); two
changes of one task at once on one tag: exactly one wins, the other 412."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

Headers = dict[str, str]


async def tag_of(client: httpx.AsyncClient, url: str, headers: Headers) -> str:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


async def test_a_task_is_tagged_and_changed_only_on_its_current_tag(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    created = await world.client.post(
        f"/api/v1/projects/{project['id']}/tasks", headers=lead.headers, json={"title": "Plan"}
    )
    url = f"/api/v1/tasks/{created.json()['id']}"
    tag = await tag_of(world.client, url, lead.headers)
    assert created.headers["ETag"] == tag
    same = await world.client.get(url, headers={**lead.headers, "If-None-Match": tag})
    assert same.status_code == 304 and same.headers["ETag"] == tag

    changed = await world.client.patch(
        url, headers={**lead.headers, "If-Match": tag}, json={"title": "Plan it"}
    )
    assert changed.status_code == 200, changed.text
    new_tag = changed.headers["ETag"]
    assert new_tag != tag and await tag_of(world.client, url, lead.headers) == new_tag

    stale = await world.client.patch(
        url, headers={**lead.headers, "If-Match": tag}, json={"title": "Lost"}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["type"].endswith("/precondition-failed")
    assert stale.json()["etag"] == new_tag and stale.headers["ETag"] == new_tag
    assert (await world.client.get(url, headers=lead.headers)).json()["title"] == "Plan it"

    assigned = await world.client.post(
        f"{url}/assignees", headers=lead.headers, json={"user_id": str(lead.user_id)}
    )
    assert assigned.headers["ETag"] == await tag_of(world.client, url, lead.headers)
    unassign = f"{url}/assignees/{lead.user_id}"
    stale_unassign = await world.client.delete(
        unassign, headers={**lead.headers, "If-Match": new_tag}
    )
    assert stale_unassign.status_code == 412
    ok = await world.client.delete(
        unassign, headers={**lead.headers, "If-Match": assigned.headers["ETag"]}
    )
    assert ok.status_code == 204

    current = await tag_of(world.client, url, lead.headers)
    assert (
        await world.client.delete(url, headers={**lead.headers, "If-Match": tag})
    ).status_code == 412
    deleted = await world.client.delete(url, headers={**lead.headers, "If-Match": current})
    assert deleted.status_code == 204


async def test_two_changes_of_one_task_on_one_tag_at_once_one_wins(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    task = await world.task(project["id"], lead)
    url = f"/api/v1/tasks/{task['id']}"
    for round in range(5):
        tag = await tag_of(world.client, url, lead.headers)
        answers = await asyncio.gather(
            *(
                world.client.patch(
                    url,
                    headers={**lead.headers, "If-Match": tag},
                    json={"title": f"Round {round}, writer {i}"},
                )
                for i in range(2)
            )
        )
        assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]
        [winner] = [a for a in answers if a.status_code == 200]
        now = await world.client.get(url, headers=lead.headers)
        assert now.json()["title"] == winner.json()["title"]
        assert now.headers["ETag"] == winner.headers["ETag"]
    # One change written per round, never two.
    assert len(world.of_type("taskflow.work.task.updated.v1")) <= 5


async def test_two_deletes_of_one_task_at_once_with_if_match_one_wins(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    for _ in range(3):
        task = await world.task(project["id"], lead)
        url = f"/api/v1/tasks/{task['id']}"
        tag = await tag_of(world.client, url, lead.headers)
        answers = await asyncio.gather(
            world.client.delete(url, headers={**lead.headers, "If-Match": tag}),
            world.client.delete(url, headers={**lead.headers, "If-Match": "*"}),
        )
        assert sorted(a.status_code for a in answers) in ([204, 412], [204, 404]), [
            a.text for a in answers
        ]
        assert (await world.client.get(url, headers=lead.headers)).status_code == 404


async def test_a_project_is_tagged_and_changed_only_on_its_current_tag(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    created = await world.client.post(
        "/api/v1/projects", headers=lead.headers, json={"team_id": str(team), "name": "Launch"}
    )
    url = f"/api/v1/projects/{created.json()['id']}"
    tag = await tag_of(world.client, url, lead.headers)
    assert created.headers["ETag"] == tag
    assert (
        await world.client.get(url, headers={**lead.headers, "If-None-Match": tag})
    ).status_code == 304
    changed = await world.client.patch(
        url, headers={**lead.headers, "If-Match": tag}, json={"name": "Launch 2"}
    )
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    stale = await world.client.patch(
        url, headers={**lead.headers, "If-Match": tag}, json={"name": "Lost"}
    )
    assert stale.status_code == 412 and stale.json()["etag"] == changed.headers["ETag"]
    assert (
        await world.client.delete(url, headers={**lead.headers, "If-Match": tag})
    ).status_code == 412
    assert (
        await world.client.delete(url, headers={**lead.headers, "If-Match": "*"})
    ).status_code == 204


async def test_a_comment_is_tagged_and_changed_only_on_its_current_tag(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    task = await world.task(project["id"], lead)
    created = await world.client.post(
        f"/api/v1/tasks/{task['id']}/comments", headers=lead.headers, json={"body": "First"}
    )
    assert created.status_code == 201, created.text
    url = f"/api/v1/comments/{created.json()['id']}"
    tag = await tag_of(world.client, url, lead.headers)
    assert created.headers["ETag"] == tag
    changed = await world.client.patch(
        url, headers={**lead.headers, "If-Match": tag}, json={"body": "Second"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] == await tag_of(world.client, url, lead.headers)
    stale = await world.client.patch(
        url, headers={**lead.headers, "If-Match": tag}, json={"body": "Lost"}
    )
    assert stale.status_code == 412
    assert (
        await world.client.delete(url, headers={**lead.headers, "If-Match": tag})
    ).status_code == 412
    deleted = await world.client.delete(
        url, headers={**lead.headers, "If-Match": changed.headers["ETag"]}
    )
    assert deleted.status_code == 204


async def test_if_match_required_answers_428_and_a_stranger_still_404(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    task = await world.task(project["id"], lead)
    url = f"/api/v1/tasks/{task['id']}"
    world.app.state.settings.require_if_match = True
    missing = await world.client.patch(url, headers=lead.headers, json={"title": "x"})
    assert missing.status_code == 428
    assert missing.json()["type"].endswith("/precondition-required")
    assert (await world.client.delete(url, headers=lead.headers)).status_code == 428
    stranger = world.outsider()
    tag = await tag_of(world.client, url, lead.headers)
    hidden = await world.client.patch(
        url, headers={**stranger.headers, "If-Match": tag}, json={"title": "x"}
    )
    assert hidden.status_code == 404
    ok = await world.client.patch(
        url, headers={**lead.headers, "If-Match": tag}, json={"title": "Done right"}
    )
    assert ok.status_code == 200

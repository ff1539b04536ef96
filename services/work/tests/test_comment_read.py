"""GET /api/v1/comments/{id}: one comment, to the members of its task's team only."""

from __future__ import annotations

import uuid
from typing import Any

from taskflow_chassis.testing import permission_matrix

ROLES = ["Team Leader", "Project Manager", "Developer", "Reviewer", "Viewer", "outsider"]


async def test_a_member_reads_one_comment(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    dev = await world.member(team, "Developer")
    task = await world.task((await world.project(team, lead))["id"], lead)
    created = await world.client.post(
        f"/api/v1/tasks/{task['id']}/comments", headers=dev.headers, json={"body": "hello"}
    )
    comment = created.json()
    url = f"/api/v1/comments/{comment['id']}"
    read = await world.client.get(url, headers=lead.headers)
    assert read.status_code == 200 and read.json() == comment
    await world.client.patch(url, headers=dev.headers, json={"body": "hello, edited"})
    edited = (await world.client.get(url, headers=lead.headers)).json()
    assert edited["body"] == "hello, edited" and edited["edited_at"] is not None
    await world.client.delete(url, headers=dev.headers)
    gone = await world.client.get(url, headers=lead.headers)
    assert gone.status_code == 404 and gone.json()["type"].endswith("/comment-not-found")


async def test_every_role_reads_a_non_member_gets_404(world: Any) -> None:
    async def prepare() -> tuple[Any, Any]:
        team = await world.team()
        people = {r: await world.member(team, r) for r in ROLES[:-1]}
        people["outsider"] = world.outsider()
        lead = people["Team Leader"]
        task = await world.task((await world.project(team, lead))["id"], lead)
        comment = await world.client.post(
            f"/api/v1/tasks/{task['id']}/comments", headers=lead.headers, json={"body": "c"}
        )

        async def send_as(role: str) -> Any:
            return await world.client.get(
                f"/api/v1/comments/{comment.json()['id']}", headers=people[role].headers
            )

        async def nothing() -> dict[str, list[str]]:
            return {}

        return send_as, nothing

    failures = await permission_matrix(ROLES, set(ROLES) - {"outsider"}, 200, prepare)
    assert not failures, "\n".join(failures)


async def test_a_removed_member_and_bad_ids(world: Any) -> None:
    team, other_team = await world.team(), await world.team()
    lead = await world.member(team)
    stranger = await world.member(other_team)
    task = await world.task((await world.project(team, lead))["id"], lead)
    comment = (
        await world.client.post(
            f"/api/v1/tasks/{task['id']}/comments", headers=lead.headers, json={"body": "c"}
        )
    ).json()
    url = f"/api/v1/comments/{comment['id']}"
    # A member of another team learns nothing: the same 404 as for no comment at all.
    hidden = await world.client.get(url, headers=stranger.headers)
    missing = await world.client.get(f"/api/v1/comments/{uuid.uuid4()}", headers=lead.headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["title"] == missing.json()["title"] == "Comment not found"
    assert hidden.json()["detail"] == missing.json()["detail"]
    bad = await world.client.get("/api/v1/comments/not-a-uuid", headers=lead.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "comment_id"
    assert (await world.client.get(url)).status_code == 401

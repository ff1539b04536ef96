"""Comments: oldest first; authors edit (edited_at kept); authors or moderators delete."""

from __future__ import annotations

from typing import Any


async def test_comment_rules(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    dev = await world.member(team, "Developer")
    other_dev = await world.member(team, "Developer")
    viewer = await world.member(team, "Viewer")
    task = await world.task((await world.project(team, lead))["id"], lead)
    url = f"/api/v1/tasks/{task['id']}/comments"
    first = (await world.client.post(url, headers=dev.headers, json={"body": "first"})).json()
    second = (
        await world.client.post(
            url, headers=other_dev.headers, json={"body": "second " + "x" * 300}
        )
    ).json()
    assert (
        await world.client.post(url, headers=viewer.headers, json={"body": "nope"})
    ).status_code == 403
    listed = (await world.client.get(url, headers=viewer.headers)).json()["items"]
    assert [c["id"] for c in listed] == [first["id"], second["id"]]
    assert first["edited_at"] is None
    edit = f"/api/v1/comments/{first['id']}"
    assert (
        await world.client.patch(edit, headers=other_dev.headers, json={"body": "hijack"})
    ).status_code == 403
    edited = await world.client.patch(edit, headers=dev.headers, json={"body": "first, edited"})
    assert edited.status_code == 200 and edited.json()["edited_at"] is not None
    assert edited.json()["created_at"] == first["created_at"]
    assert (await world.client.delete(edit, headers=other_dev.headers)).status_code == 403
    assert (
        await world.client.delete(f"/api/v1/comments/{second['id']}", headers=lead.headers)
    ).status_code == 204
    assert (await world.client.delete(edit, headers=dev.headers)).status_code == 204
    assert (await world.client.get(url, headers=dev.headers)).json()["items"] == []
    outsider = world.outsider()
    assert (await world.client.get(url, headers=outsider.headers)).status_code == 404
    await world.settle()
    created = world.of_type("taskflow.work.comment.created.v1")
    assert len(created) == 2 and len(created[1].data["excerpt"]) == 200
    actions = [
        a["action"]
        for a in (
            await world.client.get(f"/api/v1/tasks/{task['id']}/activity", headers=lead.headers)
        ).json()["items"]
    ]
    assert actions == [
        "created",
        "commented",
        "commented",
        "comment_edited",
        "comment_deleted",
        "comment_deleted",
    ]


async def test_bad_comment_input(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    task = await world.task((await world.project(team, lead))["id"], lead)
    for body in ({"body": ""}, {"body": "x" * 10_001}, {"body": 5}, {"text": "hi"}):
        response = await world.client.post(
            f"/api/v1/tasks/{task['id']}/comments", headers=lead.headers, json=body
        )
        assert response.status_code == 422, body

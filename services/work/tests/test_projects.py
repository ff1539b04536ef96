"""Projects: create in a team, list with filters, archive, delete with tasks and comments."""

from __future__ import annotations

from typing import Any

from taskflow_contracts import teams


async def test_project_lifecycle(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(
        team,
        lead,
        description="Q3",
        starts_on="2026-07-01",
        due_on="2026-09-30",
        metadata={"color": "teal"},
    )
    assert project["metadata"] == {"color": "teal"} and project["archived"] is False
    archived = await world.client.patch(
        f"/api/v1/projects/{project['id']}", headers=lead.headers, json={"archived": True}
    )
    assert archived.status_code == 200 and archived.json()["archived"] is True
    listed = (
        await world.client.get(
            "/api/v1/projects", params={"archived": "false"}, headers=lead.headers
        )
    ).json()
    assert listed["items"] == []
    listed = (
        await world.client.get(
            "/api/v1/projects", params={"archived": "true"}, headers=lead.headers
        )
    ).json()
    assert [p["id"] for p in listed["items"]] == [project["id"]]
    await world.client.patch(
        f"/api/v1/projects/{project['id']}", headers=lead.headers, json={"archived": False}
    )
    task = await world.task(project["id"], lead)
    await world.client.post(
        f"/api/v1/tasks/{task['id']}/comments", headers=lead.headers, json={"body": "First!"}
    )
    assert (
        await world.client.delete(f"/api/v1/projects/{project['id']}", headers=lead.headers)
    ).status_code == 204
    assert (
        await world.client.get(f"/api/v1/tasks/{task['id']}", headers=lead.headers)
    ).status_code == 404
    await world.settle()
    assert [e.data["archived"] for e in world.of_type("taskflow.work.project.updated.v1")] == [
        True,
        False,
    ]
    assert len(world.of_type("taskflow.work.project.deleted.v2")) == 1
    [created] = world.of_type("taskflow.work.project.created.v1")
    assert created.data["due_on"] == "2026-09-30"


async def test_list_only_my_teams_and_team_filter(world: Any) -> None:
    mine, theirs = await world.team("Mine"), await world.team("Theirs")
    me, them = await world.member(mine), await world.member(theirs)
    await world.project(mine, me, name="Ours")
    await world.project(theirs, them, name="Not ours")
    listed = (await world.client.get("/api/v1/projects", headers=me.headers)).json()["items"]
    assert [p["name"] for p in listed] == ["Ours"]
    filtered = await world.client.get(
        "/api/v1/projects", params={"team_id": str(theirs)}, headers=me.headers
    )
    assert filtered.status_code == 404


async def test_bad_dates_and_bounds(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    for body in (
        {"team_id": str(team), "name": "x", "starts_on": "2026-05-02", "due_on": "2026-05-01"},
        {"team_id": str(team), "name": ""},
        {"team_id": str(team), "name": "x", "metadata": {"blob": "x" * 20_000}},
        {"team_id": str(team), "name": "x", "owner": "me"},
        {"team_id": "nope", "name": "x"},
    ):
        response = await world.client.post("/api/v1/projects", headers=lead.headers, json=body)
        assert response.status_code == 422, (body, response.text)


async def test_team_purged_event_removes_its_projects(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    task = await world.task(project["id"], lead)
    await world.teams_event(teams.TeamPurged(team_id=team))
    assert (
        await world.client.get(f"/api/v1/projects/{project['id']}", headers=lead.headers)
    ).status_code == 404
    async with world.app.state.database.session() as session:
        from taskflow_work.tasks.models import Task

        assert await session.get(Task, __import__("uuid").UUID(task["id"])) is None
    await world.settle()
    assert [e.data["project_id"] for e in world.of_type("taskflow.work.project.purged.v1")] == [
        project["id"]
    ]

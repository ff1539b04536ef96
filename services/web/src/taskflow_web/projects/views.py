"""/teams/{team_id}/projects: a team's projects (create, archive or unarchive, delete and
restore within 30 days); the board is tasks/views.py. Each change posts a form and
redirects (303) back to the list with a message."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.deps import ApiDep, CsrfChecked, PageDep, SignedInDep
from taskflow_web.pages.service import Form as FormState
from taskflow_web.pages.service import Page
from taskflow_web.projects import rules, service
from taskflow_web.projects.schemas import ArchiveForm, ProjectForm, RestoreForm, VersionForm

router = APIRouter(include_in_schema=False, dependencies=[CsrfChecked])

PROJECT_FIELDS = ("name", "description")


async def attempt(
    page: Page, change: Awaitable[object], done: str, then: str, refused_to: str = ""
) -> Response:
    """A change posted by a form, then a redirect (303) with a message: ``done`` when the
    API made it, the API's reason when it refused it (to ``refused_to``, else ``then``).
    A 404 stays the not-found page."""
    try:
        await change
    except ApiProblem as problem:
        if problem.status == 404:
            raise
        await page.flash(rules.refusal(problem))
        return RedirectResponse(refused_to or then, 303)
    await page.flash(done)
    return RedirectResponse(then, 303)


async def _render(
    page: PageDep,
    team_id: uuid.UUID,
    form: FormState,
    status: int = 200,
    deleted: uuid.UUID | None = None,
) -> Response:
    api = page.api
    me = await service.membership(api, team_id)
    return await page.render(
        "projects/list.html",
        status=status,
        team=await service.team(api, team_id),
        projects=await service.projects(api, team_id),
        me=me,
        perms=rules.Permissions,
        form=form,
        deleted=deleted,
    )


@router.get("/teams/{team_id}/projects")
async def projects_page(
    team_id: uuid.UUID,
    _: SignedInDep,
    page: PageDep,
    deleted: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    return await _render(page, team_id, FormState.of(), deleted=deleted)


@router.post("/teams/{team_id}/projects")
async def create_project(
    team_id: uuid.UUID,
    data: Annotated[ProjectForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    values = data.model_dump(exclude={"csrf_token"})
    try:
        created = await service.create_project(api, team_id, data.name, data.description)
    except ApiProblem as problem:
        if problem.status == 404:
            raise
        form = FormState.of(values).fail(problem, PROJECT_FIELDS)
        return await _render(page, team_id, form, problem.status)
    await page.flash(f"Project “{created['name']}” created.")
    return RedirectResponse(f"/projects/{created['id']}", 303)


@router.post("/projects/{project_id}/archive")
async def archive_project(
    project_id: uuid.UUID,
    data: Annotated[ArchiveForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    found, _tag = await service.project(api, project_id)
    return await attempt(
        page,
        service.set_archived(api, project_id, data.archived, data.version),
        rules.archived_message(found["name"], data.archived),
        f"/teams/{found['team_id']}/projects",
    )


@router.post("/projects/{project_id}/delete")
async def delete_project(
    project_id: uuid.UUID,
    data: Annotated[VersionForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    found, _tag = await service.project(api, project_id)
    target = f"/teams/{found['team_id']}/projects"
    return await attempt(
        page,
        service.delete_project(api, project_id, data.version),
        f"Project “{found['name']}” deleted. It can be restored for 30 days.",
        f"{target}?deleted={project_id}",
        refused_to=target,
    )


@router.post("/projects/{project_id}/restore")
async def restore_project(
    project_id: uuid.UUID,
    data: Annotated[RestoreForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    restored = await service.restore_project(api, project_id)
    await page.flash(f"Project “{restored['name']}” restored with its tasks.")
    return RedirectResponse(f"/teams/{restored['team_id']}/projects", 303)

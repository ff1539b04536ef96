"""Project routes: thin, each one a call into service.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.pagination import Page, PageParamsDep
from taskflow_chassis.problems import problem_responses
from taskflow_contracts import permissions as P

from taskflow_work.access import AuthorizerDep, CallerDep
from taskflow_work.loaders import ProjectDep
from taskflow_work.projects import service
from taskflow_work.projects.schemas import ProjectCreate, ProjectRead, ProjectUpdate
from taskflow_work.tasks import service as tasks
from taskflow_work.tasks.schemas import TaskCreate, TaskRead

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])
ERRORS = problem_responses(401, 403, 404, 422)


@router.post("", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def create_project(
    data: ProjectCreate, caller: CallerDep, authorizer: AuthorizerDep, session: SessionDep
) -> ProjectRead:
    access = await authorizer.member(session, data.team_id, caller, "Team")
    access.require(P.PROJECTS_CREATE)
    return service.project_read(await service.create_project(session, access, data))


@router.get("", responses=problem_responses(401, 404, 422))
async def list_projects(
    caller: CallerDep,
    authorizer: AuthorizerDep,
    page: PageParamsDep,
    session: SessionDep,
    team_id: Annotated[uuid.UUID | None, Query()] = None,
    archived: Annotated[bool | None, Query()] = None,
) -> Page[ProjectRead]:
    if team_id is not None:
        await authorizer.member(session, team_id, caller, "Team")
        team_ids = [team_id]
    else:
        team_ids = await authorizer.my_team_ids(session, caller)
    items, cursor = await service.list_projects(session, team_ids, page, archived)
    return Page(items=items, next_cursor=cursor)


@router.get("/{project_id}", responses=ERRORS)
async def read_project(context: ProjectDep) -> ProjectRead:
    return service.project_read(context.project)


@router.patch("/{project_id}", responses=ERRORS)
async def update_project(
    data: ProjectUpdate, context: ProjectDep, session: SessionDep
) -> ProjectRead:
    context.access.require(P.PROJECTS_UPDATE)
    return service.project_read(await service.update_project(session, context.project, data))


@router.delete("/{project_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def delete_project(context: ProjectDep, session: SessionDep) -> None:
    context.access.require(P.PROJECTS_DELETE)
    await service.delete_project(session, context.project)


@router.post("/{project_id}/tasks", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def create_task(data: TaskCreate, context: ProjectDep, session: SessionDep) -> TaskRead:
    task = await tasks.create_task(session, context.access, context.project, data)
    return tasks.task_read(task)

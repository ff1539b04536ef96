"""Project routes: thin, each one a call into service.py once access.py let the caller in."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from taskflow_chassis.deps import ClockDep, SessionDep
from taskflow_chassis.etags import ETagDep, IfMatchDep, hold
from taskflow_chassis.pagination import Page, PageParamsDep
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.unit_of_work import UnitOfWorkDep
from taskflow_contracts import permissions as P

from taskflow_work.access import (
    CanDeleteProject,
    CanUpdateProject,
    GuardDep,
    ProjectMember,
    TaskCreateGuard,
)
from taskflow_work.deps import one_statement_write
from taskflow_work.projects import service
from taskflow_work.projects.schemas import ProjectCreate, ProjectRead, ProjectUpdate
from taskflow_work.tasks import rules as task_rules
from taskflow_work.tasks import service as tasks
from taskflow_work.tasks.schemas import TaskCreate, TaskRead

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])
ERRORS = problem_responses(401, 403, 404, 422)


@router.post("", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def create_project(
    data: ProjectCreate, guard: GuardDep, uow: UnitOfWorkDep, tag: ETagDep
) -> ProjectRead:
    member = await guard.team(data.team_id, P.PROJECTS_CREATE)
    return tag(service.project_read(await service.create_project(uow, member.user_id, data)))


@router.get("", responses=problem_responses(401, 404, 422))
async def list_projects(
    guard: GuardDep,
    page: PageParamsDep,
    session: SessionDep,
    team_id: Annotated[uuid.UUID | None, Query()] = None,
    archived: Annotated[bool | None, Query()] = None,
) -> Page[ProjectRead]:
    team_ids = await guard.visible_team_ids(team_id)
    items, cursor = await service.list_projects(session, team_ids, page, archived)
    return Page(items=items, next_cursor=cursor)


@router.get("/{project_id}", responses=ERRORS)
async def read_project(access: ProjectMember, tag: ETagDep) -> ProjectRead:
    return tag(service.project_read(access.project))


@router.patch("/{project_id}", responses=ERRORS)
async def update_project(
    data: ProjectUpdate,
    access: CanUpdateProject,
    uow: UnitOfWorkDep,
    precondition: IfMatchDep,
    tag: ETagDep,
) -> ProjectRead:
    await hold(uow.session, access.project, precondition, service.project_read)
    return tag(service.project_read(await service.update_project(uow, access.project, data)))


@router.delete("/{project_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def delete_project(
    access: CanDeleteProject, uow: UnitOfWorkDep, clock: ClockDep, precondition: IfMatchDep
) -> None:
    await hold(uow.session, access.project, precondition, service.project_read)
    await service.delete_project(uow, access.project, clock())


@router.post(
    "/{project_id}/restore",
    responses=problem_responses(401, 403, 404),
    description="A deleted project back with its tasks, comments and activity, within 30"
    " days of its deletion; needs `projects.delete`. One not deleted is answered as it is.",
)
async def restore_project(
    project_id: uuid.UUID, guard: GuardDep, uow: UnitOfWorkDep, clock: ClockDep, tag: ETagDep
) -> ProjectRead:
    access = await guard.project(project_id, P.PROJECTS_DELETE, deleted=True)
    return tag(service.project_read(await service.restore_project(uow, access.project, clock())))


@router.post(
    "/{project_id}/tasks",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(one_statement_write)],
    responses=problem_responses(401, 403, 404, 409, 422),
    description="Needs `tasks.create`; created `done` needs `tasks.review`, with assignees"
    " `tasks.assign`. An archived project takes no new task (409 `project-archived`).",
)
async def create_task(
    project_id: uuid.UUID,
    data: TaskCreate,
    guard: TaskCreateGuard,
    uow: UnitOfWorkDep,
    tag: ETagDep,
) -> TaskRead:
    created = await tasks.create_task_at_once(uow, guard, project_id, data)
    if created is None:
        access = await guard.project(project_id, P.TASKS_CREATE)
        access.member.require_all(task_rules.permissions_to_create(data.status, data.assignee_ids))
        service.ensure_open(access.project)
        created = await tasks.create_task(uow, access.member.user_id, access.project, data)
    return tag(created)

"""Task routes: thin, each one a call into service.py."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.pagination import Page, PageParamsDep
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.types import UtcInstant

from taskflow_work.access import AuthorizerDep, CallerDep
from taskflow_work.loaders import TaskDep, TaskReadDep, load_project
from taskflow_work.tasks import service
from taskflow_work.tasks.models import Priority, Status
from taskflow_work.tasks.schemas import ActivityRead, AssigneeAdd, TaskRead, TaskSort, TaskUpdate

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])
ERRORS = problem_responses(401, 403, 404, 422)


@router.get("", responses=problem_responses(400, 401, 404, 422))
async def list_tasks(
    caller: CallerDep,
    authorizer: AuthorizerDep,
    page: PageParamsDep,
    session: SessionDep,
    project_id: Annotated[uuid.UUID | None, Query()] = None,
    team_id: Annotated[uuid.UUID | None, Query()] = None,
    assignee: Annotated[
        Literal["me"] | uuid.UUID | None, Query(description="`me` or a user id")
    ] = None,
    status: Annotated[Status | None, Query()] = None,
    priority: Annotated[Priority | None, Query()] = None,
    due_before: Annotated[UtcInstant | None, Query()] = None,
    due_after: Annotated[UtcInstant | None, Query()] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Search title and description")
    ] = None,
    sort: Annotated[TaskSort, Query()] = TaskSort.CREATED_AT_DESC,
) -> Page[TaskRead]:
    filters = service.TaskFilters(
        project_id=project_id,
        assignee=caller.user_id if assignee == "me" else assignee,  # type: ignore[arg-type]
        status=status,
        priority=priority,
        due_before=due_before,
        due_after=due_after,
        q=q,
        sort=sort,
    )
    if project_id is not None:
        # The page's own statement checks membership (the replica rows teams' events
        # wrote): a page with tasks needs nothing more. Only an empty one takes the full
        # check, which answers a stranger 404 and a member an empty page.
        filters.member_id = caller.user_id
        items, cursor = await service.list_tasks(session, filters, page)
        if items:
            return Page(items=items, next_cursor=cursor)
        filters.member_id = None
        project = (await load_project(project_id, caller, authorizer, session)).project
        filters.team_ids = [project.team_id]
    elif team_id is not None:
        await authorizer.member(session, team_id, caller, "Team")
        filters.team_ids = [team_id]
    else:
        filters.team_ids = await authorizer.my_team_ids(session, caller)
    items, cursor = await service.list_tasks(session, filters, page)
    return Page(items=items, next_cursor=cursor)


@router.get("/{task_id}", responses=ERRORS)
async def read_task(task: TaskReadDep) -> TaskRead:
    return task


@router.patch(
    "/{task_id}",
    responses=ERRORS,
    description="Needs `tasks.update`; moving into or out of `done` needs `tasks.review`.",
)
async def update_task(data: TaskUpdate, context: TaskDep, session: SessionDep) -> TaskRead:
    return await service.update_task(session, context.access, context.task, data)


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def delete_task(context: TaskDep, session: SessionDep) -> None:
    await service.delete_task(session, context.access, context.task)


@router.post("/{task_id}/assignees", responses=ERRORS)
async def assign(data: AssigneeAdd, context: TaskDep, session: SessionDep) -> TaskRead:
    return await service.assign(session, context.access, context.task, data.user_id)


@router.delete(
    "/{task_id}/assignees/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS
)
async def unassign(user_id: uuid.UUID, context: TaskDep, session: SessionDep) -> None:
    await service.unassign(session, context.access, context.task, user_id)


@router.get("/{task_id}/activity", responses=ERRORS)
async def activity(
    context: TaskDep, page: PageParamsDep, session: SessionDep
) -> Page[ActivityRead]:
    items, cursor = await service.list_activity(session, context.task.id, page)
    return Page(items=items, next_cursor=cursor)

"""Task routes: thin, each one a call into service.py once access.py let the caller in."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.etags import ETagDep, IfMatchDep, hold
from taskflow_chassis.pagination import Page, PageParamsDep
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.types import DayEndOrInstant, DayStartOrInstant
from taskflow_chassis.unit_of_work import UnitOfWorkDep

from taskflow_work.access import CanAssignTask, CanDeleteTask, GuardDep, ReadableTask, TaskMember
from taskflow_work.activity.schemas import ActivityRead
from taskflow_work.activity.service import list_activity
from taskflow_work.deps import TaskPagesDep
from taskflow_work.tasks import rules, service
from taskflow_work.tasks.models import Priority, Status
from taskflow_work.tasks.queries import TaskFilters, TaskScope
from taskflow_work.tasks.schemas import (
    AssigneeAdd,
    Label,
    TaskBulkResult,
    TaskBulkUpdate,
    TaskRead,
    TaskSort,
    TaskUpdate,
)

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])
ERRORS = problem_responses(401, 403, 404, 422)
# Values one list filter takes at most (a task has at most 20 labels).
MAX_VALUES = 20


Assignee = Literal["me"] | uuid.UUID


@router.get(
    "",
    responses=problem_responses(400, 401, 404, 422),
    description=(
        "Tasks of the caller's teams, a page at a time. `assignee`, `status`, `priority` and "
        "`label` may each be given more than once: the values of one filter are OR'ed "
        "(`status=todo&status=in_progress`: either status; `label=a&label=b`: a task with "
        "any of the labels), different filters AND'ed. A parameter this route does not "
        "take, or one of the others given twice, answers 400. A `next_cursor` is bound to the "
        "sort and filters it came with: under others it answers 400 `invalid-cursor`."
    ),
)
async def list_tasks(
    guard: GuardDep,
    pages: TaskPagesDep,
    page: PageParamsDep,
    session: SessionDep,
    project_id: Annotated[uuid.UUID | None, Query()] = None,
    team_id: Annotated[uuid.UUID | None, Query()] = None,
    assignee: Annotated[
        list[Assignee] | None,
        Query(max_length=MAX_VALUES, description="`me` or a user id; repeat for any of several"),
    ] = None,
    status: Annotated[
        list[Status] | None, Query(max_length=MAX_VALUES, description="Repeat for any of several")
    ] = None,
    priority: Annotated[
        list[Priority] | None,
        Query(max_length=MAX_VALUES, description="Repeat for any of several"),
    ] = None,
    label: Annotated[
        list[Label] | None,
        Query(
            max_length=MAX_VALUES,
            description="A task with this label (exact, case-sensitive); repeat for a task "
            "with any of several",
        ),
    ] = None,
    due_before: Annotated[
        DayStartOrInstant | None,
        Query(description="Due before this instant; a date alone: before that day (UTC) begins"),
    ] = None,
    due_after: Annotated[
        DayEndOrInstant | None,
        Query(description="Due after this instant; a date alone: after that day (UTC) ends"),
    ] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Search title and description")
    ] = None,
    sort: Annotated[TaskSort, Query()] = TaskSort.CREATED_AT_DESC,
) -> Page[TaskRead]:
    filters = TaskFilters(
        project_id=project_id,
        assignees=tuple(
            guard.caller.user_id if isinstance(one, str) else one for one in assignee or ()
        ),
        statuses=tuple(status or ()),
        priorities=tuple(priority or ()),
        labels=tuple(label or ()),
        due_before=due_before,
        due_after=due_after,
        q=q,
        sort=sort,
    )
    if project_id is not None:
        # The page's own statement checks membership (the replica rows teams' events
        # wrote): a page with tasks needs nothing more. Only an empty one takes the full
        # check, which answers a stranger 404 and a member an empty page. A token kept to
        # one team always takes the full check: membership alone would open the others.
        if guard.caller.team_id is None:
            scope = TaskScope(member_id=guard.caller.user_id)
            items, cursor = await pages.page(session, scope, filters, page)
            if items:
                return Page(items=items, next_cursor=cursor)
        scope = TaskScope(team_ids=[(await guard.project(project_id)).project.team_id])
    else:
        scope = TaskScope(team_ids=await guard.visible_team_ids(team_id))
    items, cursor = await pages.page(session, scope, filters, page)
    return Page(items=items, next_cursor=cursor)


@router.post(
    "/bulk",
    name="tasks.bulk_update",
    responses=problem_responses(401, 403, 404, 409, 412, 422),
    description=(
        "Change up to 500 tasks at once, in one transaction: all or nothing. Each task "
        "needs what its single change would (`tasks.update`, `tasks.review` to move into "
        "or out of `done`, `tasks.assign` for assignees). When any task is not visible "
        "(404), stale by `if_match` (412), not allowed (403) or not valid (422), nothing "
        "changes and `errors` lists each failing task (`field`: `task_ids[i]`, `code`); "
        "the status is the first of those kinds present, in that order. Each changed task "
        "publishes the events its single change would. Honours `Idempotency-Key`. 409: a "
        "team's memberships changed while assigning; nothing changed, try again."
    ),
)
async def bulk_update(data: TaskBulkUpdate, guard: GuardDep, uow: UnitOfWorkDep) -> TaskBulkResult:
    grants = await guard.held_tasks(data.task_ids)
    return await service.bulk_update(uow, guard.caller.user_id, data, grants)


@router.get("/{task_id}", responses=ERRORS)
async def read_task(task: ReadableTask, tag: ETagDep) -> TaskRead:
    return tag(task)


@router.patch(
    "/{task_id}",
    responses=ERRORS,
    description="Needs `tasks.update`; moving into or out of `done` needs `tasks.review`.",
)
async def update_task(
    data: TaskUpdate,
    access: TaskMember,
    uow: UnitOfWorkDep,
    precondition: IfMatchDep,
    tag: ETagDep,
) -> TaskRead:
    changes = data.model_dump(exclude_unset=True)
    rules.refuse_removing_required(changes)
    await hold(uow.session, access.task, precondition, partial(service.task_shown, uow.session))
    access.member.require_all(rules.permissions_to_update(access.task.status, changes))
    return tag(await service.update_task(uow, access.member.user_id, access.task, changes))


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def delete_task(access: CanDeleteTask, uow: UnitOfWorkDep, precondition: IfMatchDep) -> None:
    await hold(uow.session, access.task, precondition, partial(service.task_shown, uow.session))
    await service.delete_task(uow, access.task)


@router.post("/{task_id}/assignees", responses=ERRORS)
async def assign(
    data: AssigneeAdd, access: CanAssignTask, uow: UnitOfWorkDep, tag: ETagDep
) -> TaskRead:
    return tag(
        await service.assign(
            uow, access.member.user_id, access.task, data.user_id, held=access.held
        )
    )


@router.delete(
    "/{task_id}/assignees/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
    description="`If-Match` names the task's version: the assignee list is part of the task.",
)
async def unassign(
    user_id: uuid.UUID, access: CanAssignTask, uow: UnitOfWorkDep, precondition: IfMatchDep
) -> None:
    await hold(uow.session, access.task, precondition, partial(service.task_shown, uow.session))
    await service.unassign(uow, access.member.user_id, access.task, user_id, held=access.held)


@router.get("/{task_id}/activity", responses=ERRORS)
async def activity(
    access: TaskMember, page: PageParamsDep, session: SessionDep
) -> Page[ActivityRead]:
    items, cursor = await list_activity(session, access.task.id, page)
    return Page(items=items, next_cursor=cursor)

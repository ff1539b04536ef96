"""A project's board (/projects/{id}) and task list (/projects/{id}/tasks), and one task
(/tasks/{id}: the page every notification's link opens) with its comments (add, edit
one's own, delete one's own or any with ``comments.moderate``). Changes post forms carrying the
version the page showed (``If-Match``) and redirect (303); a refusal is shown as a
message, a form's problem beside its field."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse
from markupsafe import Markup
from starlette.responses import Response

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.comments import service as comments
from taskflow_web.comments.schemas import CommentForm
from taskflow_web.deps import ApiDep, CsrfChecked, PageDep, SignedInDep
from taskflow_web.pages.service import Form as FormState
from taskflow_web.projects import service as projects
from taskflow_web.projects.rules import STALE, Permissions, person_name, refusal
from taskflow_web.projects.schemas import VersionForm
from taskflow_web.projects.views import attempt
from taskflow_web.tasks import rules, service
from taskflow_web.tasks.schemas import AssignForm, BulkForm, MoveForm, QuickAddForm, TaskForm

router = APIRouter(include_in_schema=False, dependencies=[CsrfChecked])

TASK_FIELDS = ("title", "description", "status", "priority", "due_date", "labels")
TASK_ALIASES = {"due_at": "due_date"}
Values = Annotated[list[str], Query(max_length=20)]
# htmx asks for the next rows only (the "load more" link is their target).
LOAD_MORE = "load-more"
# The bulk form's fields, as the API's problem names them (changes.<field>).
BULK_FIELDS = ("status", "add_assignee", "add_labels", "remove_labels", "due_date")
BULK_ALIASES = {
    "changes.status": "status",
    "changes.add_assignees": "add_assignee",
    "changes.add_labels": "add_labels",
    "changes.remove_labels": "remove_labels",
    "changes.due_at": "due_date",
}


async def _board(
    page: PageDep,
    project_id: uuid.UUID,
    status: int = 200,
    added: FormState | None = None,
    column: str = "",
) -> Response:
    shown, snapshot = await service.board(page.api, project_id, page.kept, fresh=page.fresh)
    # The body is kept only as every reader sees it: not with a form's problem in it.
    keep = snapshot is not None and status == 200 and added is None and not column
    key = (str(page.api.session.user_id), str(project_id), "board-body")
    body = page.kept.get(snapshot, key) if keep and snapshot else None
    if body is None:
        body = page.render_part(
            "tasks/board_body.html",
            csrf_token=page.kept.csrf_slot,
            board=shown,
            project=shown.project,
            me=shown.me,
            perms=Permissions,
            statuses=rules.STATUSES,
            added=added or FormState.of(),
            column=column,
        )
        if keep and snapshot:
            page.kept.put(snapshot, key, body)
    return await page.render(
        "tasks/board.html",
        status=status,
        project=shown.project,
        # Rendered by Jinja2 (escaped there): the layout takes it as it is.
        body=Markup(body.replace(page.kept.csrf_slot, page.form_token())),  # noqa: S704
    )


@router.get("/projects/{project_id}")
async def board_page(project_id: uuid.UUID, _: SignedInDep, page: PageDep) -> Response:
    return await _board(page, project_id)


@router.post("/projects/{project_id}/tasks")
async def quick_add(
    project_id: uuid.UUID,
    data: Annotated[QuickAddForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        created = await service.create_task(api, project_id, data.title, data.status)
    except ApiProblem as problem:
        if problem.status == 404:
            raise
        form = FormState.of({"title": data.title}).fail(problem, ("title",))
        return await _board(page, project_id, problem.status, form, data.status)
    await page.flash(f"Task “{created['title']}” added.")
    return RedirectResponse(f"/projects/{project_id}#column-{data.status}", 303)


@router.post("/tasks/{task_id}/move")
async def move_task(
    task_id: uuid.UUID,
    data: Annotated[MoveForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    """A card moved by its button, or dropped on a column (the same form, sent by htmx):
    the board again, with the card where the API says it is."""
    try:
        moved = await service.update_task(api, task_id, {"status": data.status}, data.version)
    except ApiProblem as problem:
        if problem.status == 404:
            raise
        found = await service.task(api, task_id)
        await page.flash(f"“{found['title']}” was not moved. {refusal(problem)}")
        return RedirectResponse(f"/projects/{found['project_id']}", 303)
    name = rules.STATUS_NAMES.get(moved["status"], moved["status"])
    await page.flash(f"“{moved['title']}” moved to {name}.")
    return RedirectResponse(f"/projects/{moved['project_id']}", 303)


@router.get("/projects/{project_id}/tasks")
async def task_list(
    project_id: uuid.UUID,
    request: Request,
    _: SignedInDep,
    page: PageDep,
    status: Values = [],  # noqa: B006 - FastAPI copies a default
    priority: Values = [],  # noqa: B006
    assignee: Values = [],  # noqa: B006
    label: Values = [],  # noqa: B006
    q: Annotated[str, Query(max_length=200)] = "",
    sort: Annotated[str, Query(max_length=20)] = "-created_at",
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response:
    filters = rules.TaskFilters(
        tuple(status), tuple(priority), tuple(assignee), tuple(label), q, sort
    )
    template = (
        "tasks/rows.html" if request.headers.get("hx-target") == LOAD_MORE else "tasks/list.html"
    )
    return await _list(page, project_id, filters, cursor, template)


async def _list(
    page: PageDep,
    project_id: uuid.UUID,
    filters: rules.TaskFilters,
    cursor: str | None,
    template: str = "tasks/list.html",
    status: int = 200,
    bulk: FormState | None = None,
    failures: dict[str, str] | None = None,
) -> Response:
    """The task list; ``bulk`` the bulk form as sent, ``failures`` each refused task's
    reason (shown beside its row)."""
    found = await service.task_page(page.api, project_id, filters, cursor, page.kept)
    me = found.me
    bulk = bulk or FormState.of()
    shown = {task["id"] for task in found.tasks}
    failures = failures or {}
    for task_id, reason in failures.items():
        if task_id not in shown:  # a row loaded by "load more", or gone from the filter
            bulk.notes.append(f"Task {task_id}: {reason}")
    return await page.render(
        template,
        status=status,
        listing=found,
        project=found.project,
        filters=filters,
        statuses=rules.STATUSES,
        priorities=rules.PRIORITIES,
        sorts=rules.SORTS,
        may_bulk=me.may(Permissions.TASKS_UPDATE) or me.may(Permissions.TASKS_ASSIGN),
        bulk=bulk,
        selected=set(bulk.values.get("task", "").split()),
        failures=failures,
    )


@router.post("/projects/{project_id}/tasks/bulk")
async def bulk_change(
    project_id: uuid.UUID,
    data: Annotated[BulkForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    """The ticked tasks changed at once, all or nothing: back to the list with a message,
    or the list again with each refused task's reason beside it (nothing changed)."""
    filters, query = rules.filters_of(data.back)
    back = f"/projects/{project_id}/tasks" + (f"?{query}" if query else "")
    task_ids, versions = rules.picked(data.task)
    changes = rules.bulk_changes(
        data.status,
        data.add_assignee,
        data.add_labels,
        data.remove_labels,
        data.due_date,
        data.clear_due,
    )
    values = data.model_dump(exclude={"csrf_token", "task", "back"})
    form = FormState.of({**values, "task": " ".join(task_ids)})
    missing = rules.NOTHING_PICKED if not task_ids else None if changes else rules.NOTHING_CHOSEN
    if missing:
        form.detail = missing
        return await _list(page, project_id, filters, None, status=422, bulk=form)
    try:
        result = await service.bulk_update(api, task_ids, changes, versions)
    except ApiProblem as problem:
        failures = rules.failures_by_task(problem.errors)
        if problem.status == 404 and not failures:
            raise
        # Each task's reason goes beside its row; the rest on the form.
        general = [error for error in problem.errors if not error.get("task_id")]
        form.fail(replace(problem, errors=general), BULK_FIELDS, BULK_ALIASES)
        if problem.status == 412:
            form.detail = f"Nothing was changed. {STALE}"
        elif failures:
            form.detail = f"Nothing was changed: {problem.detail}"
        return await _list(
            page, project_id, filters, None, status=problem.status, bulk=form, failures=failures
        )
    await page.flash(rules.bulk_done(result))
    return RedirectResponse(back, 303)


async def render_task(
    page: PageDep,
    task_id: uuid.UUID,
    status: int = 200,
    form: FormState | None = None,
    comment: FormState | None = None,
    edit: FormState | None = None,
    editing: str = "",
) -> Response:
    """The task's page; ``form`` the edit form as typed, ``comment`` the new comment's,
    ``edit`` the form of the comment being edited (``editing``, its id)."""
    api = page.api
    shown = await service.task(api, task_id)
    # What the page shows besides the task, asked for at once.
    me, members, task_comments, activity = await asyncio.gather(
        projects.membership(api, shown["team_id"]),
        projects.members(api, shown["team_id"]),
        comments.comments(api, task_id),
        service.activity(api, task_id),
    )
    if form is None:
        form = FormState.of(task_values(shown))
    return await page.render(
        "tasks/detail.html",
        status=status,
        task=shown,
        me=me,
        perms=Permissions,
        members=members,
        names={member["user_id"]: person_name(member["user"]) for member in members},
        comments=task_comments,
        activity=activity,
        statuses=rules.STATUSES,
        priorities=rules.PRIORITIES,
        form=form,
        comment=comment or FormState.of(),
        edit=edit or FormState.of(),
        editing=editing,
        stale=STALE,
    )


def task_values(task: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": task["title"],
        "description": task.get("description") or "",
        "status": task["status"],
        "priority": task["priority"],
        "labels": ", ".join(task.get("labels", [])),
        **rules.due_fields(task.get("due_at")),
    }


@router.get("/tasks/{task_id}")
async def task_page(task_id: uuid.UUID, _: SignedInDep, page: PageDep) -> Response:
    return await render_task(page, task_id)


@router.post("/tasks/{task_id}")
async def edit_task(
    task_id: uuid.UUID,
    data: Annotated[TaskForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    current = await service.task(api, task_id)
    typed = {
        "title": data.title,
        "description": data.description,
        "status": data.status,
        "priority": data.priority,
        "due_at": rules.due_value(data.due_date, data.due_time),
        "labels": rules.labels_of(data.labels),
    }
    changes = rules.changed(current, typed)
    values = data.model_dump(exclude={"csrf_token", "version"})
    try:
        if changes:
            await service.update_task(api, task_id, changes, data.version)
    except ApiProblem as problem:
        if problem.status == 404:
            raise
        form = FormState.of(values).fail(problem, TASK_FIELDS, TASK_ALIASES)
        if problem.status == 412:
            form.detail = STALE
        return await render_task(page, task_id, problem.status, form)
    await page.flash("Task saved." if changes else "Nothing to save: the task is as it was.")
    return RedirectResponse(f"/tasks/{task_id}", 303)


@router.post("/tasks/{task_id}/delete")
async def delete_task(
    task_id: uuid.UUID,
    data: Annotated[VersionForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    current = await service.task(api, task_id)
    return await attempt(
        page,
        service.delete_task(api, task_id, data.version),
        f"Task “{current['title']}” deleted.",
        f"/projects/{current['project_id']}",
        refused_to=f"/tasks/{task_id}",
    )


@router.post("/tasks/{task_id}/assignees")
async def assign(
    task_id: uuid.UUID,
    data: Annotated[AssignForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    return await attempt(
        page,
        service.assign(api, task_id, data.user_id),
        "Assignee added.",
        f"/tasks/{task_id}#assignees",
    )


@router.post("/tasks/{task_id}/assignees/{user_id}/remove")
async def unassign(
    task_id: uuid.UUID,
    user_id: uuid.UUID,
    data: Annotated[VersionForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    return await attempt(
        page,
        service.unassign(api, task_id, user_id, data.version),
        "Assignee removed.",
        f"/tasks/{task_id}#assignees",
    )


def _problem_form(body: str, problem: ApiProblem) -> FormState:
    form = FormState.of({"body": body}).fail(problem, ("body",))
    if problem.status == 412:
        form.detail = STALE
    return form


@router.post("/tasks/{task_id}/comments")
async def add_comment(
    task_id: uuid.UUID,
    data: Annotated[CommentForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        created = await comments.add_comment(api, task_id, data.body)
    except ApiProblem as problem:
        if problem.status == 404:
            raise
        if problem.status == 403:
            await page.flash(refusal(problem))
            return RedirectResponse(f"/tasks/{task_id}#comments", 303)
        form = _problem_form(data.body, problem)
        return await render_task(page, task_id, problem.status, comment=form)
    await page.flash("Comment added.")
    return RedirectResponse(f"/tasks/{task_id}#comment-{created['id']}", 303)


@router.post("/comments/{comment_id}")
async def edit_comment(
    comment_id: uuid.UUID,
    data: Annotated[CommentForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    found = await comments.comment(api, comment_id)
    task_id = uuid.UUID(found["task_id"])
    try:
        await comments.edit_comment(api, comment_id, data.body, data.version)
    except ApiProblem as problem:
        if problem.status == 404:
            raise
        form = _problem_form(data.body, problem)
        return await render_task(page, task_id, problem.status, edit=form, editing=str(comment_id))
    await page.flash("Comment saved.")
    return RedirectResponse(f"/tasks/{task_id}#comment-{comment_id}", 303)


@router.post("/comments/{comment_id}/delete")
async def delete_comment(
    comment_id: uuid.UUID,
    data: Annotated[VersionForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    found = await comments.comment(api, comment_id)
    return await attempt(
        page,
        comments.delete_comment(api, comment_id, data.version),
        "Comment deleted.",
        f"/tasks/{found['task_id']}#comments",
    )

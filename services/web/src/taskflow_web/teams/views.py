"""/teams: the caller's teams; /teams/{id}: a team's overview (members, the caller's role,
rename, delete and restore, leave); /teams/{id}/roles: its roles and their permissions.

Each form posts and redirects (303); a problem re-renders the page with the message next
to the form at fault and the detail at the top. An action shows only to whoever may do it
(the caller's permissions from GET /teams/{id}/members/me), and the API's 403 and 404 are
still pages, never a 500."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.deps import ApiDep, CsrfChecked, PageDep, SignedInDep
from taskflow_web.pages.service import Form as FormState
from taskflow_web.teams import rules, service
from taskflow_web.teams.schemas import (
    MemberRoleForm,
    PlainForm,
    RoleForm,
    TaggedForm,
    TeamEditForm,
    TeamForm,
)

router = APIRouter(include_in_schema=False, dependencies=[CsrfChecked])

TEAM_FIELDS = ("name", "description")
ROLE_FIELDS = ("name", "permissions")
CursorQuery = Annotated[str | None, Query(max_length=512)]
RestoreQuery = Annotated[uuid.UUID | None, Query()]


def _team_page(team_id: uuid.UUID, **query: str) -> RedirectResponse:
    suffix = f"?{urlencode(query)}" if query else ""
    return RedirectResponse(f"/teams/{team_id}{suffix}", 303)


# --- the caller's teams ------------------------------------------------------------------


@router.get("/teams")
async def teams_page(
    _: SignedInDep, api: ApiDep, page: PageDep, restore: RestoreQuery = None
) -> Response:
    """``restore``: a team the caller just deleted, offered back (teams lists no deleted
    team, so this page is where its restore button can be)."""
    return await page.render(
        "teams/list.html", teams=await service.my_teams(api), form=FormState.of(), restore=restore
    )


@router.post("/teams")
async def create_team(
    data: Annotated[TeamForm, Form()], _: SignedInDep, api: ApiDep, page: PageDep
) -> Response:
    values = data.model_dump(exclude={"csrf_token"})
    try:
        created = await service.create_team(api, data.name.strip(), data.description.strip())
    except ApiProblem as problem:
        return await page.render(
            "teams/list.html",
            status=problem.status,
            teams=await service.my_teams(api),
            form=service.failed(values, problem, TEAM_FIELDS),
            restore=None,
        )
    await page.flash(f"Team “{created['name']}” is created. You lead it.")
    return _team_page(created["id"])


# --- one team --------------------------------------------------------------------------------


async def _overview(
    page: PageDep,
    api: ApiDep,
    team_id: uuid.UUID,
    *,
    status: int = 200,
    cursor: str | None = None,
    edit: FormState | None = None,
    member_error: tuple[str, str] | None = None,
    detail: str | None = None,
) -> Response:
    """The overview, with a failed form's messages where they belong: ``edit`` (rename),
    ``member_error`` (the member's id and the message beside their row), ``detail`` (top)."""
    view = await service.overview(api, team_id, cursor)
    return await page.render(
        "teams/overview.html",
        status=status,
        view=view,
        rules=rules,
        edit=edit or FormState.of({"name": view.team["name"], **_description(view.team)}),
        member_error=member_error,
        detail=detail,
    )


def _description(team: dict[str, Any]) -> dict[str, str]:
    return {"description": team.get("description") or ""}


@router.get("/teams/{team_id}")
async def team_page(
    team_id: uuid.UUID, _: SignedInDep, api: ApiDep, page: PageDep, cursor: CursorQuery = None
) -> Response:
    return await _overview(page, api, team_id, cursor=cursor)


@router.post("/teams/{team_id}/edit")
async def edit_team(
    team_id: uuid.UUID,
    data: Annotated[TeamEditForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        await service.update_team(
            api, team_id, data.name.strip(), data.description.strip(), data.etag
        )
    except ApiProblem as problem:
        values = data.model_dump(exclude={"csrf_token", "etag"})
        edit = service.failed(values, problem, TEAM_FIELDS)
        return await _overview(page, api, team_id, status=problem.status, edit=edit)
    await page.flash("The team is saved.")
    return _team_page(team_id)


@router.post("/teams/{team_id}/delete")
async def delete_team(
    team_id: uuid.UUID,
    data: Annotated[TaggedForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        await service.delete_team(api, team_id, data.etag)
    except ApiProblem as problem:
        detail = rules.problem_detail(problem)
        return await _overview(page, api, team_id, status=problem.status, detail=detail)
    await page.flash(
        f"The team is deleted. It can be restored for {rules.RESTORE_DAYS} days, "
        "then it is erased with its projects and tasks."
    )
    return RedirectResponse("/teams?" + urlencode({"restore": str(team_id)}), 303)


@router.post("/teams/{team_id}/restore")
async def restore_team(
    team_id: uuid.UUID,
    data: Annotated[PlainForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    restored = await service.restore_team(api, team_id)  # 403, 404: an error page
    await page.flash(f"Team “{restored['name']}” is restored with its members and projects.")
    return _team_page(team_id)


@router.post("/teams/{team_id}/members/{user_id}/role")
async def change_member_role(
    team_id: uuid.UUID,
    user_id: uuid.UUID,
    data: Annotated[MemberRoleForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        await service.change_member_role(api, team_id, user_id, data.role_id, data.etag)
    except ApiProblem as problem:
        detail = rules.problem_detail(problem)
        return await _overview(
            page, api, team_id, status=problem.status, member_error=(str(user_id), detail)
        )
    await page.flash("The member's role is changed.")
    return _team_page(team_id)


@router.post("/teams/{team_id}/members/{user_id}/remove")
async def remove_member(
    team_id: uuid.UUID,
    user_id: uuid.UUID,
    data: Annotated[TaggedForm, Form()],
    session: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    leaving = session.user_id == user_id
    try:
        await service.remove_member(api, team_id, user_id, data.etag)
    except ApiProblem as problem:
        detail = rules.problem_detail(problem)
        return await _overview(
            page, api, team_id, status=problem.status, member_error=(str(user_id), detail)
        )
    if leaving:
        await page.flash("You left the team.")
        return RedirectResponse("/teams", 303)
    await page.flash("The member is removed from the team.")
    return _team_page(team_id)


# --- roles ---------------------------------------------------------------------------------


async def _roles_page(
    page: PageDep,
    api: ApiDep,
    team_id: uuid.UUID,
    *,
    status: int = 200,
    form: FormState | None = None,
    chosen: list[str] | None = None,
) -> Response:
    me = await service.my_membership(api, team_id)  # 404 first, for someone not a member
    team = await api.get(service.team_path(team_id))
    catalogue = await service.catalogue(api)
    return await page.render(
        "teams/roles.html",
        status=status,
        team=team,
        me=me,
        can_manage=rules.ROLES_MANAGE in me.get("permissions", []),
        roles=await service.roles(api, team_id),
        catalogue=catalogue,
        descriptions={p["name"]: p["description"] for p in catalogue},
        form=form or FormState.of(),
        chosen=chosen or [],
    )


@router.get("/teams/{team_id}/roles")
async def roles_page(team_id: uuid.UUID, _: SignedInDep, api: ApiDep, page: PageDep) -> Response:
    return await _roles_page(page, api, team_id)


@router.post("/teams/{team_id}/roles")
async def create_role(
    team_id: uuid.UUID,
    data: Annotated[RoleForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        await service.create_role(api, team_id, data.name.strip(), data.permissions)
    except ApiProblem as problem:
        form = service.failed({"name": data.name}, problem, ROLE_FIELDS)
        return await _roles_page(
            page, api, team_id, status=problem.status, form=form, chosen=data.permissions
        )
    await page.flash(f"The role “{data.name.strip()}” is created.")
    return RedirectResponse(f"/teams/{team_id}/roles", 303)


async def _role_page(
    page: PageDep,
    api: ApiDep,
    team_id: uuid.UUID,
    role_id: uuid.UUID,
    *,
    status: int = 200,
    form: FormState | None = None,
    chosen: list[str] | None = None,
    detail: str | None = None,
) -> Response:
    me = await service.my_membership(api, team_id)
    team = await api.get(service.team_path(team_id))
    role = next((r for r in await service.roles(api, team_id) if r["id"] == str(role_id)), None)
    if role is None:
        raise ApiProblem(404, "Role not found", "This team has no role with this id.")
    catalogue = await service.catalogue(api)
    form = form or FormState.of({"name": role["name"]})
    form.detail = detail or form.detail
    return await page.render(
        "teams/role.html",
        status=status,
        team=team,
        role=role,
        can_manage=rules.ROLES_MANAGE in me.get("permissions", []),
        catalogue=catalogue,
        form=form,
        chosen=role["permissions"] if chosen is None else chosen,
    )


@router.get("/teams/{team_id}/roles/{role_id}")
async def role_page(
    team_id: uuid.UUID, role_id: uuid.UUID, _: SignedInDep, api: ApiDep, page: PageDep
) -> Response:
    return await _role_page(page, api, team_id, role_id)


@router.post("/teams/{team_id}/roles/{role_id}")
async def update_role(
    team_id: uuid.UUID,
    role_id: uuid.UUID,
    data: Annotated[RoleForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        await service.update_role(
            api, team_id, role_id, data.name.strip(), data.permissions, data.etag
        )
    except ApiProblem as problem:
        form = service.failed({"name": data.name}, problem, ROLE_FIELDS)
        return await _role_page(
            page, api, team_id, role_id, status=problem.status, form=form, chosen=data.permissions
        )
    await page.flash(f"The role “{data.name.strip()}” is saved.")
    return RedirectResponse(f"/teams/{team_id}/roles", 303)


@router.post("/teams/{team_id}/roles/{role_id}/delete")
async def delete_role(
    team_id: uuid.UUID,
    role_id: uuid.UUID,
    data: Annotated[TaggedForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        await service.delete_role(api, team_id, role_id, data.etag)
    except ApiProblem as problem:
        detail = rules.problem_detail(problem)
        return await _role_page(page, api, team_id, role_id, status=problem.status, detail=detail)
    await page.flash("The role is deleted.")
    return RedirectResponse(f"/teams/{team_id}/roles", 303)

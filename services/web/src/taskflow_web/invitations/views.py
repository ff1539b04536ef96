"""/teams/{id}/invitations: a team's open invitations, sent, resent and revoked (with
``members.invite``); /invitations/accept: the page the emailed link opens, for anyone,
signed in or not, which accepts (then the team) or declines the invitation."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.deps import ApiDep, CsrfChecked, PageDep, SignedInDep
from taskflow_web.invitations import rules, service
from taskflow_web.invitations.schemas import AnswerForm, InviteForm
from taskflow_web.pages.service import Form as FormState
from taskflow_web.profile import service as profile
from taskflow_web.teams import rules as team_rules
from taskflow_web.teams.schemas import PlainForm, TaggedForm
from taskflow_web.teams.service import failed

router = APIRouter(include_in_schema=False, dependencies=[CsrfChecked])

INVITE_FIELDS = ("email", "role_id")
TokenQuery = Annotated[str, Query(max_length=512)]
ACCEPT_PAGE = "/invitations/accept"


def _invitations_page(team_id: uuid.UUID) -> RedirectResponse:
    return RedirectResponse(f"/teams/{team_id}/invitations", 303)


async def _team_page(
    page: PageDep,
    api: ApiDep,
    team_id: uuid.UUID,
    *,
    status: int = 200,
    form: FormState | None = None,
    row_error: tuple[str, str] | None = None,
) -> Response:
    view = await service.team_view(api, team_id)
    return await page.render(
        "invitations/team.html",
        status=status,
        view=view,
        form=form or FormState.of(),
        row_error=row_error,
    )


@router.get("/teams/{team_id}/invitations")
async def team_invitations(
    team_id: uuid.UUID, _: SignedInDep, api: ApiDep, page: PageDep
) -> Response:
    return await _team_page(page, api, team_id)


@router.post("/teams/{team_id}/invitations")
async def invite(
    team_id: uuid.UUID,
    data: Annotated[InviteForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        sent = await service.invite(api, team_id, data.email.strip(), data.role_id)
    except ApiProblem as problem:
        form = failed(data.model_dump(exclude={"csrf_token"}), problem, INVITE_FIELDS)
        return await _team_page(page, api, team_id, status=problem.status, form=form)
    await page.flash(f"The invitation to {sent['email']} is on its way.")
    return _invitations_page(team_id)


@router.post("/teams/{team_id}/invitations/{invitation_id}/resend")
async def resend(
    team_id: uuid.UUID,
    invitation_id: uuid.UUID,
    data: Annotated[PlainForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        sent = await service.resend(api, team_id, invitation_id)
    except ApiProblem as problem:
        error = (str(invitation_id), team_rules.problem_detail(problem))
        return await _team_page(page, api, team_id, status=problem.status, row_error=error)
    await page.flash(f"A new link is on its way to {sent['email']}; the old one no longer works.")
    return _invitations_page(team_id)


@router.post("/teams/{team_id}/invitations/{invitation_id}/revoke")
async def revoke(
    team_id: uuid.UUID,
    invitation_id: uuid.UUID,
    data: Annotated[TaggedForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        await service.revoke(api, team_id, invitation_id, data.etag)
    except ApiProblem as problem:
        error = (str(invitation_id), team_rules.problem_detail(problem))
        return await _team_page(page, api, team_id, status=problem.status, row_error=error)
    await page.flash("The invitation is revoked: its link no longer works.")
    return _invitations_page(team_id)


# --- the emailed link ----------------------------------------------------------------------


async def _accept_page(
    page: PageDep,
    api: ApiDep,
    token: str,
    *,
    status: int = 200,
    problem: str | None = None,
    final: bool = False,
) -> Response:
    """What the link is, for anyone; once signed in, what else waits for them and whether
    their participant profile (needed to join) is there yet."""
    here = f"{ACCEPT_PAGE}?{urlencode({'token': token})}"
    signed_in = page.api.session.signed_in
    return await page.render(
        "invitations/accept.html",
        status=status,
        token=token,
        next=urlencode({"next": here}),
        waiting=await service.waiting_for_me(api) if signed_in else [],
        has_profile=signed_in and (await profile.participant(api))[0] is not None,
        problem=problem,
        final=final,
    )


async def _refused(page: PageDep, api: ApiDep, token: str, problem: ApiProblem) -> Response:
    """The link's page again, saying why the answer did not go through (and without the
    buttons where no answer can work any more)."""
    return await _accept_page(
        page,
        api,
        token,
        status=problem.status,
        problem=rules.answer_problem(problem),
        final=rules.is_final(problem),
    )


@router.get(ACCEPT_PAGE)
async def accept_page(page: PageDep, api: ApiDep, token: TokenQuery = "") -> Response:
    if not token:
        return await _accept_page(
            page, api, token, status=400, problem=rules.UNKNOWN_LINK, final=True
        )
    return await _accept_page(page, api, token)


@router.post(ACCEPT_PAGE)
async def accept(
    data: Annotated[AnswerForm, Form()], _: SignedInDep, api: ApiDep, page: PageDep
) -> Response:
    try:
        joined = await service.accept(api, data.token)
    except ApiProblem as problem:
        return await _refused(page, api, data.token, problem)
    await page.flash(f"Welcome to {joined['team_name']}: you joined as {joined['role_name']}.")
    return RedirectResponse(f"/teams/{joined['team_id']}", 303)


@router.post("/invitations/decline")
async def decline(
    data: Annotated[AnswerForm, Form()], _: SignedInDep, api: ApiDep, page: PageDep
) -> Response:
    try:
        declined = await service.decline(api, data.token)
    except ApiProblem as problem:
        return await _refused(page, api, data.token, problem)
    await page.flash(f"You declined the invitation to {declined['team_name']}.")
    return RedirectResponse("/teams", 303)

"""/settings/tokens: the person's personal API tokens (list, create with the secret shown
once, revoke after a confirmation).

Creation renders the page with the new token on that answer alone (web keeps it nowhere);
a problem re-renders the form with the API's message beside the field at fault; revoking
posts and redirects (303)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.deps import ApiDep, CsrfChecked, PageDep, SignedInDep
from taskflow_web.pages.service import Form as FormState
from taskflow_web.teams.service import failed
from taskflow_web.tokens import rules, service
from taskflow_web.tokens.schemas import RevokeForm, TokenForm

router = APIRouter(include_in_schema=False, dependencies=[CsrfChecked])

FIELDS = ("name", "scopes", "expires_in_days", "expires_at", "team_id")
PAGE = "/settings/tokens"


async def _page(
    page: PageDep,
    api: ApiDep,
    *,
    status: int = 200,
    form: FormState | None = None,
    chosen: list[str] | None = None,
    created: dict[str, Any] | None = None,
) -> Response:
    view = await service.overview(api)
    form = form or FormState.of({"expires_in_days": str(rules.DEFAULT_EXPIRY_DAYS)})
    return await page.render(
        "tokens/list.html",
        status=status,
        view=view,
        rules=rules,
        groups=rules.scope_groups(),
        form=form,
        chosen=chosen or [],
        created=created,
    )


@router.get(PAGE)
async def tokens_page(_: SignedInDep, api: ApiDep, page: PageDep) -> Response:
    return await _page(page, api)


@router.post(PAGE)
async def create_token(
    data: Annotated[TokenForm, Form()], _: SignedInDep, api: ApiDep, page: PageDep
) -> Response:
    body = rules.create_body(data.name, data.scopes, data.expires_in_days, data.team_id)
    try:
        created = await service.create(api, body)
    except ApiProblem as problem:
        values = data.model_dump(exclude={"csrf_token", "scopes"})
        form = failed(values, problem, FIELDS)
        return await _page(page, api, status=problem.status, form=form, chosen=data.scopes)
    # Rendered, not redirected: the secret is shown on this answer alone.
    return await _page(page, api, status=201, created=created)


@router.post(PAGE + "/{token_id}/revoke")
async def revoke_token(
    token_id: uuid.UUID,
    data: Annotated[RevokeForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        await service.revoke(api, token_id)
    except ApiProblem as problem:
        if problem.status != 404:
            raise
        await page.flash("That token was already revoked.")
        return RedirectResponse(PAGE, 303)
    await page.flash("The token is revoked: every service refuses it from now on.")
    return RedirectResponse(PAGE, 303)

"""/teams/{id}/webhooks: the team's webhook endpoints for holders of webhooks.manage (list,
register with the secret shown once); /teams/{id}/webhooks/{webhook_id}: one endpoint (edit
its URL and event types, rotate its secret, disable or re-enable, delete) and its
deliveries log (status, latency, a Redeliver button).

Each form posts and redirects (303), except registration and rotation, whose page shows the
new secret this once (it is kept nowhere in web, not even for the next page). A problem
re-renders the page with the message beside the field at fault; the API's 403 and 404 are
error pages, never a 500."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.deps import ApiDep, CsrfChecked, PageDep, SignedInDep
from taskflow_web.pages.service import Form as FormState
from taskflow_web.teams.rules import problem_detail
from taskflow_web.teams.service import failed
from taskflow_web.webhooks import rules, service
from taskflow_web.webhooks.schemas import ButtonForm, TaggedButtonForm, WebhookForm

router = APIRouter(include_in_schema=False, dependencies=[CsrfChecked])

FIELDS = ("url", "description", "event_types")
CursorQuery = Annotated[str | None, Query(max_length=512)]


def _endpoint_page(team_id: uuid.UUID, webhook_id: uuid.UUID) -> RedirectResponse:
    return RedirectResponse(f"/teams/{team_id}/webhooks/{webhook_id}", 303)


async def _list_page(
    page: PageDep,
    api: ApiDep,
    team_id: uuid.UUID,
    *,
    status: int = 200,
    form: FormState | None = None,
    chosen: list[str] | None = None,
    created: dict[str, Any] | None = None,
) -> Response:
    view = await service.overview(api, team_id)
    return await page.render(
        "webhooks/list.html",
        status=status,
        view=view,
        rules=rules,
        form=form or FormState.of(),
        chosen=chosen if chosen is not None else [],
        created=created,
    )


@router.get("/teams/{team_id}/webhooks")
async def webhooks_page(team_id: uuid.UUID, _: SignedInDep, api: ApiDep, page: PageDep) -> Response:
    return await _list_page(page, api, team_id)


@router.post("/teams/{team_id}/webhooks")
async def create_webhook(
    team_id: uuid.UUID,
    data: Annotated[WebhookForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        created = await service.create(
            api, team_id, data.url.strip(), data.description.strip(), data.event_types
        )
    except ApiProblem as problem:
        values = {"url": data.url, "description": data.description}
        return await _list_page(
            page,
            api,
            team_id,
            status=problem.status,
            form=failed(values, problem, FIELDS),
            chosen=data.event_types,
        )
    # Rendered, not redirected: the secret is shown on this answer alone.
    return await _list_page(page, api, team_id, status=201, created=created)


async def _detail_page(
    page: PageDep,
    api: ApiDep,
    team_id: uuid.UUID,
    webhook_id: uuid.UUID,
    *,
    status: int = 200,
    cursor: str | None = None,
    form: FormState | None = None,
    chosen: list[str] | None = None,
    secret: str | None = None,
    detail: str | None = None,
) -> Response:
    view = await service.endpoint_view(api, team_id, webhook_id, cursor)
    endpoint = view.endpoint
    form = form or FormState.of({"url": endpoint["url"], "description": endpoint["description"]})
    form.detail = detail or form.detail
    return await page.render(
        "webhooks/endpoint.html",
        status=status,
        view=view,
        rules=rules,
        form=form,
        chosen=endpoint["event_types"] if chosen is None else chosen,
        secret=secret,
    )


@router.get("/teams/{team_id}/webhooks/{webhook_id}")
async def webhook_page(
    team_id: uuid.UUID,
    webhook_id: uuid.UUID,
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
    cursor: CursorQuery = None,
) -> Response:
    return await _detail_page(page, api, team_id, webhook_id, cursor=cursor)


@router.post("/teams/{team_id}/webhooks/{webhook_id}")
async def update_webhook(
    team_id: uuid.UUID,
    webhook_id: uuid.UUID,
    data: Annotated[WebhookForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    changes = {
        "url": data.url.strip(),
        "description": data.description.strip(),
        "event_types": rules.chosen_types(data.event_types),
    }
    try:
        await service.update(api, team_id, webhook_id, changes, data.etag)
    except ApiProblem as problem:
        values = {"url": data.url, "description": data.description}
        form = failed(values, problem, FIELDS)
        return await _detail_page(
            page,
            api,
            team_id,
            webhook_id,
            status=problem.status,
            form=form,
            chosen=data.event_types,
        )
    await page.flash("The webhook is saved.")
    return _endpoint_page(team_id, webhook_id)


@router.post("/teams/{team_id}/webhooks/{webhook_id}/rotate")
async def rotate_secret(
    team_id: uuid.UUID,
    webhook_id: uuid.UUID,
    data: Annotated[ButtonForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    rotated = await service.rotate(api, team_id, webhook_id)  # 403, 404: an error page
    return await _detail_page(page, api, team_id, webhook_id, secret=rotated["secret"])


@router.post("/teams/{team_id}/webhooks/{webhook_id}/delete")
async def delete_webhook(
    team_id: uuid.UUID,
    webhook_id: uuid.UUID,
    data: Annotated[TaggedButtonForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        await service.delete(api, team_id, webhook_id, data.etag)
    except ApiProblem as problem:
        if problem.status != 412:
            raise  # 403, 404: an error page
        return await _detail_page(
            page, api, team_id, webhook_id, status=412, detail=problem_detail(problem)
        )
    await page.flash("The webhook is deleted, with its deliveries.")
    return RedirectResponse(f"/teams/{team_id}/webhooks", 303)


@router.post("/teams/{team_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    team_id: uuid.UUID,
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    data: Annotated[ButtonForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    try:
        await service.redeliver(api, team_id, webhook_id, delivery_id)
    except ApiProblem as problem:
        if problem.status not in (409,):
            raise
        return await _detail_page(
            page, api, team_id, webhook_id, status=409, detail=problem_detail(problem)
        )
    await page.flash("The event is sent again, as a new delivery at the top of the log.")
    return _endpoint_page(team_id, webhook_id)


# Last: its {switch} would otherwise take /delete and /rotate.
@router.post("/teams/{team_id}/webhooks/{webhook_id}/{switch}")
async def switch_webhook(
    team_id: uuid.UUID,
    webhook_id: uuid.UUID,
    switch: Literal["enable", "disable"],
    data: Annotated[TaggedButtonForm, Form()],
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    """Disable by hand, or (re-)enable: one waiting after failures resumes in order."""
    enabled = switch == "enable"
    try:
        await service.update(api, team_id, webhook_id, {"enabled": enabled}, data.etag)
    except ApiProblem as problem:
        return await _detail_page(
            page, api, team_id, webhook_id, status=problem.status, detail=problem_detail(problem)
        )
    await page.flash(
        "The webhook is enabled: its waiting deliveries go out in order."
        if enabled
        else "The webhook is disabled: no delivery goes until it is enabled again."
    )
    return _endpoint_page(team_id, webhook_id)

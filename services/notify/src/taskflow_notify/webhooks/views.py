"""Webhook routes: a team's endpoints and their deliveries, for holders of webhooks.manage
(a non-member gets 404, a member without the permission 403)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from taskflow_chassis.deps import ClockDep, SessionDep
from taskflow_chassis.etags import ETagDep, IfMatchDep
from taskflow_chassis.pagination import Page, PageParamsDep
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.security import CurrentClaims
from taskflow_chassis.unit_of_work import UnitOfWorkDep

from taskflow_notify.access import CanManageWebhooks
from taskflow_notify.config import NotifySettings
from taskflow_notify.webhooks import service
from taskflow_notify.webhooks.adapters import SecretCipher, WebhookPoster
from taskflow_notify.webhooks.models import DeliveryStatus
from taskflow_notify.webhooks.rules import WEBHOOK_EVENT_TYPES
from taskflow_notify.webhooks.schemas import (
    DeliveryRead,
    EventTypeList,
    WebhookCreate,
    WebhookList,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(prefix="/api/v1/teams/{team_id}/webhooks", tags=["webhooks"])


async def webhook_poster(request: Request) -> WebhookPoster:
    poster: WebhookPoster = request.app.state.webhook_poster
    return poster


async def secret_cipher(request: Request) -> SecretCipher:
    cipher: SecretCipher = request.app.state.webhook_cipher
    return cipher


async def grace_seconds(request: Request) -> float:
    settings: NotifySettings = request.app.state.settings
    return settings.webhook_rotation_grace_seconds


PosterDep = Annotated[WebhookPoster, Depends(webhook_poster)]
CipherDep = Annotated[SecretCipher, Depends(secret_cipher)]
GraceDep = Annotated[float, Depends(grace_seconds)]

SIGNING = """Each delivery is a POST of the CloudEvent (as the event bus carries it) with the
headers `webhook-id` (the delivery's id, the same on each retry), `webhook-timestamp` (Unix
seconds) and `webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed by
the secret's base64 part (the Standard Webhooks scheme), one per secret in use,
space-separated (two during a rotation's grace). A 2xx answer delivers it; anything else,
a redirect included, is retried with exponential back-off for a day, after which the
endpoint is disabled and the team's webhook managers are emailed."""


@router.get(
    "/event-types",
    name="webhooks.event_types",
    responses=problem_responses(401, 403, 404, 422),
    description="The CloudEvent types an endpoint may subscribe to (or `*` for all).",
)
async def event_types(access: CanManageWebhooks, tag: ETagDep) -> EventTypeList:
    return tag(EventTypeList(event_types=sorted(WEBHOOK_EVENT_TYPES)))


@router.post(
    "",
    name="webhooks.create",
    status_code=201,
    responses=problem_responses(401, 403, 404, 409, 422),
    description="Register an HTTPS endpoint on a public address. The answer holds the "
    "secret, shown this once. A personal API token needs, besides webhooks.manage, the read "
    "scope of each event type chosen (teams.read, projects.read, tasks.read, comments.read)."
    "\n\n" + SIGNING,
)
async def create_webhook(
    data: WebhookCreate,
    access: CanManageWebhooks,
    claims: CurrentClaims,
    uow: UnitOfWorkDep,
    poster: PosterDep,
    cipher: CipherDep,
    clock: ClockDep,
) -> WebhookWithSecret:
    return await service.create_endpoint(uow, access, data, poster, cipher, clock(), claims.scopes)


@router.get("", name="webhooks.list", responses=problem_responses(401, 403, 404, 422))
async def list_webhooks(
    access: CanManageWebhooks, session: SessionDep, clock: ClockDep, tag: ETagDep
) -> WebhookList:
    now = clock()
    endpoints = await service.list_endpoints(session, access.team_id)
    return tag(WebhookList(items=[service.endpoint_read(e, now) for e in endpoints]))


@router.get("/{webhook_id}", name="webhooks.get", responses=problem_responses(401, 403, 404, 422))
async def get_webhook(
    webhook_id: uuid.UUID,
    access: CanManageWebhooks,
    session: SessionDep,
    clock: ClockDep,
    tag: ETagDep,
) -> WebhookRead:
    endpoint = await service.get_endpoint(session, access.team_id, webhook_id)
    return tag(service.endpoint_read(endpoint, clock()))


@router.patch(
    "/{webhook_id}",
    name="webhooks.update",
    responses=problem_responses(401, 403, 404, 422),
    description="Change the URL, description or event types; `enabled: true` re-enables a "
    "disabled endpoint (after failures, its pending deliveries go again, in order). Whoever "
    "changes the URL or re-enables it answers for it from then on (`created_by`). A personal "
    "API token changing the URL or types, or re-enabling, needs the types' read scopes.",
)
async def update_webhook(
    webhook_id: uuid.UUID,
    data: WebhookUpdate,
    access: CanManageWebhooks,
    claims: CurrentClaims,
    uow: UnitOfWorkDep,
    poster: PosterDep,
    clock: ClockDep,
    precondition: IfMatchDep,
    tag: ETagDep,
) -> WebhookRead:
    return tag(
        await service.update_endpoint(
            uow, access, webhook_id, data, poster, clock(), precondition, claims.scopes
        )
    )


@router.delete(
    "/{webhook_id}",
    name="webhooks.delete",
    status_code=204,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_webhook(
    webhook_id: uuid.UUID,
    access: CanManageWebhooks,
    uow: UnitOfWorkDep,
    clock: ClockDep,
    precondition: IfMatchDep,
) -> Response:
    await service.delete_endpoint(uow, access.team_id, webhook_id, clock(), precondition)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    name="webhooks.rotate_secret",
    responses=problem_responses(401, 403, 404, 422),
    description="A new secret, shown this once. The old one keeps signing beside it for the "
    "grace period (a day by default; `rotation_ends_at`), then only the new one signs.",
)
async def rotate_secret(
    webhook_id: uuid.UUID,
    access: CanManageWebhooks,
    uow: UnitOfWorkDep,
    clock: ClockDep,
    grace: GraceDep,
    cipher: CipherDep,
) -> WebhookWithSecret:
    return await service.rotate_secret(uow, access.team_id, webhook_id, clock(), grace, cipher)


@router.get(
    "/{webhook_id}/deliveries",
    name="webhooks.deliveries",
    responses=problem_responses(400, 401, 403, 404, 422),
    description="Newest first, with each one's last attempt (status code, latency, error).",
)
async def list_deliveries(
    webhook_id: uuid.UUID,
    access: CanManageWebhooks,
    session: SessionDep,
    page: PageParamsDep,
    status: Annotated[DeliveryStatus | None, Query(description="Only these.")] = None,
) -> Page[DeliveryRead]:
    items, cursor = await service.list_deliveries(session, access.team_id, webhook_id, page, status)
    return Page(items=items, next_cursor=cursor)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    name="webhooks.redeliver",
    status_code=202,
    responses=problem_responses(401, 403, 404, 409, 422),
    description="Send a delivered or failed delivery's event again: a new delivery (its own "
    "webhook-id, the same body) after the endpoint's pending ones.",
)
async def redeliver(
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    access: CanManageWebhooks,
    uow: UnitOfWorkDep,
    clock: ClockDep,
) -> DeliveryRead:
    return await service.redeliver(uow, access.team_id, webhook_id, delivery_id, clock())

"""/notifications (the feed, mark read), /settings/notifications (email preferences and the
reminder lead time) and /events (the live stream of the signed-in browser). Forms post and
redirect (303); htmx, where scripts run, swaps only the part that changed."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.config import WebSettings
from taskflow_web.deps import ApiDep, CsrfChecked, PageDep, SignedInDep, WebSessionDep
from taskflow_web.notifications import service
from taskflow_web.notifications.schemas import MarkReadForm, PreferencesForm
from taskflow_web.pages import rules as page_rules
from taskflow_web.pages.service import Form as FormState
from taskflow_web.replica.service import PageCache

router = APIRouter(include_in_schema=False, dependencies=[CsrfChecked])

FEED = "/notifications"
SETTINGS = "/settings/notifications"
CursorQuery = Annotated[str, Query(max_length=512)]
# How often the relay looks at the token's lifetime while the stream is quiet.
RELAY_CHECK_SECONDS = 5.0


def _badge(request: Request) -> service.UnreadBadge:
    badge: service.UnreadBadge = request.app.state.unread_badge
    return badge


def _fragment(request: Request) -> bool:
    """An htmx swap of a part of the page (not a boosted link or form, which gets a page)."""
    return "hx-request" in request.headers and "hx-boosted" not in request.headers


def _feed_url(cursor: str | None, unread_only: bool) -> str:
    query = {k: v for k, v in (("unread", "true" if unread_only else ""), ("cursor", cursor)) if v}
    return FEED + (f"?{urlencode(query)}" if query else "")


def _more(next_cursor: str | None, unread_only: bool) -> dict[str, Any]:
    """The "Load more" link: the next page's address (no script) and its items' (htmx)."""
    if not next_cursor:
        return {"more_url": None, "more_fragment": None}
    query = urlencode({"cursor": next_cursor, "unread": unread_only})
    return {
        "more_url": _feed_url(next_cursor, unread_only),
        "more_fragment": f"{FEED}/more?{query}",
    }


@router.get(FEED)
async def feed_page(
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
    cursor: CursorQuery = "",
    unread: bool = False,
) -> HTMLResponse:
    items, next_cursor = await service.feed(api, cursor or None, unread)
    context: dict[str, Any] = {
        "items": items,
        "unread_only": unread,
        **_more(next_cursor, unread),
        "back": _feed_url(cursor or None, unread),
        "first_page": not cursor,
        # What app.js copies for a notification that arrives live (filled in by script).
        "template_item": service.Item(
            id="new", title="", body="", href="/", unread=True, created_at="", when="", actor=""
        ),
    }
    return await page.render("notifications/feed.html", **context)


@router.get(f"{FEED}/more")
async def feed_more(
    _: SignedInDep, api: ApiDep, page: PageDep, cursor: CursorQuery = "", unread: bool = False
) -> HTMLResponse:
    """The next page's items, appended by "Load more" (htmx); its own "Load more" goes in
    place of the old one."""
    items, next_cursor = await service.feed(api, cursor or None, unread)
    return await page.render(
        "notifications/more.html",
        items=items,
        back=_feed_url(None, unread),
        **_more(next_cursor, unread),
    )


@router.post(f"{FEED}/{{notification_id}}/read")
async def mark_read(
    notification_id: uuid.UUID,
    data: Annotated[MarkReadForm, Form()],
    request: Request,
    session: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    item = await service.mark_read(api, notification_id)
    _badge(request).forget(session.user_id)
    if _fragment(request):
        return await page.render("notifications/item_read.html", item=item, back=data.back)
    return RedirectResponse(_back(data.back), 303)


@router.post(f"{FEED}/read-all")
async def mark_all_read(
    data: Annotated[MarkReadForm, Form()],
    request: Request,
    session: SignedInDep,
    api: ApiDep,
    page: PageDep,
) -> Response:
    marked = await service.mark_all_read(api)
    _badge(request).forget(session.user_id)
    await page.flash(
        f"{marked} notification{'s' if marked != 1 else ''} marked read."
        if marked
        else "Nothing was unread."
    )
    return RedirectResponse(_back(data.back), 303)


def _back(target: str) -> str:
    """Back to the feed as it was shown (only the feed: never another page or site)."""
    safe = page_rules.safe_next(target)
    return safe if safe.split("?", 1)[0] == FEED else FEED


@router.get(SETTINGS)
async def preferences_page(_: SignedInDep, api: ApiDep, page: PageDep) -> HTMLResponse:
    found, version = await service.preferences(api)
    return await page.render(
        "notifications/preferences.html", form=FormState.of(found), version=version
    )


@router.post(SETTINGS)
async def save_preferences(
    data: Annotated[PreferencesForm, Form()], _: SignedInDep, api: ApiDep, page: PageDep
) -> Response:
    values = data.model_dump(exclude={"csrf_token", "version"})
    try:
        await service.save_preferences(api, values, data.version)
    except ApiProblem as problem:
        form = FormState.of(values).fail(problem, (*service.PREFERENCE_FIELDS, service.LEAD_FIELD))
        if problem.status == 412:
            form.detail = service.STALE
        return await page.render(
            "notifications/preferences.html", status=problem.status, form=form, version=data.version
        )
    await page.flash("Your notification settings are saved.")
    return RedirectResponse(SETTINGS, 303)


@router.get("/events")
async def events(
    request: Request,
    session: WebSessionDep,
    api: ApiDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=256)] = None,
) -> Response:
    """The signed-in browser's live stream: notify's, relayed with the person's token.
    Without a signed-in session: 401 (an EventSource then stops trying)."""
    if not session.signed_in:
        return PlainTextResponse(
            "Sign in to receive live updates.", 401, headers={"Cache-Control": "no-store"}
        )
    settings: WebSettings = request.app.state.settings
    kept_pages: PageCache = request.app.state.page_cache

    async def changed() -> None:
        await kept_pages.changed_by(session.user_id)

    relay = service.Relay(
        api,
        last_event_id,
        margin_seconds=settings.refresh_margin_seconds,
        check_seconds=getattr(request.app.state, "relay_check_seconds", RELAY_CHECK_SECONDS),
        headers=dict(api.headers),
        on_change=changed,
    )
    return StreamingResponse(
        relay.events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

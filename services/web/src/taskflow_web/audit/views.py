"""/settings/security: the signed-in person's security activity; /teams/{id}/audit: the
team's audit log, for whoever holds ``audit.read`` (the API answers the others: 403 for a
member, 404 for anyone else, shown as pages).

Both are GET forms (filters change nothing): a filter the API refuses comes back beside
its field, with the page's status. "Load more" is a link to the next page; htmx, where
scripts run, appends the next entries instead."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.responses import Response

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.audit import rules, service
from taskflow_web.audit.schemas import FILTER_FIELDS, Filters
from taskflow_web.deps import ApiDep, CsrfChecked, PageDep, SignedInDep
from taskflow_web.pages.service import Form as FormState

router = APIRouter(include_in_schema=False, dependencies=[CsrfChecked])

OWN = "/settings/security"
CursorQuery = Annotated[str, Query(max_length=512)]
KindQuery = Annotated[list[str], Query(max_length=len(rules.KINDS))]
TextQuery = Annotated[str, Query(max_length=64)]


def _filters(kind: list[str], actor: str, since: str, until: str) -> Filters:
    return Filters(kinds=[k[:40] for k in kind], actor=actor, since=since, until=until)


def _query(filters: Filters, cursor: str | None = None) -> str:
    pairs: list[tuple[str, str]] = [("kind", kind) for kind in filters.kinds]
    pairs += [(name, value) for name, value in filters.values().items() if value]
    if cursor:
        pairs.append(("cursor", cursor))
    return urlencode(pairs)


def _more(path: str, filters: Filters, next_cursor: str | None) -> dict[str, Any]:
    """The "Load more" link: the next page's address (no script) and its entries' (htmx)."""
    if not next_cursor:
        return {"more_url": None, "more_fragment": None}
    query = _query(filters, next_cursor)
    return {"more_url": f"{path}?{query}", "more_fragment": f"{path}/more?{query}"}


async def _render(
    page: PageDep,
    path: str,
    filters: Filters,
    load: Any,
    offered: tuple[str, ...] | list[str],
    **context: Any,
) -> Response:
    """The log page: ``load()`` gives its entries; a filter the API refuses (400, 422)
    shows beside its field, with no entries."""
    form = FormState.of(filters.values())
    status, log = 200, service.Log()
    try:
        log = await load()
    except ApiProblem as problem:
        if problem.status not in (400, 422):
            raise
        status, form = problem.status, form.fail(problem, FILTER_FIELDS)
    return await page.render(
        "audit/log.html",
        status=status,
        form=form,
        path=path,
        entries=log.entries,
        kinds=[(kind, rules.KINDS[kind]) for kind in offered],
        chosen=rules.chosen_kinds(filters.kinds, offered),
        filtered=bool(filters.params()),
        **_more(path, filters, log.next_cursor),
        **context,
    )


@router.get(OWN)
async def own_page(
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
    kind: KindQuery = [],  # noqa: B006 - FastAPI copies a query default
    since: TextQuery = "",
    until: TextQuery = "",
    cursor: CursorQuery = "",
) -> Response:
    filters = _filters(kind, "", since, until)
    return await _render(
        page,
        OWN,
        filters,
        lambda: service.own_log(api, filters, cursor or None),
        list(rules.KINDS),
        title="Security activity",
        team=None,
        members=[],
    )


@router.get(f"{OWN}/more")
async def own_more(
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
    kind: KindQuery = [],  # noqa: B006
    since: TextQuery = "",
    until: TextQuery = "",
    cursor: CursorQuery = "",
) -> Response:
    filters = _filters(kind, "", since, until)
    log = await service.own_log(api, filters, cursor or None)
    return await page.render(
        "audit/more.html", entries=log.entries, **_more(OWN, filters, log.next_cursor)
    )


@router.get("/teams/{team_id}/audit")
async def team_page(
    team_id: uuid.UUID,
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
    kind: KindQuery = [],  # noqa: B006
    actor: TextQuery = "",
    since: TextQuery = "",
    until: TextQuery = "",
    cursor: CursorQuery = "",
) -> Response:
    path = f"/teams/{team_id}/audit"
    filters = _filters(kind, actor, since, until)
    # An outsider's 404 comes from the team, a member's 403 from the log (as pages).
    header = await service.team_header(api, team_id)
    return await _render(
        page,
        path,
        filters,
        lambda: service.team_log(api, team_id, filters, cursor or None),
        rules.TEAM_KINDS,
        title=f"Audit log of {header.team['name']}",
        team=header.team,
        members=header.members,
    )


@router.get("/teams/{team_id}/audit/more")
async def team_more(
    team_id: uuid.UUID,
    _: SignedInDep,
    api: ApiDep,
    page: PageDep,
    kind: KindQuery = [],  # noqa: B006
    actor: TextQuery = "",
    since: TextQuery = "",
    until: TextQuery = "",
    cursor: CursorQuery = "",
) -> Response:
    filters = _filters(kind, actor, since, until)
    log = await service.team_log(api, team_id, filters, cursor or None)
    path = f"/teams/{team_id}/audit"
    return await page.render(
        "audit/more.html", entries=log.entries, **_more(path, filters, log.next_cursor)
    )

"""/teams: the teams the signed-in person belongs to (the teams pages build on it)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from taskflow_web.deps import ApiDep, CsrfChecked, PageDep, SignedInDep
from taskflow_web.teams import service

router = APIRouter(include_in_schema=False, dependencies=[CsrfChecked])


@router.get("/teams")
async def teams_page(_: SignedInDep, api: ApiDep, page: PageDep) -> HTMLResponse:
    return await page.render("teams.html", teams=await service.my_teams(api))

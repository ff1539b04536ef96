"""The pages problem documents point to: ``type`` is ``/problems/<slug>``, and a person (or
a client developer) who opens it reads what the problem means and what to do."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from taskflow_web.deps import CsrfChecked, PageDep
from taskflow_web.problems import service

router = APIRouter(prefix="/problems", include_in_schema=False, dependencies=[CsrfChecked])

SlugPath = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]


@router.get("")
async def catalogue(page: PageDep) -> HTMLResponse:
    return await page.render("problems/catalogue.html", problems=service.catalogue())


@router.get("/{slug}")
async def problem_type(slug: SlugPath, page: PageDep) -> HTMLResponse:
    found = service.problem_type(slug)
    if found is None:
        raise HTTPException(404, "TaskFlow answers no problem of this type.")
    return await page.render(
        # Between backticks: a name to type as written (shown as code).
        "problems/type.html",
        slug=slug,
        problem=found,
        parts=found.meaning.split("`"),
    )

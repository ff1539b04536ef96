"""A query parameter a route does not declare, or a single-valued one repeated, answers
400 problem+json naming it; declared ones (pagination's too) and repeated list values pass."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import BaseModel
from taskflow_chassis.pagination import PageParamsDep
from taskflow_chassis.problems import install_problem_handlers
from taskflow_chassis.query_params import install_query_check


class Window(BaseModel):
    since: int | None = None
    tags: list[str] = []


async def flag(verbose: bool = False) -> bool:
    return verbose


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_query_check(app)
    router = APIRouter()

    @router.get("/things")
    async def things(
        page: PageParamsDep,
        verbose: Annotated[bool, Depends(flag)],
        status: Annotated[list[str] | None, Query()] = None,
        sort: str = "name",
    ) -> dict[str, Any]:
        return {"status": status, "sort": sort, "limit": page.limit, "verbose": verbose}

    @router.get("/windows")
    async def windows(window: Annotated[Window, Query()]) -> Window:
        return window

    @router.get("/plain/{thing_id}")
    async def plain(thing_id: int) -> int:
        return thing_id

    app.include_router(router)
    return app


async def get(app: FastAPI, url: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(url)


async def test_declared_parameters_pass_and_list_values_repeat() -> None:
    app = make_app()
    response = await get(app, "/things?status=a&status=b&sort=x&limit=3&cursor=&verbose=true")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": ["a", "b"], "sort": "x", "limit": 3, "verbose": True}
    assert (await get(app, "/windows?since=3&tags=a&tags=b")).json() == {
        "since": 3,
        "tags": ["a", "b"],
    }
    assert (await get(app, "/plain/7")).json() == 7


async def test_an_unknown_parameter_answers_400_naming_it() -> None:
    app = make_app()
    for url, names in [
        ("/things?stauts=a&status=b", ["stauts"]),
        ("/things?zeta=1&alpha=2", ["alpha", "zeta"]),
        ("/windows?until=3", ["until"]),
        ("/plain/7?limit=3", ["limit"]),  # paging is declared only where a route pages
    ]:
        response = await get(app, url)
        assert response.status_code == 400, url
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"].endswith("/unknown-query-parameter")
        assert [error["loc"] for error in problem["errors"]] == [["query", n] for n in names]
        assert all(f"`{name}`" in problem["detail"] for name in names)


async def test_a_single_valued_parameter_repeated_answers_400() -> None:
    app = make_app()
    for url, name in [
        ("/things?sort=a&sort=b", "sort"),
        ("/things?limit=1&limit=2", "limit"),
        ("/things?verbose=true&verbose=false", "verbose"),
        ("/windows?since=1&since=2", "since"),
    ]:
        response = await get(app, url)
        assert response.status_code == 400, url
        problem = response.json()
        assert problem["type"].endswith("/repeated-query-parameter")
        assert problem["errors"][0]["loc"] == ["query", name]


async def test_every_route_documents_the_400() -> None:
    schema = make_app().openapi()
    for operations in schema["paths"].values():
        for operation in operations.values():
            assert "400" in operation["responses"]

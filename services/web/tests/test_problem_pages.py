"""A problem document's ``type`` opens a page: ``/problems/<slug>`` relative to the address
asked, served by web from the catalogue, so a client developer who follows it reads what
the problem means and what to do."""

from __future__ import annotations

import httpx
from taskflow_contracts.problems import PROBLEM_TYPES
from taskflow_embedded.main import Dispatcher

from .conftest import ORIGIN


async def test_the_type_of_an_api_problem_opens_its_page(embedded: Dispatcher) -> None:
    transport = httpx.ASGITransport(app=embedded)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        refused = await client.get("/api/v1/teams")
        assert refused.status_code == 401
        problem = refused.json()
        assert problem["type"] == "/problems/unauthenticated"
        page = await client.get(str(httpx.URL(ORIGIN + "/api/v1/teams").join(problem["type"])))
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "<h1>Not authenticated</h1>" in page.text
        assert "<code>Authorization: Bearer &lt;token&gt;</code>" in page.text
        assert 'href="/problems"' in page.text

        catalogue = await client.get("/problems")
        assert catalogue.status_code == 200
        for slug in PROBLEM_TYPES:
            assert f'href="/problems/{slug}"' in catalogue.text

        for unknown in ("no-such-problem", "Task-Not-Found", "a" * 65, "..%2Fapi"):
            answer = await client.get(f"/problems/{unknown}")
            assert answer.status_code in {400, 404}, unknown
            assert answer.headers["content-type"].startswith("text/html"), unknown

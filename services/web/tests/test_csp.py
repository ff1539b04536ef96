"""Every web answer carries the Content-Security-Policy (and Referrer- and
Permissions-Policy), and no page needs what it forbids: no inline <script>, no <style>
element, no style attribute, no on* attribute, no javascript: URL, in any template or any
page as rendered for a signed-in person."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from taskflow_embedded.main import Dispatcher
from taskflow_web.pages.adapters import CONTENT_SECURITY_POLICY, SECURITY_HEADERS
from taskflow_web.pages.service import STATIC_DIR

from .conftest import ORIGIN, Browser, browser_for, embedded_runtime, participant, until_status
from .test_csrf import _routes

TEMPLATES = STATIC_DIR.parent / "templates"
# Jinja's own syntax, blanked before the HTML is parsed ({{ }} in attribute values, {% %}).
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


class InlineCode(HTMLParser):
    """What a strict CSP refuses to run or apply, found in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name.lower(): value or "" for name, value in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("an inline <script>")
        if tag == "style":
            self.found.append("a <style> element")
        for name, value in names.items():
            if name == "style":
                self.found.append(f"style= on <{tag}>")
            if name.startswith("on"):
                self.found.append(f"{name}= on <{tag}>")
            if name.startswith("hx-on"):
                self.found.append(f"{name}= on <{tag}> (htmx evaluates it)")
            if value.strip().lower().startswith("javascript:"):
                self.found.append(f"a javascript: URL in {name}= on <{tag}>")


def inline_code(text: str) -> list[str]:
    parser = InlineCode()
    parser.feed(JINJA.sub("", text))
    parser.close()
    return parser.found


def test_the_policy_is_strict() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "connect-src": "'self'",
        "frame-ancestors": "'none'",
        "form-action": "'self'",
        "base-uri": "'none'",
    }
    assert SECURITY_HEADERS["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize(
    "template",
    sorted(TEMPLATES.rglob("*.html")),
    ids=lambda path: str(path.relative_to(TEMPLATES)),
)
def test_no_template_has_inline_script_or_style(template: Path) -> None:
    assert inline_code(template.read_text()) == []


def test_the_inline_code_check_finds_what_it_must() -> None:
    page = (
        '<script>alert(1)</script><style>p{}</style><p style="x" onclick="y">'
        '<a href="javascript:z" hx-on:click="w">'
    )
    assert len(inline_code(page)) == 6
    assert inline_code('<script src="/static/app.js" defer></script>') == []


def test_htmx_is_told_to_add_no_style_and_eval_nothing() -> None:
    base = (TEMPLATES / "base.html").read_text()
    meta = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'>', base)
    assert meta is not None
    assert '"includeIndicatorStyles": false' in meta.group(1)
    assert '"allowEval": false' in meta.group(1)
    assert ".htmx-indicator" in (STATIC_DIR / "app.css").read_text()


@dataclass
class Signed:
    dispatcher: Dispatcher
    ada: Browser
    ids: dict[str, str]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def signed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Signed]:
    """ada, signed in, with a team, a project and a task (so their pages render whole)."""
    data = tmp_path_factory.mktemp("csp")
    async with embedded_runtime(data) as dispatcher:
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=dispatcher), base_url=ORIGIN)
        ada = browser_for(dispatcher.apps["web"], data / "mail")
        async with api, ada.client:
            token = await participant(api, ada, "ada", "+14155550191")
            key = {"Authorization": f"Bearer {token}"}
            team = (
                await until_status(  # the profile reaches teams by an event
                    lambda: api.post("/api/v1/teams", headers=key, json={"name": "Crew"}), 201
                )
            ).json()
            roles = (await api.get(f"/api/v1/teams/{team['id']}/roles", headers=key)).json()
            project = (
                await api.post(
                    "/api/v1/projects", headers=key, json={"team_id": team["id"], "name": "P"}
                )
            ).json()
            task = (
                await api.post(
                    f"/api/v1/projects/{project['id']}/tasks", headers=key, json={"title": "T"}
                )
            ).json()
            ids = {
                "team_id": team["id"],
                "role_id": roles["items"][0]["id"],
                "project_id": project["id"],
                "task_id": task["id"],
            }
            yield Signed(dispatcher, ada, ids)


def assert_secured(answer: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get_list(name) == [value], f"{answer.url}: {name}"


@pytest.mark.asyncio(loop_scope="module")
async def test_every_page_carries_the_policy_and_needs_nothing_it_forbids(
    signed: Signed,
) -> None:
    web = signed.dispatcher.apps["web"]
    pages = [
        route.path
        for route in _routes(web.routes)
        if "GET" in (route.methods or set()) and route.path != "/events"  # a stream, below
    ]
    assert {"/", "/login", "/teams/{team_id}", "/tasks/{task_id}"} <= set(pages)
    statuses = {}
    for path in pages:
        url = re.sub(r"\{(\w+)\}", lambda m: signed.ids.get(m.group(1), str(uuid.uuid4())), path)
        answer = await signed.ada.client.get(url)
        statuses[path] = answer.status_code
        assert_secured(answer)
        if answer.headers.get("content-type", "").startswith("text/html"):
            assert inline_code(answer.text) == [], url
    whole = ["/teams", "/teams/{team_id}", "/projects/{project_id}", "/tasks/{task_id}", "/profile"]
    assert [statuses[path] for path in whole] == [200] * len(whole), statuses


@pytest.mark.asyncio(loop_scope="module")
async def test_static_files_errors_redirects_and_refusals_carry_it_too(signed: Signed) -> None:
    client = signed.ada.client
    for answer in (
        await client.get("/static/app.css"),
        await client.get("/no-such-page"),
        await client.get(f"/teams/{uuid.uuid4()}"),  # the API's 404 as a page
        await client.post("/logout"),  # no CSRF token: 403
        await client.get("/login"),  # signed in: a redirect
    ):
        assert_secured(answer)
    anonymous = browser_for(signed.dispatcher.apps["web"], Path("unused"))
    async with anonymous.client:
        assert_secured(await anonymous.client.get("/events"))  # 401 without a session
        assert_secured(await anonymous.client.get("/teams"))  # to the sign-in page

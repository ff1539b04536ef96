"""Pages as web renders them: the layout's context (who is signed in, the CSRF token, a
one-time message), static files by versioned URL, and forms that keep what was typed and
show the API's problem next to the field at fault."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Scope

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.api.service import Api
from taskflow_web.pages import rules
from taskflow_web.replica.adapters import MemoryGenerations
from taskflow_web.replica.service import PageCache
from taskflow_web.sessions import rules as session_rules

PACKAGE = Path(__file__).resolve().parents[1]
TEMPLATES_DIR = PACKAGE / "templates"
STATIC_DIR = PACKAGE / "static"
# Versioned URLs never change content: a year, immutable.
STATIC_CACHE = "public, max-age=31536000, immutable"
# A page shown with one of these statuses says when to try again (Retry-After).
RETRY_STATUSES = frozenset({429, 503})


class VersionedStatic(StaticFiles):
    """/static/: each URL carries its file's hash (``?v=``), so it is cached for good."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = STATIC_CACHE
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 404:
            response.headers["Cache-Control"] = "no-store"
        return response


def static_versions(directory: Path = STATIC_DIR) -> dict[str, str]:
    """Each static file's path (from /static/) and the start of its SHA-256."""
    return {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


# What the layout of every signed-in page shows besides the page (the unread badge):
# each hook answers more of the layout's context, called with the page's API.
LayoutHook = Callable[[Api], Awaitable[Mapping[str, Any]]]


class Renderer:
    """The Jinja2 templates, with ``static_url(name)`` for versioned static URLs."""

    def __init__(self, versions: Mapping[str, str]) -> None:
        self.versions = dict(versions)
        self.layout_hooks: list[LayoutHook] = []
        self.templates = Jinja2Templates(directory=TEMPLATES_DIR)
        self.templates.env.globals["static_url"] = self.static_url

    def static_url(self, name: str) -> str:
        return f"/static/{name}?v={self.versions[name]}"

    def render(
        self, request: Request, template: str, context: Mapping[str, Any], status: int = 200
    ) -> HTMLResponse:
        response = self.templates.TemplateResponse(
            request, template, dict(context), status_code=status
        )
        response.headers["Cache-Control"] = "no-store"
        return response


@dataclass
class Form:
    """A form's values as typed, and the messages to show: by field, and at the top."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    detail: str | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, values: Mapping[str, Any] | None = None, *, hide: Iterable[str] = ()) -> Form:
        """The typed values, without the ones never shown again (passwords, CSRF)."""
        hidden = {"csrf_token", *hide}
        return cls({k: str(v) for k, v in (values or {}).items() if k not in hidden and v})

    def fail(
        self, problem: ApiProblem, fields: Iterable[str], aliases: Mapping[str, str] | None = None
    ) -> Form:
        """The API's problem placed on the form: field errors beside their fields, the
        problem's ``detail`` (and errors about fields not shown) at the top."""
        self.errors, self.notes = rules.field_errors(problem.errors, fields, aliases)
        self.detail = problem.detail
        return self

    @property
    def invalid(self) -> bool:
        return bool(self.errors or self.detail)


class Page:
    """What a route renders with: the layout's context comes with every page."""

    def __init__(
        self, request: Request, renderer: Renderer, api: Api, kept: PageCache | None = None
    ) -> None:
        self.request, self.renderer, self.api = request, renderer, api
        # What the person's pages read and rendered, kept until their data changes.
        self.kept = kept or PageCache(MemoryGenerations(), enabled=False)
        self._form_token: str | None = None

    def form_token(self) -> str:
        """This rendering's CSRF token: every form of the page carries the same one."""
        if self._form_token is None:
            self._form_token = session_rules.form_token(self.api.session.csrf_token)
        return self._form_token

    @property
    def fresh(self) -> bool:
        """The browser asks for the page afresh (a hard reload: ``Cache-Control:
        no-cache``): nothing kept is shown."""
        return "no-cache" in self.request.headers.get("cache-control", "")

    def render_part(self, template: str, **context: Any) -> str:
        """A template without the layout (a part of a page, which may be kept): only what
        ``context`` names, nothing of the request's."""
        return self.renderer.templates.env.get_template(template).render(context)

    async def flash(self, message: str) -> None:
        """A message for the next page this browser opens (after a redirect)."""
        await self.api.store.set_flash(self.api.session, message)

    async def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        layout: dict[str, Any] = {}
        if self.api.session.signed_in:
            for hook in self.renderer.layout_hooks:
                layout.update(await hook(self.api))
        session = self.api.session  # as the page's calls left it (refreshed, signed in)
        flash = session.flash
        if flash:
            await self.api.store.set_flash(session, None)  # shown once
        page = self.renderer.render(
            self.request,
            template,
            {
                "user": {"id": session.user_id, "username": session.username}
                if session.signed_in
                else None,
                "csrf_token": self.form_token(),
                "flash": flash,
                "path": self.request.url.path,
                **layout,
                **context,
            },
            status,
        )
        if status in RETRY_STATUSES and self.api.retry_after:
            page.headers["Retry-After"] = self.api.retry_after  # as the API's answer said
        return page

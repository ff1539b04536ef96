"""The four services' public API, as web calls it: through the gateway like any client
(httpx), each answer either JSON or an RFC 9457 problem document turned into ``ApiProblem``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ApiUnavailable(Exception):
    """The API did not answer, or answered 5xx: nothing the person can fix by editing.
    ``retry_after``: the answer's ``Retry-After``, which the error page passes on."""

    def __init__(self, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class ApiProblem(Exception):
    """A 4xx problem document: ``detail`` for the top of a form, ``errors`` by field."""

    status: int
    title: str
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    type: str = "about:blank"
    # When to try again (a 429's ``Retry-After``), for the page that shows the problem.
    retry_after: str | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiProblem:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        errors = body.get("errors")
        return cls(
            status=response.status_code,
            title=str(body.get("title") or response.reason_phrase),
            detail=str(body.get("detail") or body.get("title") or response.reason_phrase),
            errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else [],
            type=str(body.get("type") or "about:blank"),
            retry_after=response.headers.get("retry-after"),
        )


def api_client(
    base_url: str,
    transport: httpx.AsyncBaseTransport | None,
    timeout: float,
    *,
    verify: bool = True,
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        timeout=timeout,
        verify=verify,
        headers={"Accept": "application/json"},
        follow_redirects=False,
    )


async def send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """One call; a network failure or a 5xx is ``ApiUnavailable``."""
    try:
        response = await client.send(request)
    except httpx.HTTPError as exc:
        raise ApiUnavailable(f"{request.method} {request.url.path}: {exc}") from exc
    if response.status_code >= 500:
        raise ApiUnavailable(
            f"{request.method} {request.url.path}: {response.status_code}",
            response.headers.get("retry-after"),
        )
    return response


def json_of(response: httpx.Response) -> Any:
    """The body of a success (``None`` for 204), or the ``ApiProblem`` of a 4xx."""
    if response.status_code >= 400:
        raise ApiProblem.from_response(response)
    if response.status_code == 204 or not response.content:
        return None
    return response.json()

"""The gateway as configured: routes requests the way gateway/dynamic.yml says Traefik would.

For machines with no Traefik (``make up``, the system tests): it parses the file
provider's routers (rule, priority, middlewares, service), picks the matching
router of highest priority, runs the forwardAuth and header middlewares, and
forwards to the service's local address. A route missing from gateway/ is missing
here too, so the system tests catch it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[3]
DYNAMIC = ROOT / "gateway" / "dynamic.yml"

_TOKEN = re.compile(r"\s*(\|\||&&|!|\(|\)|(?P<fn>[A-Za-z]+)\(`(?P<arg>[^`]*)`\))")


class Rule:
    """A parsed Traefik rule over Path, PathPrefix and Method, with &&, || and !."""

    def __init__(self, text: str) -> None:
        self.text = " ".join(text.split())
        self.tokens = self._tokens(self.text)
        self.pos = 0
        self.tree = self._or()
        if self.pos != len(self.tokens):
            raise ValueError(f"cannot parse rule {self.text!r}")

    @staticmethod
    def _tokens(text: str) -> list[tuple[str, str]]:
        tokens, index = [], 0
        while index < len(text):
            match = _TOKEN.match(text, index)
            if not match:
                raise ValueError(f"cannot parse rule {text!r} at {text[index:]!r}")
            tokens.append(
                (match.group("fn"), match.group("arg"))
                if match.group("fn")
                else (match.group(1).strip(), "")
            )
            index = match.end()
            while index < len(text) and text[index] == " ":
                index += 1
        return tokens

    def _peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def _or(self) -> Any:
        node = self._and()
        while self._peek() == "||":
            self.pos += 1
            node = ("or", node, self._and())
        return node

    def _and(self) -> Any:
        node = self._not()
        while self._peek() == "&&":
            self.pos += 1
            node = ("and", node, self._not())
        return node

    def _not(self) -> Any:
        if self._peek() == "!":
            self.pos += 1
            return ("not", self._not())
        if self._peek() == "(":
            self.pos += 1
            node = self._or()
            assert self._peek() == ")", self.text
            self.pos += 1
            return node
        name, arg = self.tokens[self.pos]
        if name not in {"Path", "PathPrefix", "Method"}:
            raise ValueError(f"matcher {name} is not understood by the test gateway")
        self.pos += 1
        return (name, arg)

    def matches(self, method: str, path: str) -> bool:
        def evaluate(node: Any) -> bool:
            kind = node[0]
            if kind == "or":
                return evaluate(node[1]) or evaluate(node[2])
            if kind == "and":
                return evaluate(node[1]) and evaluate(node[2])
            if kind == "not":
                return not evaluate(node[1])
            if kind == "Path":
                return bool(path == node[1])
            if kind == "PathPrefix":
                return path.startswith(node[1])
            return bool(method.upper() == node[1].upper())

        return evaluate(self.tree)


@dataclass
class Router:
    name: str
    rule: Rule
    priority: int
    middlewares: list[str]
    service: str


def load(dynamic: Path = DYNAMIC) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(dynamic.read_text())
    return config


def routers(config: dict[str, Any] | None = None) -> list[Router]:
    config = config or load()
    found = [
        Router(
            name,
            Rule(r["rule"]),
            int(r.get("priority", len(r["rule"]))),
            list(r.get("middlewares", [])),
            r["service"],
        )
        for name, r in config["http"]["routers"].items()
    ]
    return sorted(found, key=lambda r: r.priority, reverse=True)


def route(method: str, path: str, config: dict[str, Any] | None = None) -> Router | None:
    for router in routers(config):
        if router.rule.matches(method, path):
            return router
    return None


class GatewayTransport(httpx.AsyncBaseTransport):
    """An httpx transport that behaves like the configured Traefik in front of local services."""

    def __init__(self, upstreams: dict[str, str], config: dict[str, Any] | None = None) -> None:
        self.config = config or load()
        self.routers = routers(self.config)
        self.middlewares: dict[str, Any] = self.config["http"]["middlewares"]
        self.upstreams = upstreams
        self.client = httpx.AsyncClient(timeout=30)
        self.routed: dict[str, int] = {}

    async def aclose(self) -> None:
        await self.client.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        router = next((r for r in self.routers if r.rule.matches(request.method, path)), None)
        if router is None:
            return httpx.Response(404, text="404 page not found", request=request)
        self.routed[router.name] = self.routed.get(router.name, 0) + 1
        headers = httpx.Headers(request.headers)
        for name in router.middlewares:
            middleware = self.middlewares[name]
            for header, value in (
                middleware.get("headers", {}).get("customRequestHeaders", {}).items()
            ):
                if value == "":
                    headers.pop(header, None)
            if "forwardAuth" in middleware:
                auth = middleware["forwardAuth"]
                verify_url = (
                    self.upstreams[urlservice(auth["address"])] + httpx.URL(auth["address"]).path
                )
                forwarded = {
                    k: v for k, v in headers.items() if k.lower() in {"authorization", "cookie"}
                }
                try:
                    answer = await self.client.get(verify_url, headers=forwarded)
                except httpx.TransportError as exc:
                    return bad_gateway(request, exc)
                if answer.status_code >= 300:
                    return httpx.Response(
                        answer.status_code,
                        headers=answer.headers,
                        content=answer.content,
                        request=request,
                    )
                for header in auth.get("authResponseHeaders", []):
                    if header in answer.headers:
                        headers[header] = answer.headers[header]
        headers.pop("host", None)
        upstream = httpx.URL(self.upstreams[router.service]).join(request.url.raw_path.decode())
        body = (
            request.content
            if request.stream is None or isinstance(request.stream, httpx.ByteStream)
            else await request.aread()
        )
        try:
            response = await self.client.request(
                request.method, upstream, headers=headers, content=body
            )
        except httpx.TransportError as exc:
            return bad_gateway(request, exc)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=response.content,
            request=request,
        )


def bad_gateway(request: httpx.Request, exc: httpx.TransportError) -> httpx.Response:
    """What Traefik answers when the service is down or dies mid-request (502), or does not
    answer in time (504); as a problem document, like every other error of TaskFlow."""
    status = 504 if isinstance(exc, httpx.TimeoutException) else 502
    title = "Gateway Timeout" if status == 504 else "Bad Gateway"
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": "The service behind this route did not answer; try again shortly.",
        "instance": request.url.path,
    }
    return httpx.Response(
        status,
        headers={"content-type": "application/problem+json", "retry-after": "2"},
        content=json.dumps(body).encode(),
        request=request,
    )


def urlservice(address: str) -> str:
    """The service name in a forwardAuth address (http://auth:8000/... → auth)."""
    return httpx.URL(address).host


class GatewayApp:
    """The gateway as an ASGI app (``make up`` serves it where Traefik would listen)."""

    def __init__(self, upstreams: dict[str, str]) -> None:
        self.transport = GatewayTransport(upstreams)
        self.client = httpx.AsyncClient(transport=self.transport, base_url="http://gateway")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        query = scope.get("query_string", b"").decode()
        url = scope["path"] + (f"?{query}" if query else "")
        response = await self.client.request(scope["method"], url, headers=headers, content=body)
        raw = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in response.headers.multi_items()
            if k.lower() not in {"content-length", "transfer-encoding", "content-encoding"}
        ]
        raw.append((b"content-length", str(len(response.content)).encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": raw})
        await send({"type": "http.response.body", "body": response.content})

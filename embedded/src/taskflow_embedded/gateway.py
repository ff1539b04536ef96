"""The gateway as configured: routes requests the way gateway/dynamic.yml says Traefik would.

For machines with no Traefik (``make up``, the system tests): it parses the file
provider's routers (rule, priority, middlewares, service), picks the matching
router of highest priority, runs its middlewares in order as Traefik v3 does
(rateLimit, buffering, headers, forwardAuth), sets X-Forwarded-For to the client
it saw, and forwards to the service's local address. One instance is one entry point
(``EntryPoint``): websecure trusts no client's X-Forwarded-*, internal (the web app's)
trusts web's, as gateway/traefik.yml configures them. A route or check missing from
gateway/ is missing here too, and an option it does not implement is refused at
start, so the system tests catch a regression in either.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[3]
DYNAMIC = ROOT / "gateway" / "dynamic.yml"
STATIC = ROOT / "gateway" / "traefik.yml"

_TOKEN = re.compile(
    r"\s*(\|\||&&|!|\(|\)|(?P<fn>[A-Za-z]+)\(`(?P<arg>[^`]*)`(?:\s*,\s*`(?P<arg2>[^`]*)`)?\))"
)


class Rule:
    """A parsed Traefik rule over Path, PathPrefix, PathRegexp, Method and HeaderRegexp,
    with &&, || and !."""

    def __init__(self, text: str) -> None:
        self.text = " ".join(text.split())
        self.tokens = self._tokens(self.text)
        self.pos = 0
        self.tree = self._or()
        if self.pos != len(self.tokens):
            raise ValueError(f"cannot parse rule {self.text!r}")

    @staticmethod
    def _tokens(text: str) -> list[tuple[str, Any]]:
        tokens: list[tuple[str, Any]] = []
        index = 0
        while index < len(text):
            match = _TOKEN.match(text, index)
            if not match:
                raise ValueError(f"cannot parse rule {text!r} at {text[index:]!r}")
            if not match.group("fn"):
                tokens.append((match.group(1).strip(), ""))
            elif match.group("arg2") is not None:  # HeaderRegexp(`name`, `regexp`)
                tokens.append((match.group("fn"), (match.group("arg"), match.group("arg2"))))
            else:
                tokens.append((match.group("fn"), match.group("arg")))
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
        if name not in {"Path", "PathPrefix", "PathRegexp", "Method", "HeaderRegexp"}:
            raise ValueError(f"matcher {name} is not understood by the test gateway")
        if (name == "HeaderRegexp") != isinstance(arg, tuple):
            raise ValueError(f"{name} takes {'two arguments' if name == 'HeaderRegexp' else 'one'}")
        self.pos += 1
        return (name, arg)

    def matches(
        self, method: str, path: str, headers: httpx.Headers | dict[str, str] | None = None
    ) -> bool:
        found = httpx.Headers(headers or {})

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
            if kind == "PathRegexp":
                return re.search(node[1], path) is not None
            if kind == "HeaderRegexp":
                name, pattern = node[1]
                return any(re.search(pattern, v) for v in found.get_list(name))
            return bool(method.upper() == node[1].upper())

        return evaluate(self.tree)


@dataclass
class Router:
    name: str
    rule: Rule
    priority: int
    middlewares: list[str]
    service: str
    entry_points: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntryPoint:
    """A Traefik entry point's forwardedHeaders: from a peer in ``trusted_ips`` (addresses
    or networks) the X-Forwarded-* and X-Real-Ip headers are kept, from anyone else they
    are removed; X-Real-Ip is then set to the peer unless kept. X-Forwarded-For gets the
    peer appended unless ``append_forwarded_for`` is off (notAppendXForwardedFor)."""

    name: str = "websecure"
    trusted_ips: tuple[str, ...] = ()
    append_forwarded_for: bool = True

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(net, strict=False) for net in self.trusted_ips)

    def static(self, address: str) -> dict[str, Any]:
        """The entry point in Traefik's static configuration."""
        config: dict[str, Any] = {"address": address}
        if self.trusted_ips:
            config["forwardedHeaders"] = {"trustedIPs": list(self.trusted_ips)}
            if not self.append_forwarded_for:
                config["forwardedHeaders"]["notAppendXForwardedFor"] = True
        return config


PUBLIC = EntryPoint("websecure")
# make up's internal entry point: web runs on this machine's loopback.
LOCAL_INTERNAL = EntryPoint("internal", ("127.0.0.1",), append_forwarded_for=False)


def load(dynamic: Path = DYNAMIC) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(dynamic.read_text())
    return config


def idle_timeouts(static: Path = STATIC) -> tuple[float, float]:
    """From Traefik's static configuration: how long a service's idle connection is kept
    for reuse (serversTransport), and how long a client's stays open (websecure)."""
    config: dict[str, Any] = yaml.safe_load(static.read_text())
    upstream = config["serversTransport"]["forwardingTimeouts"]["idleConnTimeout"]
    client = config["entryPoints"][PUBLIC.name]["transport"]["respondingTimeouts"]["idleTimeout"]
    return duration_seconds(upstream), duration_seconds(client)


def routers(config: dict[str, Any] | None = None) -> list[Router]:
    config = config or load()
    found = [
        Router(
            name,
            Rule(r["rule"]),
            int(r.get("priority", len(r["rule"]))),
            list(r.get("middlewares", [])),
            r["service"],
            tuple(r.get("entryPoints", ())),
        )
        for name, r in config["http"]["routers"].items()
    ]
    return sorted(found, key=lambda r: r.priority, reverse=True)


def route(
    method: str,
    path: str,
    config: dict[str, Any] | None = None,
    entry_point: str = "websecure",
    headers: dict[str, str] | None = None,
) -> Router | None:
    for router in routers(config):
        if entry_point in router.entry_points and router.rule.matches(method, path, headers):
            return router
    return None


# Traefik's entry point removes these from a client it does not trust (no
# forwardedHeaders.trustedIPs), then sets X-Forwarded-For and X-Real-Ip itself.
FORWARDED_HEADERS = (
    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
    "x-forwarded-server", "x-forwarded-uri", "x-forwarded-method", "x-forwarded-prefix",
    "x-forwarded-tls-client-cert", "x-forwarded-tls-client-cert-info", "x-real-ip",
)  # fmt: skip
HOP_BY_HOP = ("connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade")
# Go's http.Server: request line and headers beyond DefaultMaxHeaderBytes (+4 KiB slack) get 431.
MAX_HEADER_BYTES = (1 << 20) + 4096
CLIENT_ADDRESS = "client_address"


@dataclass
class Exchange:
    """One request on its way through a router's middlewares."""

    request: httpx.Request
    headers: httpx.Headers
    client: str
    body: bytes
    entry_point: EntryPoint = PUBLIC


Handler = Callable[[Exchange], Awaitable[httpx.Response]]
Middleware = Callable[[Exchange, Handler], Awaitable[httpx.Response]]


def duration_seconds(value: str | int | float) -> float:
    """A Traefik duration: Go's syntax ("1s", "500ms", "1m30s") or a number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValueError(f"not a duration: {value!r}")
    return sum(float(number) * units[unit] for number, unit in parts)


class TokenBucket:
    """golang.org/x/time/rate's limiter, as Traefik's rateLimit uses it: full at first,
    refilled at ``rate`` a second up to ``burst``; a reservation may leave it negative."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.updated = clock()

    def reserve(self) -> float:
        """Take a token; answer how long the request must wait for it (0: at once)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def cancel(self) -> None:
        self.tokens += 1


def rate_limit(config: dict[str, Any], clock: Callable[[], float]) -> Middleware:
    """Traefik's rateLimit: a token bucket per client IP, or per value of the header
    sourceCriterion.requestHeaderName names; a request that would wait longer than
    1/(2*rate) gets 429 with Retry-After, a shorter wait is served late."""
    _refuse_unknown("rateLimit", config, {"average", "period", "burst", "sourceCriterion"})
    criterion = config.get("sourceCriterion") or {}
    _refuse_unknown("rateLimit sourceCriterion", criterion, {"requestHeaderName"})
    header = criterion.get("requestHeaderName")
    average = int(config.get("average", 0))
    per_second = average / duration_seconds(config.get("period", "1s"))
    burst = max(1, int(config.get("burst", 1)))
    max_delay = 0.5 if per_second < 1 else 1 / (int(per_second) * 2)
    buckets: dict[str, TokenBucket] = {}

    async def limit(exchange: Exchange, call_next: Handler) -> httpx.Response:
        if average <= 0:
            return await call_next(exchange)
        source = exchange.headers.get(header, "") if header else exchange.client
        bucket = buckets.setdefault(source, TokenBucket(per_second, burst, clock))
        delay = bucket.reserve()
        if delay > max_delay:
            bucket.cancel()
            return httpx.Response(
                429,
                headers={"retry-after": str(math.ceil(delay)), "x-retry-in": f"{delay:.3f}s"},
                text="Too Many Requests",
                request=exchange.request,
            )
        if delay:
            await asyncio.sleep(delay)
        return await call_next(exchange)

    return limit


def buffering(config: dict[str, Any]) -> Middleware:
    """Traefik's buffering: a request body over maxRequestBodyBytes gets 413 before the
    service sees it; a response over maxResponseBodyBytes becomes a 500."""
    _refuse_unknown(
        "buffering",
        config,
        {"maxRequestBodyBytes", "memRequestBodyBytes", "maxResponseBodyBytes",
         "memResponseBodyBytes"},
    )  # fmt: skip
    max_request = int(config.get("maxRequestBodyBytes", 0))
    max_response = int(config.get("maxResponseBodyBytes", 0))

    async def buffer(exchange: Exchange, call_next: Handler) -> httpx.Response:
        if max_request and len(exchange.body) > max_request:
            return httpx.Response(413, text="Request Entity Too Large", request=exchange.request)
        response = await call_next(exchange)
        if max_response and len(response.content) > max_response:
            return httpx.Response(500, text="Internal Server Error", request=exchange.request)
        return response

    return buffer


SECURITY_OPTIONS = {
    "frameDeny", "customFrameOptionsValue", "contentTypeNosniff", "browserXssFilter",
    "customBrowserXSSValue", "referrerPolicy", "contentSecurityPolicy",
    "contentSecurityPolicyReportOnly", "permissionsPolicy", "stsSeconds",
    "stsIncludeSubdomains", "stsPreload", "forceSTSHeader", "isDevelopment",
}  # fmt: skip


def security_headers(config: dict[str, Any], secure: bool) -> dict[str, str]:
    """The response headers Traefik's headers middleware sets (unrolled/secure's rules)."""
    found: dict[str, str] = {}
    for header, custom, flag, flagged in (
        ("X-Frame-Options", "customFrameOptionsValue", "frameDeny", "DENY"),
        ("X-Content-Type-Options", None, "contentTypeNosniff", "nosniff"),
        ("X-XSS-Protection", "customBrowserXSSValue", "browserXssFilter", "1; mode=block"),
    ):
        value = (config.get(custom) if custom else None) or (flagged if config.get(flag) else "")
        if value:
            found[header] = value
    for option, header in (
        ("referrerPolicy", "Referrer-Policy"),
        ("contentSecurityPolicy", "Content-Security-Policy"),
        ("contentSecurityPolicyReportOnly", "Content-Security-Policy-Report-Only"),
        ("permissionsPolicy", "Permissions-Policy"),
    ):
        if config.get(option):
            found[header] = config[option]
    transport_security = _strict_transport_security(config, secure)
    if transport_security:
        found["Strict-Transport-Security"] = transport_security
    return found


def _strict_transport_security(config: dict[str, Any], secure: bool) -> str | None:
    # Only over HTTPS, unless forced (browsers ignore it on HTTP).
    seconds = int(config.get("stsSeconds", 0))
    if not seconds or not (secure or config.get("forceSTSHeader")):
        return None
    value = f"max-age={seconds}"
    if config.get("stsIncludeSubdomains"):
        value += "; includeSubDomains"
    if config.get("stsPreload"):
        value += "; preload"
    return value


def headers(config: dict[str, Any]) -> Middleware:
    """Traefik's headers: custom request headers set or (value "") removed on the way in;
    security and custom response headers on the way out. Header names match whatever
    their case, as Go's canonical keys do; ``_`` and ``.`` are distinct characters, so
    each such spelling must be listed to be removed."""
    _refuse_unknown(
        "headers", config, SECURITY_OPTIONS | {"customRequestHeaders", "customResponseHeaders"}
    )
    request_headers: dict[str, str] = config.get("customRequestHeaders") or {}
    response_headers: dict[str, str] = config.get("customResponseHeaders") or {}
    # Worked out once (the configuration's): what goes, what is set, by scheme.
    removed = {name.lower() for name, value in request_headers.items() if value == ""}
    added = [(name, value) for name, value in request_headers.items() if value != ""]
    answered: dict[bool, tuple[set[str], list[tuple[str, str]]]] = {}
    for secure in (False, True):
        set_on_answer = [*security_headers(config, secure).items()]
        set_on_answer += [(name, value) for name, value in response_headers.items() if value]
        replaced = {name.lower() for name in (*response_headers, *dict(set_on_answer))}
        answered[secure] = (replaced, set_on_answer)

    async def apply(exchange: Exchange, call_next: Handler) -> httpx.Response:
        if removed:  # one pass over the request's headers, not one per name
            exchange.headers = httpx.Headers(
                [(k, v) for k, v in exchange.headers.multi_items() if k.lower() not in removed]
            )
        for name, value in added:
            exchange.headers[name] = value
        response = await call_next(exchange)
        replaced, set_on_answer = answered[exchange.request.url.scheme == "https"]
        # Set on the answer as it is (its stream untouched: an unbuffered router's streams on).
        response.headers = httpx.Headers(
            [(k, v) for k, v in response.headers.multi_items() if k.lower() not in replaced]
            + set_on_answer
        )
        return response

    return apply


def forward_auth(
    config: dict[str, Any], upstreams: dict[str, str], client: httpx.AsyncClient
) -> Middleware:
    """Traefik's forwardAuth: the request's headers go (as a GET) to the address; a 2xx
    lets the request on with the authResponseHeaders copied over (or removed when the
    answer lacks them), anything else is the client's answer."""
    _refuse_unknown(
        "forwardAuth",
        config,
        {"address", "trustForwardHeader", "authResponseHeaders", "authRequestHeaders"},
    )
    if config.get("trustForwardHeader"):
        raise ValueError("the gateway emulator forwards its own X-Forwarded-* only")
    address = httpx.URL(config["address"])  # http://auth:8000/... → the auth service
    verify_url = upstreams[address.host] + address.raw_path.decode()
    only: set[str] = {h.lower() for h in config.get("authRequestHeaders", [])}
    copied: list[str] = config.get("authResponseHeaders", [])

    async def authenticate(exchange: Exchange, call_next: Handler) -> httpx.Response:
        sent = {
            k: v
            for k, v in exchange.headers.items()
            if k.lower() not in {"host", "content-length", *HOP_BY_HOP, *FORWARDED_HEADERS}
            and (not only or k.lower() in only)
        }
        sent |= {
            "X-Forwarded-Method": exchange.request.method,
            "X-Forwarded-Uri": exchange.request.url.raw_path.decode(),
            **forwarded_headers(exchange),
        }
        try:
            answer = await client.get(verify_url, headers=sent)
        except httpx.TransportError as exc:
            return bad_gateway(exchange.request, exc)
        if not 200 <= answer.status_code < 300:
            kept = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in HOP_BY_HOP]
            return httpx.Response(
                answer.status_code, headers=kept, content=answer.content, request=exchange.request
            )
        for header in copied:
            exchange.headers.pop(header, None)
            if header in answer.headers:
                exchange.headers[header] = answer.headers[header]
        return await call_next(exchange)

    return authenticate


def forwarded_headers(exchange: Exchange) -> dict[str, str]:
    """What Traefik adds for the service: the client it saw, never what an untrusted client
    claimed (the entry point removed that); a trusted one's headers are kept."""
    url = exchange.request.url
    kept = exchange.headers
    claimed = kept.get("x-forwarded-for")
    if claimed is None:
        forwarded_for = exchange.client
    elif exchange.entry_point.append_forwarded_for:
        forwarded_for = f"{claimed}, {exchange.client}"
    else:
        forwarded_for = claimed
    return {
        "X-Forwarded-For": forwarded_for,
        "X-Forwarded-Proto": kept.get("x-forwarded-proto", url.scheme),
        "X-Forwarded-Host": kept.get(
            "x-forwarded-host", exchange.request.headers.get("host", url.netloc.decode())
        ),
        "X-Forwarded-Port": kept.get(
            "x-forwarded-port", str(url.port or (443 if url.scheme == "https" else 80))
        ),
        "X-Forwarded-Server": "gateway",
        "X-Real-Ip": kept.get("x-real-ip", exchange.client),
    }


def _refuse_unknown(kind: str, config: dict[str, Any], known: set[str]) -> None:
    # An option the emulator would silently skip is a check the system tests never make.
    unknown = set(config) - known
    if unknown:
        raise ValueError(f"the gateway emulator does not implement {kind} {sorted(unknown)}")


class GatewayTransport(httpx.AsyncBaseTransport):
    """An httpx transport that behaves like the configured Traefik in front of local services.

    Each router gets its own middleware instances, as in Traefik (so a rate limit named
    by two routers keeps a bucket per router). The client's address is the request's
    ``client_address`` extension, else ``client_address`` here. ``upstream_client``
    replaces the HTTP client that reaches the services (tests give it ASGI apps).
    ``entry_point``: the entry point served (only its routers, its trusted addresses).
    """

    def __init__(
        self,
        upstreams: dict[str, str],
        config: dict[str, Any] | None = None,
        *,
        client_address: str = "127.0.0.1",
        clock: Callable[[], float] = time.monotonic,
        upstream_client: httpx.AsyncClient | None = None,
        entry_point: EntryPoint = PUBLIC,
    ) -> None:
        self.config = config or load()
        self.entry_point = entry_point
        self.routers = [r for r in routers(self.config) if entry_point.name in r.entry_points]
        self.middlewares: dict[str, Any] = self.config["http"].get("middlewares", {})
        self.upstreams = upstreams
        self.bases = {name: httpx.URL(url) for name, url in upstreams.items()}
        self.client_address = client_address
        self.clock = clock
        self.client = upstream_client or httpx.AsyncClient(
            timeout=30, limits=httpx.Limits(keepalive_expiry=idle_timeouts()[0])
        )
        self.routed: dict[str, int] = {}
        self.chains = {router.name: self._chain(router) for router in self.routers}

    def _middleware(self, name: str) -> Middleware:
        if name not in self.middlewares:
            raise ValueError(f"middleware {name!r} is not defined in the gateway config")
        [(kind, options)] = self.middlewares[name].items()
        options = options or {}
        if kind == "rateLimit":
            return rate_limit(options, self.clock)
        if kind == "buffering":
            return buffering(options)
        if kind == "headers":
            return headers(options)
        if kind == "forwardAuth":
            return forward_auth(options, self.upstreams, self.client)
        raise ValueError(f"the gateway emulator does not implement the {kind} middleware")

    def _buffers(self, router: Router) -> bool:
        return any("buffering" in self.middlewares.get(name, {}) for name in router.middlewares)

    def _chain(self, router: Router) -> Handler:
        buffered = self._buffers(router)

        async def proxy(exchange: Exchange) -> httpx.Response:
            return await self._proxy(router, exchange, buffered)

        handler: Handler = proxy
        for name in reversed(router.middlewares):
            handler = _wrap(self._middleware(name), handler)
        return handler

    async def aclose(self) -> None:
        await self.client.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        size = len(request.url.raw_path) + sum(len(k) + len(v) for k, v in request.headers.raw)
        if size > MAX_HEADER_BYTES:
            return httpx.Response(431, text="431 Request Header Fields Too Large", request=request)
        router = next(
            (r for r in self.routers if r.rule.matches(request.method, path, request.headers)),
            None,
        )
        if router is None:
            return httpx.Response(404, text="404 page not found", request=request)
        self.routed[router.name] = self.routed.get(router.name, 0) + 1
        client = str(request.extensions.get(CLIENT_ADDRESS, self.client_address))
        incoming = httpx.Headers(request.headers)
        if not self.entry_point.trusts(client):
            for name in FORWARDED_HEADERS:
                incoming.pop(name, None)
        # Set before the middlewares, as Traefik's entry point does (the rate limits read it).
        if not incoming.get("x-real-ip"):
            incoming["x-real-ip"] = client
        body = (
            request.content
            if request.stream is None or isinstance(request.stream, httpx.ByteStream)
            else await request.aread()
        )
        exchange = Exchange(request, incoming, client, body, self.entry_point)
        return await self.chains[router.name](exchange)

    async def _proxy(self, router: Router, exchange: Exchange, buffered: bool) -> httpx.Response:
        """The service's answer: read whole behind a buffering router (as Traefik's buffering
        holds it), else streamed on as it comes (an event stream)."""
        request = exchange.request
        forwarded = forwarded_headers(exchange)
        replaced = {"host", *(name.lower() for name in forwarded)}
        sent = [(k, v) for k, v in exchange.headers.multi_items() if k.lower() not in replaced]
        sent += forwarded.items()
        upstream = self.bases[router.service].join(request.url.raw_path.decode())
        outgoing = self.client.build_request(
            request.method, upstream, headers=sent, content=exchange.body
        )
        try:
            response = await self.client.send(outgoing, stream=not buffered)
        except httpx.TransportError as exc:
            return bad_gateway(request, exc)
        if not buffered:
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=response.stream,
                request=request,
            )
        # The body as read is decoded (a gzip static file, say): its encoding and length
        # no longer hold, and left on, the answer would be decoded twice.
        kept = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in {"content-encoding", "content-length"}
        ]
        return httpx.Response(
            response.status_code, headers=kept, content=response.content, request=request
        )


def _wrap(middleware: Middleware, call_next: Handler) -> Handler:
    async def handle(exchange: Exchange) -> httpx.Response:
        return await middleware(exchange, call_next)

    return handle


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


async def read_body(receive: Any, ceiling: int) -> bytes | None:
    """An ASGI request's whole body, or None once it grows past ``ceiling`` (reading stops
    there, as Traefik's buffering stops at its limit: no upload fills the memory)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message: dict[str, Any] = await receive()
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > ceiling:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def body_ceiling(middlewares: dict[str, Any]) -> int:
    """The largest body any router's buffering lets through (1 MiB if none says)."""
    limits = [
        int(options.get("buffering", {}).get("maxRequestBodyBytes", 0))
        for options in middlewares.values()
    ]
    return max([limit for limit in limits if limit > 0], default=1 << 20)


class GatewayApp:
    """The gateway as an ASGI app (``make up`` serves it where Traefik would listen)."""

    def __init__(
        self, upstreams: dict[str, str], transport: GatewayTransport | None = None
    ) -> None:
        self.transport = transport or GatewayTransport(upstreams)
        self.ceiling = body_ceiling(self.transport.middlewares)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive, self.ceiling)
        if body is None:
            too_large = [(b"content-type", b"text/plain; charset=utf-8")]
            await send({"type": "http.response.start", "status": 413, "headers": too_large})
            await send({"type": "http.response.body", "body": b"Request Entity Too Large"})
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope.get("raw_path") or scope["path"].encode()
        url = path.decode("latin-1") + (f"?{query}" if query else "")
        client = (scope.get("client") or ("127.0.0.1", 0))[0]
        request = httpx.Request(
            scope["method"],
            "http://gateway" + url,
            headers=headers,
            content=body,
            extensions={CLIENT_ADDRESS: client},
        )
        # Straight to the transport: no client's cookies, redirects or auth in between.
        response = await self.transport.handle_async_request(request)
        try:
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                await _stream_out(response, receive, send)
                return
            await response.aread()
        finally:
            await response.aclose()
        raw = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in response.headers.multi_items()
            if k.lower() not in {"content-length", "transfer-encoding", "content-encoding"}
        ]
        raw.append((b"content-length", str(len(response.content)).encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": raw})
        await send({"type": "http.response.body", "body": response.content})


async def _stream_out(response: httpx.Response, receive: Any, send: Any) -> None:
    """An event stream to the client chunk by chunk, until it ends or the client goes."""
    raw = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in response.headers.multi_items()
        if k.lower() not in {"content-length", "transfer-encoding"}
    ]
    await send({"type": "http.response.start", "status": response.status_code, "headers": raw})

    async def pump() -> None:
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def client_gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = [asyncio.create_task(pump()), asyncio.create_task(client_gone())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def serve(
    upstreams: dict[str, str],
    port: int,
    internal_port: int | None = None,
    *,
    log_level: str = "info",
) -> None:
    """The emulator on uvicorn until stopped (``make up`` without Traefik, the browser
    tests): websecure at 127.0.0.1:``port``, and web's internal entry point at
    ``internal_port``. No proxy headers: each sees the client's own address, as Traefik."""
    import uvicorn
    from taskflow_chassis.edge import PROBLEM_HTTP_PROTOCOL

    entries = [(PUBLIC, port)]
    if internal_port is not None:
        entries.append((LOCAL_INTERNAL, internal_port))
    client_idle = int(idle_timeouts()[1])
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                GatewayApp(upstreams, GatewayTransport(upstreams, entry_point=entry)),
                host="127.0.0.1",
                port=number,
                log_level=log_level,
                proxy_headers=False,
                http=PROBLEM_HTTP_PROTOCOL,
                timeout_keep_alive=client_idle,
            )
        )
        for entry, number in entries
    ]

    async def run() -> None:
        # One server takes the signal (the last to install its handler): when any stops,
        # all stop.
        tasks = [asyncio.create_task(server.serve()) for server in servers]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())


# --- the real Traefik, where one is installed ------------------------------------------


def render_traefik(
    upstreams: dict[str, str],
    port: int,
    directory: Path,
    dynamic: Path = DYNAMIC,
    *,
    internal_port: int | None = None,
) -> Path:
    """Traefik's configuration for ``make up``: gateway/dynamic.yml as it is, with each
    service's URL (and forwardAuth's address) pointed at the local process, behind
    plain-HTTP entry points on loopback named as the routers expect: websecure on
    ``port``, internal (web's, trusting 127.0.0.1) on ``internal_port``. Answers the
    static configuration's path (``traefik --configFile=<it>``)."""
    config = load(dynamic)
    http = config["http"]
    for name, service in http["services"].items():
        service["loadBalancer"]["servers"] = [{"url": upstreams[name]}]
    for middleware in http["middlewares"].values():
        if "forwardAuth" in middleware:
            address = httpx.URL(middleware["forwardAuth"]["address"])
            middleware["forwardAuth"]["address"] = (
                upstreams[address.host] + address.raw_path.decode()
            )
    entry_points = sorted({e for r in http["routers"].values() for e in r.get("entryPoints", [])})
    ports = {PUBLIC.name: (PUBLIC, port)}
    if internal_port is not None:
        ports[LOCAL_INTERNAL.name] = (LOCAL_INTERNAL, internal_port)
    if not set(entry_points) <= set(ports):
        raise ValueError(f"the routers name entry points {entry_points}, not only {sorted(ports)}")
    directory.mkdir(parents=True, exist_ok=True)
    rendered = directory / "dynamic.yml"
    rendered.write_text(yaml.safe_dump(config, sort_keys=False))
    static = {
        # Plain HTTP on loopback: TLS and the redirect belong to the deployed entry points.
        "entryPoints": {
            name: entry.static(f"127.0.0.1:{number}") for name, (entry, number) in ports.items()
        },
        "providers": {"file": {"filename": str(rendered), "watch": False}},
        "serversTransport": yaml.safe_load(STATIC.read_text())["serversTransport"],
        "log": {"level": "INFO", "format": "json"},
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
    }
    path = directory / "traefik.yml"
    path.write_text(yaml.safe_dump(static, sort_keys=False))
    return path

"""The gateway emulator enforces what gateway/dynamic.yml declares, middleware by middleware.

Unit level: GatewayTransport in front of tiny ASGI services (no stack, no network),
with gateway/dynamic.yml as it is, so a change to either shows here. The last test
runs the same checks through a whole local stack.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from taskflow_auth.config import AuthSettings
from taskflow_embedded.gateway import (
    CLIENT_ADDRESS,
    ROOT,
    EntryPoint,
    GatewayApp,
    GatewayTransport,
    duration_seconds,
    idle_timeouts,
    load,
    read_body,
    render_traefik,
)

from .conftest import SHARED_STACK_TESTS, System, next_phone, shared_stack

UPSTREAMS = {name: f"http://{name}.upstream" for name in ("auth", "teams", "work", "notify", "web")}
GOOD_TOKEN = "Bearer good"
USER_ID = "11111111-1111-1111-1111-111111111111"


class Clock:
    """Time that moves only when the test says so (the rate limits' buckets read it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Services:
    """Four tiny services: each records what reached it and echoes it; auth's verify
    endpoint answers 200 with X-User-Id for the good token, else a 401 problem."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = await read_body(receive, 1 << 30) or b""
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        host = dict(headers)["host"].split(".")[0]
        if scope["path"] == "/api/v1/auth/verify":
            if dict(headers).get("authorization") == GOOD_TOKEN:
                status, extra = 200, [(b"x-user-id", USER_ID.encode())]
            else:
                status, extra = 401, [(b"content-type", b"application/problem+json")]
            await send({"type": "http.response.start", "status": status, "headers": extra})
            await send({"type": "http.response.body", "body": b"{}" if status == 401 else b""})
            return
        self.seen.append(
            {"service": host, "path": scope["path"], "headers": headers, "size": len(body)}
        )
        answer = json.dumps({"service": host}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"server", b"uvicorn"),
                    (b"x-powered-by", b"FastAPI"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    def last_headers(self) -> httpx.Headers:
        return httpx.Headers(self.seen[-1]["headers"])

    def identities(self) -> list[tuple[str, str]]:
        """Every header of the last request that could name a user."""
        return [
            (k, v) for k, v in self.seen[-1]["headers"] if "user" in k.lower() and k != "user-agent"
        ]


@pytest.fixture
def services() -> Services:
    return Services()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def gateway_for(
    services: Services, clock: Clock, config: dict[str, Any] | None = None
) -> httpx.AsyncClient:
    upstream = httpx.AsyncClient(transport=httpx.ASGITransport(app=services))
    transport = GatewayTransport(
        UPSTREAMS, config, clock=clock, upstream_client=upstream, client_address="198.51.100.7"
    )
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


@pytest.fixture
async def gateway(services: Services, clock: Clock) -> Any:
    async with gateway_for(services, clock) as client:
        yield client


# --- the configuration itself ----------------------------------------------------------


def test_every_router_names_middlewares_and_a_service_that_exist() -> None:
    http = load()["http"]
    for name, router in http["routers"].items():
        missing = set(router.get("middlewares", [])) - set(http["middlewares"])
        assert not missing, f"router {name} names undefined middlewares {missing}"
        assert router["service"] in http["services"], f"router {name}: unknown service"
        # HTTPS for browsers, and the same routes on web's internal entry point (a
        # protected router's twin there without forwardAuth: see below).
        assert router["entryPoints"] in (["websecure", "internal"], ["websecure"], ["internal"])


def test_the_internal_entry_point_has_every_protected_router_without_forward_auth() -> None:
    """Web's entry point skips forwardAuth (every service verifies the token itself) and
    nothing else: each websecure-only router has a twin named ``<name>-internal`` with the
    same rule, priority and service, and the same middlewares but verify-token."""
    routers = load()["http"]["routers"]
    public_only = {
        n: r
        for n, r in routers.items()
        if r["entryPoints"] == ["websecure"] and not n.endswith("-token")
    }  # the personal API tokens' twins (tests/system/test_token_gateway.py): web sends none
    internal_only = {n: r for n, r in routers.items() if r["entryPoints"] == ["internal"]}
    assert set(public_only) == {
        "auth",
        "teams",
        "work",
        "notify-stream",
        "notify",
        "notify-webhooks",
    }
    assert set(internal_only) == {f"{name}-internal" for name in public_only}
    for name, router in public_only.items():
        twin = internal_only[f"{name}-internal"]
        assert router["middlewares"][-1] == "verify-token", name
        assert twin["middlewares"] == router["middlewares"][:-1], name
        for key in ("rule", "priority", "service"):
            assert twin[key] == router[key], (name, key)


# Routers whose answers stream (Server-Sent Events): no body-limit, whose buffering holds
# the whole answer until it ends; and what follows the identity headers' removal (web's
# /events is signed in by its session cookie, not forwardAuth).
STREAMING_ROUTERS = {
    "notify-stream": ["verify-token"],
    "notify-stream-token": ["verify-token"],
    "notify-stream-internal": [],
    "web-events": [],
}


def test_every_api_router_has_the_edge_checks_in_order() -> None:
    for name, router in load()["http"]["routers"].items():
        if name.startswith("docs") or name == "preflight":
            continue
        limit, *rest = router["middlewares"]
        assert limit.startswith("rate-limit-"), name
        if limit == "rate-limit-token":  # a personal API token's, then its address's
            limit, *rest = rest
            assert limit.startswith("rate-limit-"), name
        checks = ["body-limit", "security-headers", "drop-identity-headers"]
        if name in STREAMING_ROUTERS:
            checks = [*checks[1:], *STREAMING_ROUTERS[name]]
            assert rest == checks, name
        assert rest[: len(checks)] == checks, name


def test_a_live_stream_outlasts_the_entry_points_write_timeout() -> None:
    """Traefik's writeTimeout bounds a whole answer: below an access token's life (the
    longest a stream runs before it ends by itself) it would cut every stream early."""
    static = yaml.safe_load((ROOT / "gateway" / "traefik.yml").read_text())
    token_life = AuthSettings().access_token_minutes * 60
    for name in ("websecure", "internal"):
        timeout = static["entryPoints"][name]["transport"]["respondingTimeouts"]["writeTimeout"]
        assert duration_seconds(timeout) >= token_life, (name, timeout)


def test_the_gateway_lets_go_of_an_idle_connection_before_a_service_closes_it() -> None:
    """Otherwise the gateway may send a request on a connection the service is closing:
    Go resends only an idempotent request, so a POST would answer 502."""
    kept_by_gateway, _ = idle_timeouts()
    assert kept_by_gateway < AuthSettings().keep_alive_seconds
    emulator = GatewayTransport(UPSTREAMS)
    pool = emulator.client._transport._pool  # type: ignore[attr-defined]  # httpcore's
    assert pool._keepalive_expiry == kept_by_gateway


def test_every_spelling_of_the_identity_headers_is_removed() -> None:
    """Some servers read ``_`` and ``.`` as ``-``; Traefik matches names only by case."""
    removed = load()["http"]["middlewares"]["drop-identity-headers"]["headers"][
        "customRequestHeaders"
    ]
    for words in (("X", "User", "Id"), ("X", "Forwarded", "User")):
        for separators in itertools.product("-_.", repeat=len(words) - 1):
            spelling = words[0] + "".join(s + w for s, w in zip(separators, words[1:], strict=True))
            assert removed.get(spelling) == "", f"{spelling} is not removed"


def test_every_middleware_of_the_config_is_implemented(services: Services, clock: Clock) -> None:
    public = GatewayTransport(UPSTREAMS, clock=clock)
    internal = GatewayTransport(UPSTREAMS, clock=clock, entry_point=INTERNAL)
    assert set(public.chains) | set(internal.chains) == set(load()["http"]["routers"])


def test_an_option_the_emulator_does_not_implement_is_refused() -> None:
    config = load()
    config["http"]["middlewares"]["body-limit"]["buffering"]["retryExpression"] = "IsNetworkError()"
    with pytest.raises(ValueError, match="retryExpression"):
        GatewayTransport(UPSTREAMS, config)
    config = load()
    config["http"]["routers"]["teams"]["middlewares"].append("no-such-middleware")
    with pytest.raises(ValueError, match="no-such-middleware"):
        GatewayTransport(UPSTREAMS, config)


@pytest.mark.parametrize(
    ("text", "seconds"), [("1s", 1.0), ("500ms", 0.5), ("1m30s", 90.0), (2, 2.0)]
)
def test_durations_read_as_traefik_reads_them(text: str | int, seconds: float) -> None:
    assert duration_seconds(text) == seconds


# --- rateLimit -------------------------------------------------------------------------


async def test_auth_routes_allow_a_burst_of_20_then_10_a_second_per_client(
    gateway: httpx.AsyncClient, clock: Clock, services: Services
) -> None:
    url = "/api/v1/auth/jwks.json"
    answers = [(await gateway.get(url)).status_code for _ in range(21)]
    assert answers == [200] * 20 + [429]
    refused = await gateway.get(url)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert refused.text == "Too Many Requests" and len(services.seen) == 20
    elsewhere = await gateway.get(url, extensions={CLIENT_ADDRESS: "203.0.113.5"})
    assert elsewhere.status_code == 200  # another client has a bucket of its own
    clock.now += 1.0  # ten tokens back
    answers = [(await gateway.get(url)).status_code for _ in range(11)]
    assert answers == [200] * 10 + [429]


async def test_each_router_keeps_its_own_bucket(gateway: httpx.AsyncClient) -> None:
    for _ in range(20):
        assert (await gateway.get("/api/v1/auth/jwks.json")).status_code == 200
    assert (await gateway.get("/api/v1/auth/jwks.json")).status_code == 429
    protected = await gateway.get("/api/v1/auth/users/me", headers={"Authorization": GOOD_TOKEN})
    assert protected.status_code == 200


async def test_api_routes_allow_a_burst_of_200(gateway: httpx.AsyncClient, clock: Clock) -> None:
    headers = {"Authorization": GOOD_TOKEN}
    answers = [
        (await gateway.get("/api/v1/tasks", headers=headers)).status_code for _ in range(201)
    ]
    assert answers.count(200) == 200 and answers[-1] == 429
    clock.now += 0.5
    answers = [(await gateway.get("/api/v1/tasks", headers=headers)).status_code for _ in range(51)]
    assert answers == [200] * 50 + [429]


async def test_a_rate_limit_answers_before_forward_auth_and_the_service(
    gateway: httpx.AsyncClient, services: Services
) -> None:
    for _ in range(200):
        await gateway.get("/api/v1/teams")  # no token: 401 each, but the bucket empties
    refused = await gateway.get("/api/v1/teams", headers={"Authorization": GOOD_TOKEN})
    assert refused.status_code == 429 and services.seen == []


# --- buffering -------------------------------------------------------------------------


async def test_a_body_over_one_mebibyte_gets_413_and_never_reaches_the_service(
    gateway: httpx.AsyncClient, services: Services
) -> None:
    headers = {"Authorization": GOOD_TOKEN}
    limit = load()["http"]["middlewares"]["body-limit"]["buffering"]["maxRequestBodyBytes"]
    assert limit == 1024 * 1024
    too_big = await gateway.post("/api/v1/projects", headers=headers, content=b"x" * (limit + 1))
    assert too_big.status_code == 413 and services.seen == []
    fits = await gateway.post("/api/v1/projects", headers=headers, content=b"x" * limit)
    assert fits.status_code == 200 and services.seen[-1]["size"] == limit


async def test_headers_over_go_s_limit_get_431(
    gateway: httpx.AsyncClient, services: Services
) -> None:
    """httpx itself refuses URLs over 64 KiB, so the request line cannot show it here."""
    big = {"X-Padding": "x" * ((1 << 20) + 5000)}
    answer = await gateway.get("/api/v1/auth/jwks.json", headers=big)
    assert answer.status_code == 431 and services.seen == []


# --- headers ---------------------------------------------------------------------------


async def test_security_headers_are_added_and_server_headers_removed(
    gateway: httpx.AsyncClient,
) -> None:
    answer = await gateway.get("/api/v1/auth/jwks.json")
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-xss-protection"] == "1; mode=block"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "server" not in answer.headers and "x-powered-by" not in answer.headers
    # Strict-Transport-Security is an HTTPS header (Traefik leaves it off plain HTTP).
    assert "strict-transport-security" not in answer.headers
    secure = await gateway.get("https://gateway.test/api/v1/auth/jwks.json")
    assert secure.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    docs = await gateway.get("/openapi/work.json")
    assert docs.headers["x-frame-options"] == "DENY"


async def test_forward_auth_refusals_carry_the_security_headers(
    gateway: httpx.AsyncClient, services: Services
) -> None:
    refused = await gateway.get("/api/v1/notifications", headers={"Authorization": "Bearer bad"})
    assert refused.status_code == 401 and services.seen == []
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["x-content-type-options"] == "nosniff"


async def test_more_security_options_are_applied_as_traefik_does(
    services: Services, clock: Clock
) -> None:
    config = load()
    config["http"]["middlewares"]["security-headers"]["headers"] |= {
        "contentSecurityPolicy": "default-src 'none'",
        "permissionsPolicy": "camera=()",
        "stsPreload": True,
        "forceSTSHeader": True,
        "customFrameOptionsValue": "SAMEORIGIN",
        "customResponseHeaders": {"Server": "", "X-Served-By": "gateway"},
    }
    async with gateway_for(services, clock, config) as client:
        answer = await client.get("/api/v1/auth/jwks.json")
    assert answer.headers["content-security-policy"] == "default-src 'none'"
    assert answer.headers["permissions-policy"] == "camera=()"
    assert answer.headers["strict-transport-security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    assert answer.headers["x-frame-options"] == "SAMEORIGIN"
    assert answer.headers["x-served-by"] == "gateway" and "server" not in answer.headers


SPOOFED = [
    "X-User-Id", "x-user-id", "X-USER-ID", "X-User_Id", "x_user_id", "X-User.Id", "x.user.id",
    "X_User-Id", "X-Forwarded-User", "x_forwarded_user", "X.Forwarded.User",
]  # fmt: skip


@pytest.mark.parametrize("header", SPOOFED)
async def test_a_claimed_identity_never_reaches_a_public_route(
    gateway: httpx.AsyncClient, services: Services, header: str
) -> None:
    await gateway.post("/api/v1/auth/jwt/create", headers={header: USER_ID}, json={})
    reached = services.last_headers()
    assert reached.get(header) is None, f"{header} reached the service"
    assert services.identities() == []


@pytest.mark.parametrize("header", SPOOFED)
async def test_a_protected_route_gets_only_auth_s_identity(
    gateway: httpx.AsyncClient, services: Services, header: str
) -> None:
    forged = "22222222-2222-2222-2222-222222222222"
    await gateway.get("/api/v1/teams", headers={"Authorization": GOOD_TOKEN, header: forged})
    assert services.identities() == [("x-user-id", USER_ID)]


# --- CORS preflight --------------------------------------------------------------------


async def test_a_preflight_reaches_a_service_without_a_token(
    gateway: httpx.AsyncClient, services: Services
) -> None:
    """Browsers send no token with a preflight; the services' CORS middleware answers it."""
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
    answer = await gateway.options("/api/v1/teams", headers=preflight)
    assert answer.status_code == 200 and services.seen[-1]["path"] == "/api/v1/teams"
    assert answer.headers["x-frame-options"] == "DENY"
    for method in ("GET", "POST", "DELETE"):
        refused = await gateway.request(method, "/api/v1/teams", headers=preflight)
        assert refused.status_code == 401
    assert len(services.seen) == 1


# --- X-Forwarded-For -------------------------------------------------------------------


async def test_the_service_sees_the_client_address_the_gateway_saw(
    gateway: httpx.AsyncClient, services: Services
) -> None:
    await gateway.post(
        "/api/v1/auth/jwt/create",
        headers={"X-Forwarded-For": "1.2.3.4", "X-Real-Ip": "1.2.3.4", "Forwarded": "for=1.2.3.4"},
        json={},
        extensions={CLIENT_ADDRESS: "203.0.113.9"},
    )
    reached = services.last_headers()
    assert reached.get_list("x-forwarded-for") == ["203.0.113.9"]
    assert reached["x-real-ip"] == "203.0.113.9"
    assert reached["x-forwarded-proto"] == "http"
    default = await gateway.get("/api/v1/auth/jwks.json", headers={"X-Forwarded-For": "1.2.3.4"})
    assert default.status_code == 200
    assert services.last_headers()["x-forwarded-for"] == "198.51.100.7"


async def test_the_asgi_gateway_uses_the_socket_s_client_address(services: Services) -> None:
    upstream = httpx.AsyncClient(transport=httpx.ASGITransport(app=services))
    app = GatewayApp(UPSTREAMS, GatewayTransport(UPSTREAMS, upstream_client=upstream))
    outer = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("192.0.2.44", 5555)),
        base_url="http://gateway",
    )
    async with outer:
        answer = await outer.get("/api/v1/auth/jwks.json", headers={"X-Forwarded-For": "1.2.3.4"})
    assert answer.status_code == 200 and answer.headers["x-frame-options"] == "DENY"
    assert services.last_headers()["x-forwarded-for"] == "192.0.2.44"


# --- the internal entry point (web's): the browser's address, trusted from web only ------

WEB_ADDRESS = "10.9.8.7"
INTERNAL = EntryPoint("internal", (WEB_ADDRESS,), append_forwarded_for=False)


def internal_gateway(services: Services, clock: Clock, client: str) -> httpx.AsyncClient:
    upstream = httpx.AsyncClient(transport=httpx.ASGITransport(app=services))
    transport = GatewayTransport(
        UPSTREAMS,
        clock=clock,
        upstream_client=upstream,
        client_address=client,
        entry_point=INTERNAL,
    )
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.internal")


def browser_headers(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address, "X-Real-Ip": address}


async def test_the_internal_entry_point_keeps_the_browser_address_web_sends(
    services: Services, clock: Clock
) -> None:
    async with internal_gateway(services, clock, WEB_ADDRESS) as web:
        await web.post("/api/v1/auth/jwt/create", headers=browser_headers("203.0.113.20"), json={})
    reached = services.last_headers()
    # As web sent it, no web address appended: the services trust only the gateway.
    assert reached.get_list("x-forwarded-for") == ["203.0.113.20"]
    assert reached["x-real-ip"] == "203.0.113.20"


async def test_the_internal_entry_point_rate_limits_each_browser_not_web(
    services: Services, clock: Clock
) -> None:
    url = "/api/v1/auth/jwks.json"
    async with internal_gateway(services, clock, WEB_ADDRESS) as web:
        first = [(await web.get(url, headers=browser_headers("203.0.113.21"))).status_code
                 for _ in range(21)]  # fmt: skip
        other = await web.get(url, headers=browser_headers("203.0.113.22"))
    assert first == [200] * 20 + [429]
    assert other.status_code == 200  # another browser behind the same web: its own bucket


async def test_the_internal_entry_point_trusts_no_one_but_web(
    services: Services, clock: Clock
) -> None:
    async with internal_gateway(services, clock, "10.9.8.99") as intruder:
        await intruder.get("/api/v1/auth/jwks.json", headers=browser_headers("203.0.113.23"))
    reached = services.last_headers()
    assert reached.get_list("x-forwarded-for") == ["10.9.8.99"]
    assert reached["x-real-ip"] == "10.9.8.99"


async def test_a_public_client_cannot_pick_its_rate_limit_bucket(
    gateway: httpx.AsyncClient, services: Services
) -> None:
    """X-Real-Ip keys the buckets; websecure replaces a client's own with its address."""
    url = "/api/v1/auth/jwks.json"
    answers = [
        (await gateway.get(url, headers=browser_headers(f"192.0.2.{n}"))).status_code
        for n in range(21)
    ]
    assert answers == [200] * 20 + [429]
    reached = {httpx.Headers(seen["headers"])["x-real-ip"] for seen in services.seen}
    assert reached == {"198.51.100.7"}  # the address the gateway saw, never the claimed ones


async def test_the_public_entry_point_serves_no_internal_only_route() -> None:
    """The two entry points route alike: nothing the internal one serves is missing from
    websecure (its own routers are the protected ones' twins, without forwardAuth)."""
    public = GatewayTransport(UPSTREAMS)
    internal = GatewayTransport(UPSTREAMS, entry_point=INTERNAL)
    assert [r.name.removesuffix("-internal") for r in internal.routers] == [
        r.name
        for r in public.routers
        if not r.name.endswith("-token")  # web sends no tfp_
    ]


async def test_the_internal_entry_point_leaves_the_token_to_the_service(
    services: Services, clock: Clock
) -> None:
    """No forwardAuth call on web's entry point: the request (its token as web sent it)
    reaches the service, which verifies it; identity headers are still removed."""
    async with internal_gateway(services, clock, WEB_ADDRESS) as web:
        answer = await web.get(
            "/api/v1/tasks",
            headers={"Authorization": "Bearer not-checked-here", "X-User-Id": USER_ID},
        )
    assert answer.status_code == 200 and answer.json() == {"service": "work"}
    reached = services.last_headers()
    assert reached["authorization"] == "Bearer not-checked-here"
    assert services.identities() == []
    async with gateway_for(services, clock) as public:
        refused = await public.get("/api/v1/tasks", headers={"Authorization": "Bearer bad"})
    assert refused.status_code == 401 and len(services.seen) == 1  # websecure still checks


# --- the real Traefik's configuration for make up ---------------------------------------


def test_make_up_renders_gateway_config_for_a_local_traefik(tmp_path: Path) -> None:
    """No traefik binary here: this checks what ``make up`` would hand one."""
    upstreams = {name: f"http://127.0.0.1:{9100 + i}" for i, name in enumerate(UPSTREAMS)}
    static_path = render_traefik(upstreams, 8123, tmp_path, internal_port=8124)
    static = yaml.safe_load(static_path.read_text())
    assert static["entryPoints"] == {
        "websecure": {"address": "127.0.0.1:8123"},
        "internal": {
            "address": "127.0.0.1:8124",
            "forwardedHeaders": {"trustedIPs": ["127.0.0.1"], "notAppendXForwardedFor": True},
        },
    }
    with pytest.raises(ValueError, match="internal"):
        render_traefik(upstreams, 8123, tmp_path)  # every entry point the routers name
    rendered = yaml.safe_load(Path(static["providers"]["file"]["filename"]).read_text())
    original = load()["http"]
    http = rendered["http"]
    assert http["routers"] == original["routers"]
    for name, service in http["services"].items():
        assert service["loadBalancer"]["servers"] == [{"url": upstreams[name]}]
    assert http["middlewares"]["verify-token"]["forwardAuth"]["address"] == (
        "http://127.0.0.1:9100/api/v1/auth/verify"
    )
    unchanged = {k: v for k, v in http["middlewares"].items() if k != "verify-token"}
    assert unchanged == {k: v for k, v in original["middlewares"].items() if k != "verify-token"}
    schemas = ROOT.parent / "shared" / "schemas"
    if schemas.is_dir():
        import jsonschema

        for schema, document in (
            ("traefik-v3.json", static),
            ("traefik-v3-file-provider.json", rendered),
        ):
            jsonschema.Draft7Validator(json.loads((schemas / schema).read_text())).validate(
                document
            )


# --- the same checks in front of the running services -----------------------------------


system = shared_stack()


@SHARED_STACK_TESTS
@pytest.mark.timeout(300)
async def test_the_running_stack_gets_the_gateway_s_checks(system: System) -> None:
    """What the unit tests prove, once through a whole local stack (tests/system/conftest)."""
    user = await system.sign_up("gatekeeper", phone=next_phone())
    headers = {"Authorization": user["Authorization"]}
    teams = await system.client.get("/api/v1/teams", headers=headers)
    assert teams.status_code == 200 and teams.headers["x-frame-options"] == "DENY"
    assert "server" not in teams.headers  # uvicorn's own header, removed
    forged = await system.client.get("/api/v1/teams", headers={"X-User_Id": user["id"]})
    assert forged.status_code == 401
    body = b'{"team_id": "x", "name": "' + b"x" * (1 << 20) + b'"}'
    too_big = await system.client.post(
        "/api/v1/projects", headers={**headers, "Content-Type": "application/json"}, content=body
    )
    assert too_big.status_code == 413
    preflight = await system.client.options(
        "/api/v1/teams",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
    )
    # Reached a service (a problem document, not Traefik's text), and CORS is closed.
    assert preflight.status_code in {404, 405}
    assert preflight.headers["content-type"] == "application/problem+json"
    assert not [h for h in preflight.headers if h.startswith("access-control-")]
    burst = await asyncio.gather(
        *(
            system.client.get("/api/v1/auth/jwks.json", extensions={CLIENT_ADDRESS: "203.0.113.77"})
            for _ in range(30)
        )
    )
    codes = [answer.status_code for answer in burst]
    assert set(codes) == {200, 429} and codes.count(200) >= 20, codes
    elsewhere = await system.client.get(
        "/api/v1/auth/jwks.json", extensions={CLIENT_ADDRESS: "203.0.113.78"}
    )
    assert elsewhere.status_code == 200


async def test_an_endless_upload_is_not_read_past_the_largest_body_limit() -> None:
    """The emulator stops reading at the limit (Traefik's buffering does): a client that
    keeps sending cannot fill the gateway's memory."""
    calls = 0

    async def endless() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    assert await read_body(endless, 1 << 20) is None
    assert calls == 17  # 16 chunks fill the MiB; the 17th is one byte too many

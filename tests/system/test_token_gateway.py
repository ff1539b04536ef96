"""Personal API tokens at the gateway: a request with ``Authorization: Bearer tfp_...`` takes
its API router's twin, which adds a rate limit per token (``rate-limit-token``, keyed by
the header) before the address's own, then forwardAuth as any protected request.

Unit level, as tests/system/test_gateway.py: the emulator with gateway/dynamic.yml as it
is, in front of tiny services whose auth accepts the tokens named below.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from taskflow_embedded.gateway import CLIENT_ADDRESS, GatewayTransport, Rule, load, read_body

from .test_gateway import Clock

UPSTREAMS = {name: f"http://{name}.upstream" for name in ("auth", "teams", "work", "notify", "web")}
TOKEN_A = "Bearer tfp_aaaa.bbbb.cccc"
TOKEN_B = "Bearer tfp_dddd.eeee.ffff"
SESSION = "Bearer session.jwt.token"
TFP = "HeaderRegexp(`Authorization`, `^Bearer tfp_`)"


class Services:
    """Auth's verify accepts the tokens above; every other service echoes its name."""

    def __init__(self) -> None:
        self.verified: list[str] = []
        self.reached: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await read_body(receive, 1 << 20)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        host = headers["host"].split(".")[0]
        if scope["path"] == "/api/v1/auth/verify":
            token = headers.get("authorization", "")
            ok = token in (TOKEN_A, TOKEN_B, SESSION)
            self.verified.append(token)
            await send({"type": "http.response.start", "status": 200 if ok else 401})
            await send({"type": "http.response.body", "body": b""})
            return
        self.reached.append(host)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps({"at": host}).encode()})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services() -> Services:
    return Services()


@pytest.fixture
async def gateway(services: Services, clock: Clock) -> Any:
    upstream = httpx.AsyncClient(transport=httpx.ASGITransport(app=services))
    transport = GatewayTransport(
        UPSTREAMS, None, clock=clock, upstream_client=upstream, client_address="198.51.100.7"
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield client, transport


def test_each_api_router_has_a_token_twin_that_adds_the_token_limit() -> None:
    """For every protected API router on websecure, ``<name>-token``: its rule and a tfp_
    header, above it, to the same service, with rate-limit-token before its middlewares."""
    http = load()["http"]
    routers = http["routers"]
    protected = {
        name: r
        for name, r in routers.items()
        if r["entryPoints"] == ["websecure"] and not name.endswith("-token")
    }
    twins = {name: r for name, r in routers.items() if name.endswith("-token")}
    assert set(twins) == {f"{name}-token" for name in protected}
    for name, router in protected.items():
        twin = twins[f"{name}-token"]
        assert twin["entryPoints"] == ["websecure"] and twin["service"] == router["service"]
        assert twin["priority"] > router["priority"], name
        assert twin["middlewares"] == ["rate-limit-token", *router["middlewares"]], name
        assert " ".join(twin["rule"].split()).endswith(f"&& {TFP}"), name
    limit = http["middlewares"]["rate-limit-token"]["rateLimit"]
    assert limit["sourceCriterion"] == {"requestHeaderName": "Authorization"}


@pytest.mark.parametrize(
    ("header", "matches"),
    [(TOKEN_A, True), ("bearer tfp_x", False), (SESSION, False), ("Bearer xtfp_", False)],
)
def test_header_regexp_matches_as_traefik_does(header: str, matches: bool) -> None:
    rule = Rule(f"PathPrefix(`/api/v1/tasks`) && {TFP}")
    assert rule.matches("GET", "/api/v1/tasks", {"Authorization": header}) is matches
    assert rule.matches("GET", "/api/v1/tasks") is False


async def test_a_token_gets_its_own_limit_then_429_with_retry_after(
    gateway: Any, clock: Clock, services: Services
) -> None:
    client, transport = gateway
    headers = {"Authorization": TOKEN_A}
    answers = [(await client.get("/api/v1/tasks", headers=headers)).status_code for _ in range(41)]
    assert answers == [200] * 40 + [429]
    refused = await client.get("/api/v1/tasks", headers=headers)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert transport.routed["work-token"] == 42 and services.reached.count("work") == 40
    # Refused before forwardAuth and the service: the bucket is the gateway's alone.
    assert services.verified.count(TOKEN_A) == 40
    # The same token elsewhere (another router, so another bucket) and another token
    # from the same address are not held back; nor is a session's token.
    assert (await client.get("/api/v1/teams", headers=headers)).status_code == 200
    other = {"Authorization": TOKEN_B}
    assert (await client.get("/api/v1/tasks", headers=other)).status_code == 200
    session = {"Authorization": SESSION}
    assert (await client.get("/api/v1/tasks", headers=session)).status_code == 200
    assert transport.routed["work"] == 1
    # From another address, the token is still the one refused: the limit is the token's.
    moved = await client.get(
        "/api/v1/tasks", headers=headers, extensions={CLIENT_ADDRESS: "203.0.113.9"}
    )
    assert moved.status_code == 429
    clock.now += 1.0  # twenty back
    answers = [(await client.get("/api/v1/tasks", headers=headers)).status_code for _ in range(21)]
    assert answers == [200] * 20 + [429]


async def test_a_token_still_passes_forward_auth_and_reaches_its_service(
    gateway: Any, services: Services
) -> None:
    client, transport = gateway
    for path, service in (
        ("/api/v1/tokens", "auth"),
        ("/api/v1/auth/users/me", "auth"),
        ("/api/v1/teams", "teams"),
        ("/api/v1/teams/7c1e9a40-3b2d-4f85-a6e7-19d0c4b2f836/webhooks", "notify"),
        ("/api/v1/projects", "work"),
        ("/api/v1/notifications", "notify"),
    ):
        answer = await client.get(path, headers={"Authorization": TOKEN_A})
        assert answer.status_code == 200 and answer.json() == {"at": service}, path
    forged = await client.get("/api/v1/tasks", headers={"Authorization": "Bearer tfp_forged"})
    assert forged.status_code == 401
    assert set(transport.routed) >= {"auth-token", "teams-token", "work-token", "notify-token"}

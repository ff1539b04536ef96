"""Each browser is throttled as itself through web: a whole local stack, the gateway's public
entry point in-process (so a test can be any client address) and its internal entry point,
web's WEB_API_URL, on its port as ``make up`` serves it (running_system's gateway).

Without the internal entry point every browser reached auth from web's own address: one
person's failed log-ins locked out everyone using the web app.
"""

from __future__ import annotations

import html
import re

import httpx
import pytest
from taskflow_embedded.gateway import CLIENT_ADDRESS

from .conftest import PASSWORD, SHARED_STACK_TESTS, System, next_phone, shared_stack

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class _From(httpx.AsyncBaseTransport):
    """The public gateway as a client at ``address`` reaches it."""

    def __init__(self, gateway: httpx.AsyncBaseTransport, address: str) -> None:
        self.gateway, self.address = gateway, address

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions[CLIENT_ADDRESS] = self.address
        return await self.gateway.handle_async_request(request)

    async def aclose(self) -> None:  # the gateway is the module's, shared
        pass


class Browser:
    """One person's browser at one address: its cookies, the page's CSRF token."""

    def __init__(self, system: System, address: str) -> None:
        port = system.stack.gateway_port
        # https: the session cookie is Secure (the in-process gateway does no TLS).
        self.client = httpx.AsyncClient(
            transport=_From(system.transport, address), base_url=f"https://127.0.0.1:{port}"
        )
        self.origin = system.stack.gateway_url  # web's origin (TASKFLOW_PUBLIC_URL)

    async def sign_in(
        self, username: str, password: str, headers: dict[str, str] | None = None
    ) -> int:
        page = await self.client.get("/login")
        found = CSRF.search(page.text)
        assert page.status_code == 200 and found, page.text[:500]
        answer = await self.client.post(
            "/login",
            data={"csrf_token": html.unescape(found.group(1)), "username": username,
                  "password": password},
            headers={"Origin": self.origin, **(headers or {})},
        )  # fmt: skip
        return answer.status_code


# The stack with the gateway's ports too (web calls the internal one).
system = shared_stack()


@SHARED_STACK_TESTS
@pytest.mark.timeout(300)
async def test_one_browser_s_failed_log_ins_lock_only_its_own_address(
    system: System,
) -> None:
    await system.sign_up("addressed", phone=next_phone())
    mallory, owner = Browser(system, "203.0.113.41"), Browser(system, "203.0.113.42")
    async with mallory.client, owner.client:
        failures = [await mallory.sign_in("addressed", "wrong-password") for _ in range(5)]
        assert failures == [401] * 5
        # The sixth attempt from that address is refused before the password is checked.
        assert await mallory.sign_in("addressed", PASSWORD) == 429
        # The owner, elsewhere behind the same web app, is not locked out.
        assert await owner.sign_in("addressed", PASSWORD) == 303


@SHARED_STACK_TESTS
@pytest.mark.timeout(300)
async def test_a_public_client_cannot_claim_another_address(system: System) -> None:
    """X-Forwarded-For and X-Real-Ip from a browser are dropped at the public entry point,
    on the way to web and to the API alike: the locked address stays locked."""
    await system.sign_up("claimant", phone=next_phone())
    spoofer = Browser(system, "203.0.113.51")
    claimed = {"X-Forwarded-For": "203.0.113.52", "X-Real-Ip": "203.0.113.52"}
    async with spoofer.client:
        for _ in range(5):
            assert await spoofer.sign_in("claimant", "wrong-password", claimed) == 401
        assert await spoofer.sign_in("claimant", PASSWORD, claimed) == 429
        direct = await spoofer.client.post(
            "/api/v1/auth/jwt/create",
            json={"username": "claimant", "password": PASSWORD},
            headers=claimed,
        )
        assert direct.status_code == 429
    honest = Browser(system, "203.0.113.52")
    async with honest.client:
        assert await honest.sign_in("claimant", PASSWORD) == 303


@SHARED_STACK_TESTS
@pytest.mark.timeout(300)
async def test_the_internal_entry_point_is_not_reachable_through_the_public_one(
    system: System,
) -> None:
    """Web's own address (127.0.0.1 here) is trusted on the internal entry point only: at the
    public one its X-Real-Ip is dropped like anyone's, and no public route leads to the
    internal port (no service of the gateway's is the gateway)."""
    stack = system.stack
    assert all(
        not url.endswith(f":{stack.internal_gateway_port}") for url in stack.upstreams().values()
    )
    await system.sign_up("webby", phone=next_phone())
    as_web = Browser(system, "127.0.0.1").client
    claimed = {"X-Forwarded-For": "203.0.113.71", "X-Real-Ip": "203.0.113.71"}
    wrong = {"username": "webby", "password": "wrong-password"}
    async with as_web:
        codes = [
            (await as_web.post("/api/v1/auth/jwt/create", json=wrong, headers=claimed)).status_code
            for _ in range(6)
        ]
    assert codes == [401] * 5 + [429]  # counted against 127.0.0.1, not the address claimed
    claimed_owner = Browser(system, "203.0.113.71")
    async with claimed_owner.client:
        assert await claimed_owner.sign_in("webby", PASSWORD) == 303

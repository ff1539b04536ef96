"""Posting a delivery to an endpoint, safely: the host is resolved, every address it has is
checked (webhooks.rules.refusal), and the connection goes to the address checked, with the
URL's host in ``Host`` and in TLS SNI (the certificate is verified against the host), so a
DNS answer changing between check and connect (rebinding) reaches nothing unchecked.
Redirects are never followed (a 3xx is a failed attempt); every step has a timeout and the
answer is read up to a bound.

And the key that keeps the endpoints' signing secrets encrypted at rest (``SecretCipher``).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import socket
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from taskflow_chassis.cipher import KeyedCipher, KeySetting

from taskflow_notify.webhooks.rules import (
    REFUSED_ADDRESS,
    SECRET_PREFIX,
    Address,
    Network,
    refusal,
)

logger = logging.getLogger("taskflow.notify.webhooks")

# Clients kept, one per host (a pooled connection is only reused for the host it was
# verified for), the least recently used closed beyond this.
MAX_CLIENTS = 64
USER_AGENT = "TaskFlow-Webhooks/1"


class SecretCipher(KeyedCipher):
    """Encrypts the endpoints' signing secrets in the database. A secret stored readable
    (``whsec_...``, by a version before this one) is still read, and sealed when touched
    (and all of them at start, ``service.seal_readable_secrets``)."""

    setting = KeySetting(
        service="notify",
        variable="NOTIFY_WEBHOOK_SECRET_KEY",
        required_by="NOTIFY_REQUIRE_WEBHOOK_SECRET_KEY",
        file_name="webhook-secret-key",
        what="the webhook secret key",
    )

    def seal(self, stored: str) -> str:
        """What to store for a secret, or for a stored one written readable: encrypted."""
        return self.encrypt(stored) if is_readable(stored) else stored

    def open(self, stored: str) -> str | None:
        """The secret a stored value holds; None when another key encrypted it."""
        return stored if is_readable(stored) else self.decrypt(stored)


def is_readable(stored: str) -> bool:
    """Whether a stored secret is the secret itself (written before secrets were sealed)."""
    return stored.startswith(SECRET_PREFIX)


class RefusedAddress(Exception):
    """The URL's host is not one webhooks may reach (or cannot be resolved). Its message
    says why, for the log; callers are told ``rules.REFUSED_ADDRESS`` alone."""


@dataclass(frozen=True)
class Target:
    host: str  # as the URL names it: what Host and SNI carry
    port: int
    path: str  # path and query


def parse_target(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise RefusedAddress("the URL needs https:// and a host")
    if parts.username or parts.password:
        raise RefusedAddress("the URL may not carry a user name or password")
    try:
        port = parts.port or 443
    except ValueError as exc:
        raise RefusedAddress("the URL's port is not a number from 1 to 65535") from exc
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.hostname, port, path)


async def resolve(target: Target, allowed: tuple[Network, ...], timeout: float) -> Address:  # noqa: ASYNC109
    """The address to connect to: every address the host resolves to must pass (one bad
    answer refuses the host), and the first is used."""
    try:
        literal: Address | None = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[Address] = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM), timeout
            )
        except (OSError, TimeoutError) as exc:
            raise RefusedAddress(f"{target.host} could not be resolved") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if not addresses:
            raise RefusedAddress(f"{target.host} has no address")
    for address in addresses:
        reason = refusal(address, allowed)
        if reason is not None:
            raise RefusedAddress(f"{target.host}: {reason}")
    return addresses[0]


@dataclass(frozen=True)
class Answer:
    status_code: int | None  # None: no answer (refused, timed out, TLS failed)
    latency_ms: int
    error: str | None  # why it failed, or None for a 2xx

    @property
    def ok(self) -> bool:
        return self.error is None


class WebhookPoster:
    """Posts signed bodies; owns its HTTP clients (``close`` them)."""

    def __init__(
        self,
        *,
        allowed_networks: tuple[Network, ...] = (),
        ca_bundle: str = "",
        connect_timeout: float = 5.0,
        timeout: float = 10.0,
        max_response_bytes: int = 64 * 1024,
        connections: int = 16,
    ) -> None:
        self.allowed_networks = allowed_networks
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        # Per host: many endpoints on one host (a CI server) keep their connections open.
        self.limits = httpx.Limits(
            max_connections=connections, max_keepalive_connections=connections
        )
        self.ca_bundle = ca_bundle
        if ca_bundle:
            _ = self.tls  # a bundle that cannot be read fails the start, not the first post
        self._clients: OrderedDict[str, httpx.AsyncClient] = OrderedDict()

    @functools.cached_property
    def tls(self) -> ssl.SSLContext:
        """Built at the first post unless a bundle is named: loading the system's CA store
        costs some 40 ms of CPU, which a process that never posts need not pay."""
        context = ssl.create_default_context()
        if self.ca_bundle:
            context.load_verify_locations(cafile=self.ca_bundle)
        return context

    async def check(self, url: str) -> None:
        """RefusedAddress unless ``url`` may be posted to now (registration's check)."""
        await resolve(parse_target(url), self.allowed_networks, self.connect_timeout)

    def _client(self, host: str) -> httpx.AsyncClient:
        client = self._clients.pop(host, None)
        if client is None:
            client = httpx.AsyncClient(
                verify=self.tls,
                follow_redirects=False,
                # No proxy from the environment: the address checked is the one connected to.
                trust_env=False,
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                limits=self.limits,
            )
        self._clients[host] = client
        while len(self._clients) > MAX_CLIENTS:
            _host, oldest = self._clients.popitem(last=False)
            asyncio.get_running_loop().create_task(oldest.aclose())
        return client

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        started = time.perf_counter()

        def elapsed() -> int:
            return round((time.perf_counter() - started) * 1000)

        try:
            target = parse_target(url)
            address = await resolve(target, self.allowed_networks, self.connect_timeout)
        except RefusedAddress as exc:
            logger.warning("webhook post to %s refused: %s", url, exc)
            return Answer(None, elapsed(), f"refused: {REFUSED_ADDRESS}")
        host = f"[{address}]" if address.version == 6 else str(address)
        pinned = f"https://{host}:{target.port}{target.path}"
        named = f"[{target.host}]" if ":" in target.host else target.host  # an IPv6 literal
        host_header = named if target.port == 443 else f"{named}:{target.port}"
        request_headers = {
            **headers,
            "Host": host_header,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        client = self._client(target.host)
        try:
            async with asyncio.timeout(self.timeout + self.connect_timeout):
                request = client.build_request(
                    "POST",
                    pinned,
                    content=body,
                    headers=request_headers,
                    extensions={"sni_hostname": target.host},
                )
                response = await client.send(request, stream=True)
                try:
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read >= self.max_response_bytes:
                            break  # the rest is not read: the status is what counts
                finally:
                    await response.aclose()
        except (httpx.HTTPError, TimeoutError, ssl.SSLError, OSError) as exc:
            return Answer(None, elapsed(), f"{type(exc).__name__}: {exc}"[:500] or "no answer")
        status = response.status_code
        if 200 <= status < 300:
            return Answer(status, elapsed(), None)
        if 300 <= status < 400:
            return Answer(status, elapsed(), f"answered {status}: redirects are not followed")
        return Answer(status, elapsed(), f"answered {status}")

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            await client.aclose()

"""The API as one signed-in person calls it: their access token on every call, refreshed
before it runs out and once more on a 401; a refresh auth refuses ends the sign-in."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from taskflow_chassis.db import Database
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

from taskflow_web.api.adapters import ApiProblem, ApiUnavailable, json_of, send
from taskflow_web.api.models import FormSending
from taskflow_web.sessions import rules
from taskflow_web.sessions.service import SESSION_ENDED, Session, SessionStore, Tokens

AUTH = "/api/v1/auth"
# A form sent twice at once: the second call waits for the first one's answer (the API
# answers 409 idempotency-key-in-use meanwhile), this often and at most this long.
IN_USE_WAIT_SECONDS = 0.1
IN_USE_WAITS = 100
# How long a form's change is remembered for its second sending (FormSendings).
SENDING_KEPT_SECONDS = 60.0
# The answers FormSendings keeps: what a page reads of an answer.
KEPT_HEADERS = ("content-type", "etag", "location")


class FormSendings:
    """The API's answers to the changes (PATCH, DELETE) forms made, for a minute, in web's
    database: a second sending of the same form's change (a double click), whichever of
    web's processes it reaches, waits for the first one's answer and shares it instead of
    reaching the API on the version the first has just changed (a 412 about the person's
    own change, or the change made twice). The first sending claims the change (a row,
    committed) before it calls the API. The API keeps POST's answers itself
    (Idempotency-Key), on every replica."""

    def __init__(
        self,
        database: Database,
        publisher: Publisher,
        clock: Callable[[], datetime] = utcnow,
        *,
        wait_seconds: float = IN_USE_WAIT_SECONDS,
        waits: int = IN_USE_WAITS,
    ) -> None:
        self.database, self.publisher, self.clock = database, publisher, clock
        self.wait_seconds, self.waits = wait_seconds, waits

    @asynccontextmanager
    async def _unit(self) -> AsyncIterator[UnitOfWork]:
        async with self.database.session() as session:
            yield UnitOfWork(session, self.publisher)

    async def once(self, key: str, send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        for _ in range(self.waits):
            if await self._claim(key):
                return await self._first(key, send)
            kept = await self._kept(key)
            if kept is not None:
                return kept
            await asyncio.sleep(self.wait_seconds)  # the first sending is at the API
        return await send()  # the first never answered: this one tries (If-Match still holds)

    async def _first(
        self, key: str, send: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        try:
            response = await send()
        except BaseException:
            await self._release(key)
            raise
        if response.status_code == 401:
            await self._release(key)  # the caller refreshes and sends again, not the twin
            return response
        kept = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
        async with self._unit() as uow:
            await uow.session.execute(
                update(FormSending)
                .where(FormSending.key == key)  # type: ignore[arg-type]
                .values(
                    status=response.status_code,
                    headers=json.dumps(kept),
                    body=response.content.decode("utf-8", "replace"),
                )
            )
            await uow.commit()
        return response

    async def _claim(self, key: str) -> bool:
        """The change is this sending's to make (a row claimed); False: another holds it.
        Claims older than ``SENDING_KEPT_SECONDS`` go first (a minute later a sending is
        a new intent)."""
        now = self.clock()
        stale = now - timedelta(seconds=SENDING_KEPT_SECONDS)
        async with self._unit() as uow:
            await uow.session.execute(
                delete(FormSending).where(FormSending.claimed_at < stale)  # type: ignore[arg-type]
            )
            uow.session.add(FormSending(key=key, claimed_at=now))
            try:
                await uow.commit()
            except IntegrityError:
                await uow.session.rollback()
                return False
        return True

    async def _kept(self, key: str) -> httpx.Response | None:
        async with self.database.session() as session:
            row = await session.get(FormSending, key)
            if row is None or row.status is None:
                return None
            headers = json.loads(row.headers or "{}")
            return httpx.Response(row.status, headers=headers, content=(row.body or "").encode())

    async def _release(self, key: str) -> None:
        async with self._unit() as uow:
            await uow.session.execute(
                delete(FormSending).where(FormSending.key == key)  # type: ignore[arg-type]
            )
            await uow.commit()


async def _nothing_kept(_user_id: uuid.UUID) -> None:
    """No page cache to tell (tests that build an ``Api`` of their own)."""


class SignInRequired(Exception):
    """The page needs a signed-in person: the answer is the sign-in page, then back."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Please sign in.")
        self.message = message


class Api:
    """The public API (/api/v1/...) on behalf of the request's session."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        store: SessionStore,
        session: Session,
        *,
        refresh_margin_seconds: int,
        clock: Callable[[], datetime],
        client_address: str | None = None,
        user_agent: str | None = None,
        on_change: Callable[[Session | None], None] = lambda _: None,
        form_rendering: Callable[[], str | None] = lambda: None,
        sendings: FormSendings,
        on_write: Callable[[uuid.UUID], Awaitable[None]] = _nothing_kept,
    ) -> None:
        self.client, self.store, self._session = client, store, session
        self.on_change = on_change
        # Told of every change the person asks of the API (whatever the answer): the
        # pages kept for them are out of date from now on (read-your-own-writes).
        self.on_write = on_write
        # The rendering of the form the request posted (see rules.form_token): a POST it
        # makes carries an Idempotency-Key of it, so a form sent twice acts once.
        self.form_rendering = form_rendering
        self.sendings = sendings
        self.margin, self.clock = refresh_margin_seconds, clock
        # The last answer's Retry-After (a 429 a form shows goes out with it).
        self.retry_after: str | None = None
        # Auth throttles log-ins per client address, and the gateway rate-limits per
        # X-Real-Ip: the browser's, not web's own. The gateway's internal entry point
        # (WEB_API_URL) trusts both from web; its public one would drop them.
        self.headers = (
            {"X-Forwarded-For": client_address, "X-Real-Ip": client_address}
            if client_address
            else {}
        )
        # The security audit log names the browser a log-in came from, not web's httpx.
        if user_agent:
            self.headers["User-Agent"] = user_agent[:512]

    @property
    def session(self) -> Session:
        return self._session

    @session.setter
    def session(self, session: Session) -> None:
        """Every change (refreshed, signed in or out) is the request's session from now on."""
        self._session = session
        self.on_change(session)

    async def get(self, path: str, params: Any = None) -> Any:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, json: Any = None) -> Any:
        return await self.call("POST", path, json=json)

    async def patch(self, path: str, json: Any = None) -> Any:
        return await self.call("PATCH", path, json=json)

    async def delete(self, path: str, json: Any = None) -> Any:
        return await self.call("DELETE", path, json=json)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        signed_in: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The JSON answer; a 4xx raises ``ApiProblem``, a 5xx or no answer
        ``ApiUnavailable``; ``signed_in=False`` calls anonymously (sign-up, reset).
        ``headers``: a precondition (``If-Match``) and the like."""
        return json_of(
            await self.answer(
                method, path, json=json, params=params, signed_in=signed_in, headers=headers
            )
        )

    async def get_tagged(self, path: str, params: Any = None) -> tuple[Any, str | None]:
        """The JSON answer and its ``ETag``, for a form that changes the resource with
        ``If-Match`` (someone else's change in between answers 412)."""
        response = await self.answer("GET", path, params=params)
        return json_of(response), response.headers.get("etag")

    async def answer(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        signed_in: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The API's answer as it came (a 5xx or none is ``ApiUnavailable``)."""
        if not signed_in:
            return await self._send(method, path, json, params, None, headers)
        if not self.session.signed_in:
            raise SignInRequired()
        await self.refresh_if_due()
        rendering = self.form_rendering() if method in rules.UNSAFE_METHODS else None
        if rendering:
            precondition = (headers or {}).get("If-Match")
            key = rules.idempotency_key(rendering, method, path, json, precondition)
            response = await self._send_form(method, path, json, params, headers, key)
        else:
            token = self.session.access_token
            response = await self._send(method, path, json, params, token, headers)
        if response.status_code == 401:
            # Expired early or revoked: one refresh, one retry.
            await self._refresh()
            token = self.session.access_token
            response = await self._send(method, path, json, params, token, headers)
            if response.status_code == 401:
                self.session = await self.store.sign_out(self.session)
                raise SignInRequired(SESSION_ENDED)
        if method in rules.UNSAFE_METHODS and self.session.user_id is not None:
            await self.on_write(self.session.user_id)
        return response

    async def _send_form(
        self,
        method: str,
        path: str,
        json: Any,
        params: Any,
        headers: Mapping[str, str] | None,
        key: str,
    ) -> httpx.Response:
        """A change a form's post makes, once for one rendering of the form: a POST with
        the API's Idempotency-Key (its second sending waits out 409 idempotency-key-in-use
        and gets the first answer), a PATCH or DELETE through ``FormSendings``."""
        token = self.session.access_token
        if method != "POST":
            return await self.sendings.once(
                hashlib.sha256(f"{self.session.id_hash}:{key}".encode()).hexdigest(),
                lambda: self._send(method, path, json, params, token, headers),
            )
        headers = {**(headers or {}), "Idempotency-Key": key}
        response = await self._send(method, path, json, params, token, headers)
        for _ in range(IN_USE_WAITS):
            if not _in_use(response):
                break
            await asyncio.sleep(IN_USE_WAIT_SECONDS)  # the same form's first sending runs
            response = await self._send(method, path, json, params, token, headers)
        return response

    async def _send(
        self,
        method: str,
        path: str,
        json: Any,
        params: Any,
        token: str | None,
        extra: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        headers = {**self.headers, **(extra or {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = self.client.build_request(method, path, json=json, params=params, headers=headers)
        response = await send(self.client, request)
        if "retry-after" in response.headers:
            self.retry_after = response.headers["retry-after"]
        return response

    async def refresh_if_due(self) -> None:
        """New tokens where the access token runs out within the margin (a refresh auth
        refuses: ``SignInRequired``)."""
        if rules.needs_refresh(self.clock(), self.session.access_expires_at, self.margin):
            await self._refresh()

    async def _refresh(self) -> None:
        refreshed = await self.store.refresh(self.session, self.exchange)
        if refreshed is None:
            raise SignInRequired(SESSION_ENDED)
        self.session = refreshed

    async def exchange(self, refresh_token: str) -> Tokens | None:
        """A new pair for ``refresh_token`` (auth rotates it), or None where auth refuses it."""
        response = await self._send(
            "POST", f"{AUTH}/jwt/refresh", {"refresh": refresh_token}, None, None
        )
        if response.status_code >= 400:
            return None
        return tokens_of(response.json())

    async def sign_in(self, username: str, password: str) -> Session:
        """Log in at auth (by username, or by email where it holds an @) and keep the pair in
        a new session (the id is rotated)."""
        pair = tokens_of(
            await self.call(
                "POST",
                f"{AUTH}/jwt/create",
                json={"email" if "@" in username else "username": username, "password": password},
                signed_in=False,
            )
        )
        me = json_of(await self._send("GET", f"{AUTH}/users/me", None, None, pair.access))
        replaced = self.session
        self.session = await self.store.sign_in(
            replaced, uuid.UUID(me["id"]), str(me["username"]), pair
        )
        await self._revoke(replaced)  # a sign-in over a sign-in: nobody holds that pair now
        return self.session

    async def sign_out(self) -> None:
        """Auth revokes the pair (log-out), then the session row goes. Auth refusing or
        away does not keep anyone signed in here."""
        await self._revoke(self.session)
        await self.store.end(self.session)
        self.on_change(None)

    async def _revoke(self, session: Session) -> None:
        """Auth revokes ``session``'s pair, if it holds one (auth away: it runs out)."""
        if session.signed_in and session.refresh_token:
            with contextlib.suppress(ApiUnavailable):
                await self._send(
                    "POST",
                    f"{AUTH}/jwt/revoke",
                    {"refresh": session.refresh_token},
                    None,
                    session.access_token,
                )


def _in_use(response: httpx.Response) -> bool:
    """The API's answer while the same Idempotency-Key's first request still runs."""
    if response.status_code != 409:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and str(body.get("type", "")).endswith("idempotency-key-in-use")


def tokens_of(body: Any) -> Tokens:
    if not isinstance(body, dict) or "access" not in body or "refresh" not in body:
        raise ApiProblem(502, "Bad answer", "The sign-in service answered without tokens.")
    return Tokens(str(body["access"]), str(body["refresh"]), int(body.get("expires_in", 0)))

"""``Idempotency-Key`` on every POST: a retried POST is answered, never run twice.

As in Stripe's API and the IETF draft (draft-ietf-httpapi-idempotency-key-header): a
client may send ``Idempotency-Key: <1..255 printable ASCII characters>`` with any POST.

- The first request with a key *claims* it: a row of ``idempotency_keys``, keyed by
  (caller, key), committed before the request runs. The caller is the user of a session's
  access token, each personal API token on its own, or ``anonymous`` on a public route (one
  scope for every anonymous client: use a random key, a UUID). The row holds a fingerprint
  of the request (SHA-256 of method, path, query and body), never the body.
- The change and its answer commit together. A keyed request's unit of work does not
  commit when the route calls ``commit()``: it flushes (so a conflict still surfaces
  there), and the transaction stays open until the answer is rendered. Then the answer
  (status, body, ``Content-Type``, ``Location``, ``ETag``, ``Last-Modified``) is written
  into the row, marked ``committed_at``, and the change, its events and that record commit
  in one transaction, before the answer leaves. No moment exists where the change is
  committed and its answer is not: a crash before that commit leaves nothing done (the
  claim is taken over after ``LEASE``), a crash after it leaves the answer to replay. A
  route that fails after calling ``commit()`` changes nothing, and its retry runs. A
  commit that raises is looked up again (a connection lost after COMMIT, a hook failing
  after it): done, the change's own answer is sent and kept; not done, 503 and the key is
  free; not known (the database away), 503 saying so, and the row is left for a retry to
  find. A row marked committed is never freed.
- A request with the same key and the same fingerprint gets the stored answer again, with
  ``Idempotent-Replayed: true``; for 24 hours.
- The same key with another fingerprint answers 422 ``idempotency-key-reused``; the same
  key while its first request runs answers 409 ``idempotency-key-in-use`` (it does not
  wait, and does not run twice).
- What is stored, like Stripe: the final answer of a request that ran. A 2xx, and a 4xx
  but those a retry may change (401, 408, 409, 425, 429); a request that changed nothing
  stores it in a transaction of its own after it ran. A 5xx is not stored and its claim is
  released, so a retry runs again (a 5xx here means nothing committed: a backing service
  was away, or the request failed before its commit). A change that committed keeps its
  record whatever its answer.
- Only the request's own unit of work is held. What a request writes beside its change
  (a cached answer of another service, a token's last use, a background task after the
  answer) commits on its own and is not the change.
- An answer that is not text cannot be replayed: its row is marked done without it, and a
  retry gets 409 ``idempotency-key-spent`` (done, answer lost); it is not run again. Every
  POST of TaskFlow answers JSON.
- A claim whose request died before committing is taken over after ``LEASE``.
- Routes that opt out (``NOT_IDEMPOTENT``, by operation id) ignore the header, and their
  OpenAPI documents say why: log in, token rotation, a personal API token's creation, and
  a webhook's creation and secret rotation (their answers hold tokens or signing secrets,
  which are never stored), a token check (an answer about the
  present), and the routes whose body holds a password (a fingerprint of it would be a
  fast hash of the password).
- Expired rows are purged every ``PURGE_INTERVAL`` by a loop of each service.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import Depends, FastAPI, Request
from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import SchemaItem
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskflow_chassis.db import Database, rows_matched
from taskflow_chassis.problems import (
    PROBLEM_TYPE_BASE,
    ProblemError,
    problem_response,
    problem_responses,
)
from taskflow_chassis.security import API_TOKEN_PREFIX, InvalidToken, JwtVerifier, TokenCheck
from taskflow_chassis.types import UtcDateTime, utcnow

__all__ = [
    "HEADER",
    "NOT_IDEMPOTENT",
    "REPLAYED_HEADER",
    "create_idempotency_table",
    "drop_idempotency_table",
    "holds_commit",
    "idempotency_metadata",
    "idempotency_table",
    "install_idempotency",
    "keyed_request",
    "purge_expired",
]

logger = logging.getLogger("taskflow.idempotency")

HEADER = "Idempotency-Key"
_HEADER_BYTES = HEADER.lower().encode()
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
RETENTION = timedelta(hours=24)
# A claim whose request neither committed nor answered within this is taken to have died.
LEASE = timedelta(minutes=2)
PURGE_INTERVAL_SECONDS = 600.0
ANONYMOUS = "anonymous"
# Headers of an answer that a replay gives again (the others are the new request's).
STORED_HEADERS = ("content-type", "location", "etag", "last-modified")
# Refusals a retry of the same request may turn into another answer: never stored.
NOT_STORED = frozenset({401, 408, 409, 425, 429})

# POSTs that ignore the header, and why (each one's OpenAPI document says so).
_PASSWORD = (
    "its body holds a password, and a fingerprint of it would be a fast hash of the password "
    "kept for 24 h; a retry cannot make a second one of what it makes (an address, a "
    "password, a link is one)"
)
NOT_IDEMPOTENT: dict[str, str] = {
    "auth.jwt.create": "its answer holds tokens, which are never stored; logging in again is safe",
    "auth.jwt.refresh": "its answer holds tokens, which are never stored",
    "auth.jwt.verify": "it checks a token now and changes nothing: an answer about the "
    "present is never replayed",
    "auth.users.create": _PASSWORD,
    "auth.users.set_password": _PASSWORD,
    "auth.users.reset_password_confirm": _PASSWORD,
    "auth.users.me.email": _PASSWORD,
    "tokens.create": "its answer holds a personal API token, shown once and never stored; "
    "a retry makes another one (revoke the spare)",
    "webhooks.create": "its answer holds the endpoint's signing secret, shown once and never "
    "stored; a retry registers another endpoint (delete the spare)",
    "webhooks.rotate_secret": "its answer holds the new signing secret, shown once and never "
    "stored; a retry rotates again, and the secret it answers is the one in use",
}

TABLE = "idempotency_keys"
EXPIRY_INDEX = "ix_idempotency_keys_expires_at"
_BODY = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def _schema() -> list[SchemaItem]:
    # A function, not a list: the table and each migration need their own Column objects.
    return [
        Column("scope", String(64), primary_key=True),  # the caller: a user id, or anonymous
        Column("key", String(MAX_KEY_LENGTH), primary_key=True),
        Column("fingerprint", String(64), nullable=False),  # SHA-256 of method, path, body
        Column("claim", String(36), nullable=False),  # the run that holds the key
        Column("claimed_at", UtcDateTime(), nullable=False),
        Column("committed_at", UtcDateTime(), nullable=True),  # its change committed
        Column("status", Integer, nullable=True),  # its answer; null while it runs
        Column("headers", Text, nullable=True),  # JSON: the answer's STORED_HEADERS
        Column("body", _BODY, nullable=True),
        Column("expires_at", UtcDateTime(), nullable=False),
        Index(EXPIRY_INDEX, "expires_at"),
    ]


idempotency_metadata = MetaData()
idempotency_table = Table(TABLE, idempotency_metadata, *_schema())
_t = idempotency_table


def create_idempotency_table(op: Any) -> None:
    """Create the table (and its index) from a service's Alembic migration."""
    op.create_table(TABLE, *_schema())


def drop_idempotency_table(op: Any) -> None:
    """The matching ``downgrade`` step."""
    op.drop_index(EXPIRY_INDEX, table_name=TABLE)
    op.drop_table(TABLE)


# --- the claim -------------------------------------------------------------------------


@dataclass
class Claim:
    """One run of a keyed request: the row it holds, and whether its change committed."""

    database: Database
    scope: str
    key: str
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    task: asyncio.Task[Any] | None = None
    committed: bool = False  # with its answer, in one transaction
    # The route's transaction, flushed and held open until its answer is written in it.
    held: AsyncSession | None = None
    path: str = ""

    def row(self) -> Any:
        return and_(_t.c.scope == self.scope, _t.c.key == self.key, _t.c.claim == self.token)


@dataclass
class _Slot:
    """What the middleware and the route's dependency share for one POST: the claim."""

    claim: Claim | None = None


_running: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar(
    "taskflow_idempotency_claim", default=None
)


def _problem(status: int, kind: str, title: str, detail: str, path: str) -> Response:
    return problem_response(
        status,
        title,
        detail,
        type=PROBLEM_TYPE_BASE + kind,
        instance=path,
        errors=[{"loc": ["header", HEADER], "field": HEADER, "type": kind, "msg": detail}],
    )


def _in_use(path: str) -> Response:
    return _problem(
        409,
        "idempotency-key-in-use",
        "Idempotency key in use",
        "A request with this Idempotency-Key is still running; try again when it has answered.",
        path,
    )


def _taken_over_answer(claim: Claim) -> Response:
    return _problem(
        409,
        "idempotency-key-in-use",
        "Idempotency key in use",
        "Another request with this Idempotency-Key took it over; this one changed nothing.",
        claim.path,
    )


def _not_saved(claim: Claim, *, known: bool = True) -> Response:
    detail = (
        "The change could not be saved just now; nothing was changed. Try again shortly."
        if known
        else "Whether the change was saved is not known just now. Try again shortly with "
        "the same Idempotency-Key: it answers the change's answer if it was saved, and "
        "runs it if it was not."
    )
    return problem_response(
        503,
        "Service unavailable",
        detail,
        type=PROBLEM_TYPE_BASE + "service-unavailable",
        instance=claim.path,
        headers={"Retry-After": "5"},
    )


def _replay(row: Any) -> Response:
    headers: dict[str, str] = json.loads(row.headers or "{}")
    headers[REPLAYED_HEADER] = "true"
    body = (row.body or "").encode()
    return Response(body, status_code=row.status, headers=headers)


def _answer_to_existing(row: Any, fingerprint: str, path: str) -> Response:
    if row.fingerprint != fingerprint:
        return _problem(
            422,
            "idempotency-key-reused",
            "Idempotency key reused",
            "This Idempotency-Key was used with another request (method, path or body); "
            "a key names one request.",
            path,
        )
    if row.status is not None:
        return _replay(row)
    if row.committed_at is not None:
        return _problem(
            409,
            "idempotency-key-spent",
            "Request done, answer lost",
            "The request with this Idempotency-Key was carried out, but its answer could not "
            "be kept; it is not run again. Read the resource to see its state.",
            path,
        )
    return _in_use(path)


def _taken_over(row: Any, now: datetime) -> bool:
    """Whether a row no longer holds its key: expired, or a run that died uncommitted."""
    if row.expires_at <= now:
        return True
    abandoned = row.status is None and row.committed_at is None
    return bool(abandoned and row.claimed_at <= now - LEASE)


async def claim_key(
    database: Database, scope: str, key: str, fingerprint: str, path: str
) -> Claim | Response:
    """The key for this run, or the answer to give instead (a replay, 409 or 422)."""
    claim = Claim(database, scope, key, path=path)
    now = utcnow()
    values = {
        "scope": scope,
        "key": key,
        "fingerprint": fingerprint,
        "claim": claim.token,
        "claimed_at": now,
        "committed_at": None,
        "status": None,
        "headers": None,
        "body": None,
        "expires_at": now + RETENTION,
    }
    async with database.sessionmaker() as session:
        # Twice at most: a row that stood in the way may be purged before it is read, and
        # the key is then free (it is not in use: answering 409 would say it was).
        for _attempt in range(2):
            try:
                await session.execute(insert(_t).values(**values))
                await session.commit()
                return claim
            except IntegrityError:
                await session.rollback()
            row = (
                await session.execute(
                    select(_t).where(_t.c.scope == scope, _t.c.key == key).with_for_update()
                )
            ).one_or_none()
            if row is not None:
                break
            await session.rollback()
        if row is None:  # purged, then claimed by another request, then purged again
            return _in_use(path)
        if not _taken_over(row, now):
            await session.rollback()
            return _answer_to_existing(row, fingerprint, path)
        taken = await session.execute(
            update(_t)
            .where(_t.c.scope == scope, _t.c.key == key, _t.c.claim == row.claim)
            .values(**values)
        )
        if rows_matched(taken) != 1:
            await session.rollback()
            return _in_use(path)
        await session.commit()
        return claim


# --- the record, in the request's own transaction --------------------------------------


def keyed_request() -> bool:
    """Whether the running request claimed an Idempotency-Key: its change then commits with
    its answer, in a transaction (see the module's note)."""
    slot = _running.get()
    claim = slot.claim if slot is not None else None
    return claim is not None and claim.task is asyncio.current_task()


def holds_commit(session: AsyncSession) -> bool:
    """Whether a keyed request takes over this commit of its own unit of work: it then only
    flushes, and the change commits with the answer (see the module's note)."""
    slot = _running.get()
    claim = slot.claim if slot is not None else None
    # Only the request's own task: a task it started has its own transactions.
    if claim is None or claim.task is not asyncio.current_task():
        return False
    if not isinstance(session.sync_session, claim.database.session_class):
        return False  # another service's database (embedded mode)
    claim.held = session
    return True


def _answer_values(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    try:
        text: str | None = body.decode()
    except UnicodeDecodeError:
        text = None
    return {
        "status": status if text is not None else None,
        "headers": json.dumps(headers),
        "body": text,
        "expires_at": utcnow() + RETENTION,
    }


async def _store(claim: Claim, status: int, headers: dict[str, str], body: bytes) -> None:
    """Keep the answer for replays, or let the key go so that a retry runs again."""
    values = _answer_values(status, headers, body)
    storable = values["status"] is not None and status < 500 and status not in NOT_STORED
    async with claim.database.sessionmaker() as session:
        if claim.committed or storable:
            await session.execute(update(_t).where(claim.row()).values(**values))
        else:
            await session.execute(delete(_t).where(claim.row(), _t.c.committed_at.is_(None)))
        await session.commit()


async def _commit_with_answer(claim: Claim, held: AsyncSession, answer: _Answer) -> None:
    """Commit the route's held transaction with its answer written in the row. Should the
    commit fail, the row says whether it went through (a connection lost after COMMIT, a
    hook failing after it): if it did, the answer kept is the one sent; if it did not, the
    answer becomes the failure's (nothing was changed)."""
    if not held.in_transaction():
        return  # closed after an error: rolled back, the answer says so
    values = _answer_values(answer.start_status(), answer.headers(), answer.body())
    try:
        marked = await held.execute(
            update(_t).where(claim.row()).values(committed_at=utcnow(), **values)
        )
        if rows_matched(marked) != 1:
            await held.rollback()
            answer.replace(_taken_over_answer(claim))
            return
        await held.commit()
        claim.committed = True
    except Exception as exc:
        with contextlib.suppress(Exception):
            await held.rollback()
        went_through = await _went_through(claim)
        if went_through is not False:
            # Committed, or not known: the row stays as it is (its answer replays, or the
            # claim is taken over after LEASE), never freed for a second run.
            claim.committed = True
            logger.warning(
                "idempotency key %r: commit raised after or around it (%s)", claim.key, exc
            )
            if went_through is None:
                answer.replace(_not_saved(claim, known=False))
            return
        logger.warning("idempotency key %r: change not committed (%s)", claim.key, exc)
        answer.replace(_not_saved(claim))


async def _went_through(claim: Claim) -> bool | None:
    """Whether the claim's row was committed with its change; None: not known (the
    database does not answer)."""
    try:
        async with claim.database.sessionmaker() as session:
            row = (
                await session.execute(select(_t.c.committed_at).where(claim.row()))
            ).one_or_none()
    except Exception:
        return None
    return row is not None and row.committed_at is not None


async def _release(claim: Claim) -> None:
    """After an error that left no answer: uncommitted, the key is free again."""
    if claim.committed:
        return
    async with claim.database.sessionmaker() as session:
        # Never a row marked committed: whatever this process believes, its change is done.
        await session.execute(delete(_t).where(claim.row(), _t.c.committed_at.is_(None)))
        await session.commit()


async def purge_expired(database: Database, now: datetime | None = None) -> int:
    """Delete the rows past their 24 hours; how many went."""
    async with database.sessionmaker() as session:
        result = await session.execute(delete(_t).where(_t.c.expires_at <= (now or utcnow())))
        await session.commit()
        return rows_matched(result)


async def _purge_loop(app: FastAPI, interval: float) -> None:
    while True:
        database: Database | None = getattr(app.state, "database", None)
        if database is not None:
            try:
                purged = await purge_expired(database)
                if purged:
                    logger.info("purged %d expired idempotency keys", purged)
            except Exception as exc:  # the database away: next time
                logger.warning("idempotency purge failed: %s", exc)
        await asyncio.sleep(interval)


# --- the middleware --------------------------------------------------------------------


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and all(" " <= c <= "~" for c in key)


def fingerprint_of(method: str, path: str, query: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def _caller(app: FastAPI, authorization: str | None) -> str | None:
    """Whose key it is: the signed-in user (a session's access tokens, refreshed or not,
    share the user's keys), each personal API token on its own (a narrow token never gets
    an answer the session or a wider token had, nor leaves one for them), ``anonymous``
    without a token, and None for a token the route will refuse (then nothing is claimed)."""
    if authorization is None:
        return ANONYMOUS
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    verifier: JwtVerifier | None = getattr(app.state, "jwt_verifier", None)
    if scheme.lower() != "bearer" or not token or verifier is None:
        return None
    if token.startswith(API_TOKEN_PREFIX) and authorization != f"Bearer {token}":
        return None  # the route refuses any other spelling (security.bearer_token)
    checks: list[TokenCheck] = getattr(app.state, "token_checks", [])
    try:
        claims = await verifier.verify(token)
        for check in checks:
            await check(claims)
    except (InvalidToken, ProblemError):  # refused, or not to be judged yet (503)
        return None
    if claims.is_api_token:
        return "api:" + hashlib.sha256(claims.jti.encode()).hexdigest()[:56]
    return claims.sub


@dataclass
class _Answer:
    start: Message | None = None
    last: Message | None = None
    chunks: list[bytes] = field(default_factory=list)

    async def capture(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.last = message

    @property
    def complete(self) -> bool:
        return self.start is not None and self.last is not None

    def start_status(self) -> int:
        assert self.start is not None
        return int(self.start["status"])

    def body(self) -> bytes:
        return b"".join(self.chunks)

    def replace(self, response: Response) -> None:
        self.start = {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
        self.chunks = [bytes(response.body)]

    def headers(self) -> dict[str, str]:
        assert self.start is not None
        found: dict[str, str] = {}
        for name, value in self.start.get("headers", []):
            text = name.decode("latin-1").lower()
            if text in STORED_HEADERS:
                found[text] = value.decode("latin-1")
        return found

    async def send(self, send: Send) -> None:
        assert self.start is not None
        await send(self.start)
        await send({"type": "http.response.body", "body": self.body()})


class _Answered(Exception):
    """The answer to give instead of running the route (a replay, 409 or 422)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def _answered(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _Answered)
    return exc.response


def _opted_out_paths(schema: dict[str, Any]) -> list[re.Pattern[str]]:
    """The paths (as patterns) whose POST is one of ``NOT_IDEMPOTENT``, from the document:
    what the routes are called there is what the opt-outs name."""
    patterns = []
    for path, item in schema.get("paths", {}).items():
        operation = item.get("post")
        if isinstance(operation, dict) and operation.get("operationId") in NOT_IDEMPOTENT:
            parts = re.split(r"(\{[^}]+\})", path)
            regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
            patterns.append(re.compile(regex))
    return patterns


def _opts_out(request: Request) -> bool:
    state = request.app.state
    patterns: list[re.Pattern[str]] | None = getattr(state, "idempotency_opt_outs", None)
    if patterns is None:
        patterns = state.idempotency_opt_outs = _opted_out_paths(request.app.openapi())
    path = request.scope["path"]
    return any(pattern.fullmatch(path) for pattern in patterns)


async def claim_for_route(request: Request) -> None:
    """The app-wide dependency: on a POST with a key, to a route that honours it, claim the
    key before the route runs, or answer instead of it."""
    slot = _running.get()
    raw_key = request.headers.get(HEADER)
    if raw_key is None or request.method != "POST" or slot is None or slot.claim is not None:
        return
    if _opts_out(request):
        return
    if not valid_key(raw_key):
        raise _Answered(
            _problem(
                400,
                "invalid-idempotency-key",
                "Invalid idempotency key",
                f"{HEADER} takes 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
                request.url.path,
            )
        )
    caller = await _caller(request.app, request.headers.get("authorization"))
    if caller is None:
        return  # a token the route refuses: nothing to keep
    body = await request.body()
    fingerprint = fingerprint_of("POST", request.url.path, request.url.query.encode(), body)
    database: Database = request.app.state.database
    claimed = await claim_key(database, caller, raw_key, fingerprint, request.url.path)
    if isinstance(claimed, Response):
        raise _Answered(claimed)
    claimed.task = asyncio.current_task()
    slot.claim = claimed


async def _answer_after(claim: Claim, answer: _Answer, send: Send) -> None:
    """A keyed run's answer, kept (unless it was with its change) and then sent."""
    if answer.start is None:
        await _release(claim)
        return
    if not claim.committed:
        try:
            await _store(claim, answer.start_status(), answer.headers(), answer.body())
        except Exception as exc:
            # The answer still leaves: a change-free run's row is taken over after LEASE.
            logger.warning("idempotency key %r: answer not stored (%s)", claim.key, exc)
    await answer.send(send)


class IdempotencyMiddleware:
    """Pure ASGI, innermost of the chassis' middleware: it holds a POST's answer back until
    it is stored (while the request's session is still open), then sends it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        keyed = any(name.lower() == _HEADER_BYTES for name, _ in scope.get("headers", []))
        if scope["type"] != "http" or scope["method"] != "POST" or not keyed:
            await self.app(scope, receive, send)
            return
        slot = _Slot()
        answer = _Answer()

        async def capture(message: Message) -> None:
            claim = slot.claim
            if claim is None:
                await send(message)
                return
            await answer.capture(message)
            if answer.complete and claim.held is not None:
                # Still inside the route, its session open: the change commits with this.
                held, claim.held = claim.held, None
                await _commit_with_answer(claim, held, answer)

        token = _running.set(slot)
        try:
            try:
                await self.app(scope, receive, capture)
            finally:
                _running.reset(token)  # the key's own writes below are not the route's
        except BaseException:
            if slot.claim is not None:
                await _release(slot.claim)
            raise
        if slot.claim is not None:
            await _answer_after(slot.claim, answer, send)


# --- installation and documentation ----------------------------------------------------

_HEADER_DESCRIPTION = (
    "Makes a retry of this POST safe: the first request with a key runs, and for 24 hours "
    "the same key with the same request answers its stored answer again "
    f"(`{REPLAYED_HEADER}: true`); with another request 422 `idempotency-key-reused`; "
    "while the first still runs 409 `idempotency-key-in-use`. Keys belong to the caller "
    "(public routes share one scope: use a UUID). 1 to 255 printable ASCII characters."
)


def _header_parameter(description: str) -> dict[str, Any]:
    return {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    }


def document_idempotency(schema: dict[str, Any]) -> dict[str, Any]:
    """Every POST documents the header: what it does, or why this route ignores it."""
    for item in schema.get("paths", {}).values():
        operation = item.get("post")
        if not isinstance(operation, dict):
            continue
        reason = NOT_IDEMPOTENT.get(operation.get("operationId", ""))
        description = f"Ignored by this route: {reason}." if reason else _HEADER_DESCRIPTION
        parameters = operation.setdefault("parameters", [])
        parameters[:] = [p for p in parameters if p.get("name") != HEADER]
        parameters.append(_header_parameter(description))
        if reason is None:
            responses = operation.setdefault("responses", {})
            for status, entry in problem_responses(400, 409, 422).items():
                responses.setdefault(str(status), entry)
    return schema


def install_idempotency(app: FastAPI, *, purge_interval: float = PURGE_INTERVAL_SECONDS) -> None:
    """The middleware (call it before the other middleware: it must be the innermost) and
    the dependency every route gets (call it before including the routers), the header in
    the OpenAPI document, and the purge loop in the app's lifespan."""
    app.add_middleware(IdempotencyMiddleware)
    app.add_exception_handler(_Answered, _answered)
    app.router.dependencies.append(Depends(claim_for_route))
    build_schema: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        return document_idempotency(build_schema())

    # FastAPI's documented hook for its schema (an instance attribute over the method).
    object.__setattr__(app, "openapi", openapi)
    lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def with_purge(instance: Any) -> AsyncIterator[Any]:
        async with lifespan(instance) as state:
            purging = asyncio.create_task(_purge_loop(app, purge_interval), name="idempotency")
            try:
                yield state
            finally:
                purging.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await purging

    app.router.lifespan_context = with_purge

"""Idempotency-Key on POST: a retry answers the first answer and never runs twice (SQLite
and PostgreSQL), concurrent twins answer 409, another body 422, a 5xx is not kept."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response
from pydantic import BaseModel
from sqlalchemy import event, func, insert, select, update
from taskflow_chassis.db import Database
from taskflow_chassis.idempotency import (
    HEADER,
    LEASE,
    NOT_IDEMPOTENT,
    REPLAYED_HEADER,
    Claim,
    claim_key,
    document_idempotency,
    idempotency_metadata,
    idempotency_table,
    install_idempotency,
    purge_expired,
)
from taskflow_chassis.openapi import operation_id
from taskflow_chassis.problems import ProblemError, install_problem_handlers
from taskflow_chassis.security import InvalidToken
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import Publisher, UnitOfWorkDep

from .conftest import WidgetBumped, widgets

PATH = "/api/v1/widgets"


class WidgetIn(BaseModel):
    name: str


@dataclass
class Claims:
    sub: str
    jti: str = ""
    is_api_token: bool = False  # a session's access token (test_api_tokens.py at work: tokens)


class FakeVerifier:
    """Tokens are ``user-<uuid>``; anything else is refused."""

    async def verify(self, token: str) -> Claims:
        if not token.startswith("user-"):
            raise InvalidToken("not a test token")
        return Claims(token.removeprefix("user-"))


@dataclass
class Behaviour:
    """What the next requests of the test app do."""

    fail_before_commit: int = 0  # this many answer 503 before committing
    fail_after_commit: bool = False
    gate: asyncio.Event | None = None  # the slow route waits for it before committing
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    runs: int = 0


def widget_app(database: Database, behaviour: Behaviour) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.database = database
        yield

    app = FastAPI(lifespan=lifespan, generate_unique_id_function=operation_id)
    app.state.publisher = Publisher("widgets")
    app.state.jwt_verifier = FakeVerifier()
    install_idempotency(app)
    install_problem_handlers(app)

    async def make(uow: Any, data: WidgetIn, response: Response) -> dict[str, Any]:
        behaviour.runs += 1
        if behaviour.gate is not None:  # before any write: SQLite has one writer at a time
            behaviour.entered.set()
            await behaviour.gate.wait()
        widget_id = str(uuid.uuid4())
        await uow.session.execute(insert(widgets).values(id=widget_id, count=len(data.name)))
        uow.publish(WidgetBumped(widget_id=widget_id))
        if behaviour.fail_before_commit:
            behaviour.fail_before_commit -= 1
            raise ConnectionError("the database went away")  # 503, nothing committed
        await uow.commit()
        if behaviour.fail_after_commit:
            raise RuntimeError("a bug after the commit")
        response.headers["Location"] = f"{PATH}/{widget_id}"
        response.headers["ETag"] = f'"{widget_id}"'
        response.headers["X-Not-Kept"] = "1"
        return {"id": widget_id, "name": data.name}

    @app.post(PATH, status_code=201)
    async def create_widget(
        data: WidgetIn, uow: UnitOfWorkDep, response: Response
    ) -> dict[str, Any]:
        return await make(uow, data, response)

    @app.post(PATH + "/refusals/{status}")
    async def refuse(status: int, data: WidgetIn) -> None:
        raise ProblemError(status, "Refused", f"Refused with {status}.")

    @app.post(PATH + "/tokens", name="auth.jwt.create")
    async def tokens(data: WidgetIn) -> dict[str, str]:
        behaviour.runs += 1
        return {"access": str(uuid.uuid4())}

    return app


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        yield client


@pytest.fixture
async def keyed(database: Database) -> Database:
    async with database.engine.begin() as conn:
        await conn.run_sync(idempotency_metadata.create_all)
    return database


async def count_widgets(database: Database) -> int:
    async with database.session() as session:
        return int((await session.execute(select(func.count()).select_from(widgets))).scalar_one())


async def rows(database: Database) -> list[Any]:
    async with database.session() as session:
        return list((await session.execute(select(idempotency_table))).all())


def key_header(key: str, **more: str) -> dict[str, str]:
    return {HEADER: key, **more}


async def test_a_retry_answers_the_first_answer_and_creates_one_widget(keyed: Database) -> None:
    async with client_of(widget_app(keyed, Behaviour())) as client:
        key = str(uuid.uuid4())
        first = await client.post(PATH, json={"name": "a"}, headers=key_header(key))
        again = await client.post(PATH, json={"name": "a"}, headers=key_header(key))
        unkeyed = await client.post(PATH, json={"name": "a"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers[REPLAYED_HEADER] == "true"
    assert REPLAYED_HEADER not in first.headers
    for name in ("location", "etag", "content-type"):
        assert again.headers[name] == first.headers[name]
    assert "x-not-kept" not in again.headers
    assert unkeyed.json()["id"] != first.json()["id"]
    assert await count_widgets(keyed) == 2
    (row,) = await rows(keyed)
    assert row.status == 201 and row.committed_at is not None
    assert row.expires_at > utcnow() + timedelta(hours=23)


async def test_the_same_key_with_another_body_or_path_answers_422(keyed: Database) -> None:
    async with client_of(widget_app(keyed, Behaviour())) as client:
        key = str(uuid.uuid4())
        await client.post(PATH, json={"name": "a"}, headers=key_header(key))
        other_body = await client.post(PATH, json={"name": "b"}, headers=key_header(key))
        other_path = await client.post(
            PATH + "/refusals/404", json={"name": "a"}, headers=key_header(key)
        )
    for answer in (other_body, other_path):
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert problem["type"].endswith("/idempotency-key-reused")
        assert problem["errors"][0]["loc"] == ["header", HEADER]
    assert await count_widgets(keyed) == 1


async def test_keys_belong_to_their_caller(keyed: Database) -> None:
    ann, bob = f"user-{uuid.uuid4()}", f"user-{uuid.uuid4()}"
    async with client_of(widget_app(keyed, Behaviour())) as client:
        answers = [
            await client.post(PATH, json={"name": name}, headers=key_header("k", **auth))
            for name, auth in (
                ("ann", {"Authorization": f"Bearer {ann}"}),
                ("bob", {"Authorization": f"Bearer {bob}"}),
                ("anonymous", {}),
            )
        ]
        refused_token = await client.post(
            PATH, json={"name": "x"}, headers=key_header("k", Authorization="Bearer forged")
        )
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert await count_widgets(keyed) == 4  # the refused token was not keyed: it ran
    assert refused_token.status_code == 201
    scopes = {row.scope for row in await rows(keyed)}
    assert scopes == {ann.removeprefix("user-"), bob.removeprefix("user-"), "anonymous"}


async def test_a_5xx_is_not_kept_and_its_retry_runs(keyed: Database) -> None:
    behaviour = Behaviour(fail_before_commit=1)
    async with client_of(widget_app(keyed, behaviour)) as client:
        key = str(uuid.uuid4())
        failed = await client.post(PATH, json={"name": "a"}, headers=key_header(key))
        assert failed.status_code == 503
        assert await rows(keyed) == []  # the key is free again
        retried = await client.post(PATH, json={"name": "a"}, headers=key_header(key))
    assert retried.status_code == 201
    assert REPLAYED_HEADER not in retried.headers
    assert behaviour.runs == 2
    assert await count_widgets(keyed) == 1


@contextmanager
def session_hooks(database: Database, **hooks: Callable[..., None]) -> Iterator[None]:
    """SQLAlchemy session events (``before_commit=...``) on the database's sessions."""
    for name, hook in hooks.items():
        event.listen(database.session_class, name, hook)
    try:
        yield
    finally:
        for name, hook in hooks.items():
            event.remove(database.session_class, name, hook)


async def test_a_route_that_fails_after_its_commit_changes_nothing_and_its_retry_runs(
    keyed: Database,
) -> None:
    behaviour = Behaviour(fail_after_commit=True)
    async with client_of(widget_app(keyed, behaviour)) as client:
        key = str(uuid.uuid4())
        failed = await client.post(PATH, json={"name": "a"}, headers=key_header(key))
        assert failed.status_code == 500
        # The change waited for its answer, and there was none: it never committed.
        assert await count_widgets(keyed) == 0
        assert await rows(keyed) == []
        behaviour.fail_after_commit = False
        retried = await client.post(PATH, json={"name": "a"}, headers=key_header(key))
    assert retried.status_code == 201
    assert REPLAYED_HEADER not in retried.headers
    assert behaviour.runs == 2
    assert await count_widgets(keyed) == 1


async def test_the_change_commits_with_its_answer(keyed: Database) -> None:
    """No moment where the change is committed and its answer is not: at the commit that
    carries the widget, the key's row already holds the answer to replay."""
    seen: list[tuple[int, Any, Any]] = []

    def look(session: Any) -> None:
        found = session.execute(select(idempotency_table)).one_or_none()
        widgets_now = session.execute(select(func.count()).select_from(widgets)).scalar_one()
        if found is not None and widgets_now:
            seen.append((widgets_now, found.status, found.committed_at))

    with session_hooks(keyed, before_commit=look):
        async with client_of(widget_app(keyed, Behaviour())) as client:
            key = str(uuid.uuid4())
            first = await client.post(PATH, json={"name": "a"}, headers=key_header(key))
    assert first.status_code == 201
    assert len(seen) == 1  # one commit carried the change
    ((count, status, committed_at),) = seen
    assert (count, status) == (1, 201) and committed_at is not None


async def test_a_commit_that_fails_with_its_answer_answers_503_and_the_retry_runs(
    keyed: Database,
) -> None:
    failures = [ConnectionError("the database went away at the commit")]

    def fail_once(session: Any) -> None:
        carries_the_change = session.execute(select(func.count()).select_from(widgets)).scalar()
        if failures and carries_the_change:
            raise failures.pop()

    behaviour = Behaviour()
    with session_hooks(keyed, before_commit=fail_once):
        async with client_of(widget_app(keyed, behaviour)) as client:
            key = str(uuid.uuid4())
            failed = await client.post(PATH, json={"name": "a"}, headers=key_header(key))
            assert failed.status_code == 503
            assert failed.headers["Retry-After"] == "5"
            assert failed.json()["type"].endswith("/service-unavailable")
            assert await count_widgets(keyed) == 0
            retried = await client.post(PATH, json={"name": "a"}, headers=key_header(key))
    assert retried.status_code == 201
    assert REPLAYED_HEADER not in retried.headers
    assert behaviour.runs == 2
    assert await count_widgets(keyed) == 1


async def test_a_commit_that_went_through_but_raised_is_never_run_again(keyed: Database) -> None:
    """A commit can raise after the database committed (the connection lost after COMMIT
    was sent, a hook failing after it): the row, read again, says it went through, so the
    answer is the change's own and the retry replays it."""
    failures = [ConnectionError("connection lost after COMMIT was sent")]

    def note(session: Any) -> None:
        widgets_now = session.execute(select(func.count()).select_from(widgets)).scalar()
        session.info["carries_the_change"] = bool(widgets_now)

    def fail_after(session: Any) -> None:
        if failures and session.info.pop("carries_the_change", False):
            raise failures.pop()

    behaviour = Behaviour()
    with session_hooks(keyed, before_commit=note, after_commit=fail_after):
        async with client_of(widget_app(keyed, behaviour)) as client:
            key = str(uuid.uuid4())
            first = await client.post(PATH, json={"name": "a"}, headers=key_header(key))
            retried = await client.post(PATH, json={"name": "a"}, headers=key_header(key))
    assert first.status_code == 201
    assert retried.status_code == 201 and retried.headers[REPLAYED_HEADER] == "true"
    assert retried.json() == first.json()
    assert behaviour.runs == 1
    assert await count_widgets(keyed) == 1


@pytest.mark.parametrize(("status", "kept"), [(404, True), (403, True), (409, False), (429, False)])
async def test_which_refusals_are_kept(keyed: Database, status: int, kept: bool) -> None:
    async with client_of(widget_app(keyed, Behaviour())) as client:
        key = str(uuid.uuid4())
        path = f"{PATH}/refusals/{status}"
        first = await client.post(path, json={"name": "a"}, headers=key_header(key))
        again = await client.post(path, json={"name": "a"}, headers=key_header(key))
    assert first.status_code == again.status_code == status
    assert again.json()["detail"] == first.json()["detail"]
    assert (again.headers.get(REPLAYED_HEADER) == "true") is kept
    assert len(await rows(keyed)) == int(kept)


async def test_a_key_in_use_answers_409_without_running_twice(keyed: Database) -> None:
    behaviour = Behaviour(gate=asyncio.Event())
    async with client_of(widget_app(keyed, behaviour)) as client:
        key = str(uuid.uuid4())
        first = asyncio.create_task(client.post(PATH, json={"name": "a"}, headers=key_header(key)))
        await asyncio.wait_for(behaviour.entered.wait(), 10)
        twin = await client.post(PATH, json={"name": "a"}, headers=key_header(key))
        assert behaviour.gate is not None
        behaviour.gate.set()
        done = await first
        after = await client.post(PATH, json={"name": "a"}, headers=key_header(key))
    assert twin.status_code == 409
    assert twin.json()["type"].endswith("/idempotency-key-in-use")
    assert done.status_code == 201
    assert after.status_code == 201 and after.headers[REPLAYED_HEADER] == "true"
    assert behaviour.runs == 1
    assert await count_widgets(keyed) == 1


async def test_twins_at_the_same_instant_run_once_on_postgres(postgres_database: Database) -> None:
    async with postgres_database.engine.begin() as conn:
        await conn.run_sync(idempotency_metadata.create_all)
    behaviour = Behaviour()
    async with client_of(widget_app(postgres_database, behaviour)) as client:
        key = str(uuid.uuid4())
        answers = await asyncio.gather(
            *(client.post(PATH, json={"name": "a"}, headers=key_header(key)) for _ in range(12))
        )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    created = {answer.json()["id"] for answer in answers if answer.status_code == 201}
    assert len(created) == 1  # the others replayed it or were told the key is in use
    assert behaviour.runs == 1
    assert await count_widgets(postgres_database) == 1


async def test_a_run_that_outlived_its_lease_commits_nothing(keyed: Database) -> None:
    gate = asyncio.Event()
    behaviour = Behaviour(gate=gate)
    async with client_of(widget_app(keyed, behaviour)) as client:
        key = str(uuid.uuid4())
        first = asyncio.create_task(client.post(PATH, json={"name": "a"}, headers=key_header(key)))
        await asyncio.wait_for(behaviour.entered.wait(), 10)
        async with keyed.session() as session:  # as if the first run had died
            await session.execute(
                update(idempotency_table).values(claimed_at=utcnow() - LEASE - timedelta(1))
            )
            await session.commit()
        behaviour.gate = None
        second = await client.post(PATH, json={"name": "a"}, headers=key_header(key))
        gate.set()  # the first run was only slow: it goes on, and must not commit
        done = await first
    assert second.status_code == 201
    assert done.status_code == 409
    assert done.json()["type"].endswith("/idempotency-key-in-use")
    assert behaviour.runs == 2
    assert await count_widgets(keyed) == 1
    (row,) = await rows(keyed)
    assert row.status == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
async def test_an_invalid_key_answers_400(keyed: Database, key: str) -> None:
    async with client_of(widget_app(keyed, Behaviour())) as client:
        answer = await client.post(
            PATH, json={"name": "a"}, headers=[(HEADER.encode(), key.encode())]
        )
    assert answer.status_code == 400
    assert answer.json()["type"].endswith("/invalid-idempotency-key")
    assert await count_widgets(keyed) == 0


async def test_routes_that_opt_out_run_each_time(keyed: Database) -> None:
    behaviour = Behaviour()
    async with client_of(widget_app(keyed, behaviour)) as client:
        answers = [
            await client.post(PATH + "/tokens", json={"name": "a"}, headers=key_header("k"))
            for _ in range(2)
        ]
    assert answers[0].json() != answers[1].json()
    assert behaviour.runs == 2
    assert await rows(keyed) == []


async def test_expired_keys_are_purged_and_free_again(keyed: Database) -> None:
    async with client_of(widget_app(keyed, Behaviour())) as client:
        await client.post(PATH, json={"name": "a"}, headers=key_header("old"))
        await client.post(PATH, json={"name": "a"}, headers=key_header("new"))
        async with keyed.session() as session:
            await session.execute(
                update(idempotency_table)
                .where(idempotency_table.c.key == "old")
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
        # Expired but not yet purged: the key is free for another request.
        reused = await client.post(PATH, json={"name": "b"}, headers=key_header("old"))
        assert reused.status_code == 201 and REPLAYED_HEADER not in reused.headers, reused.text
        async with keyed.session() as session:
            await session.execute(
                update(idempotency_table).values(expires_at=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
    assert await purge_expired(keyed) == 2
    assert await rows(keyed) == []


async def test_a_key_purged_while_its_request_claims_it_is_free(
    keyed: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The purge loop may delete an expired row between a request's insert (refused: the
    row is there) and its read of that row: the key is then free, not "still running"."""
    assert isinstance(await claim_key(keyed, "ann", "k", "print", PATH), Claim)
    async with keyed.session() as session:
        await session.execute(
            update(idempotency_table).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    make_session = keyed.sessionmaker
    purged: list[int] = []

    def purging_after_the_refused_insert() -> Any:
        session = make_session()
        rollback = session.rollback

        async def rollback_then_purge() -> None:
            await rollback()
            if not purged:
                purged.append(await purge_expired(keyed))

        session.rollback = rollback_then_purge  # type: ignore[method-assign]
        return session

    monkeypatch.setattr(keyed, "sessionmaker", purging_after_the_refused_insert)
    claimed = await claim_key(keyed, "ann", "k", "print", PATH)
    assert purged == [1]
    assert isinstance(claimed, Claim), claimed.body if isinstance(claimed, Response) else ""


def test_every_post_documents_the_header_and_opt_outs_say_why() -> None:
    schema = {
        "paths": {
            "/a": {"post": {"operationId": "widgets.create", "responses": {}}},
            "/b": {"post": {"operationId": "auth.jwt.create", "responses": {}}},
            "/c": {"get": {"operationId": "widgets.list", "responses": {}}},
        }
    }
    documented = document_idempotency(schema)["paths"]
    (honoured,) = documented["/a"]["post"]["parameters"]
    assert honoured["name"] == HEADER and honoured["in"] == "header"
    assert honoured["schema"]["maxLength"] == 255
    assert {"400", "409", "422"} <= set(documented["/a"]["post"]["responses"])
    (ignored,) = documented["/b"]["post"]["parameters"]
    assert ignored["description"].startswith("Ignored by this route")
    assert NOT_IDEMPOTENT["auth.jwt.create"] in ignored["description"]
    assert "parameters" not in documented["/c"]["get"]


async def test_the_service_loop_purges_expired_keys(keyed: Database) -> None:
    app = widget_app(keyed, Behaviour())
    install_idempotency(app, purge_interval=0.05)  # a second, faster loop for the test
    async with keyed.session() as session:
        await session.execute(
            insert(idempotency_table).values(
                scope="anonymous",
                key="old",
                fingerprint="f",
                claim=str(uuid.uuid4()),
                claimed_at=utcnow() - timedelta(days=2),
                status=201,
                expires_at=utcnow() - timedelta(days=1),
            )
        )
        await session.commit()
    async with app.router.lifespan_context(app):
        for _ in range(100):
            if not await rows(keyed):
                break
            await asyncio.sleep(0.05)
    assert await rows(keyed) == []

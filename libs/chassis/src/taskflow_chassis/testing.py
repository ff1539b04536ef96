"""Test helpers shared by every service's suite.

``require_server`` skips a test whose server is missing on a developer's machine,
with the reason, but fails it when ``CI`` is set: CI never skips silently.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import event

from taskflow_chassis.db import Database, connect_postgres
from taskflow_chassis.problems import PROBLEM_MEDIA_TYPE

if TYPE_CHECKING:
    import httpx

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL_URL = os.environ.get("TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}


def server_reachable(url: str, default_port: int, timeout: float = 1.0) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_server(name: str, url: str, default_port: int) -> None:
    if server_reachable(url, default_port):
        return
    reason = f"{name} is not reachable at {url}"
    if in_ci():
        pytest.fail(f"{reason}, and CI is set: this test must run in CI", pytrace=False)
    pytest.skip(reason)


def require_postgres() -> str:
    require_server("PostgreSQL", POSTGRES_URL, 5432)
    return POSTGRES_URL


def require_mysql() -> str:
    require_server("MariaDB/MySQL", MYSQL_URL, 3306)
    return MYSQL_URL


def require_rabbitmq() -> str:
    require_server("RabbitMQ", RABBITMQ_URL, 5672)
    return RABBITMQ_URL


def require_redis() -> str:
    require_server("Redis", REDIS_URL, 6379)
    return REDIS_URL


# asgi-lifespan's own 5 s is shorter than a migration plus a broker connection takes on a
# machine running the whole suite side by side; CI failed a setup on it.
APP_START_TIMEOUT_SECONDS = 60.0


@asynccontextmanager
async def app_running(app: Any) -> AsyncIterator[Any]:
    """Run an ASGI app's startup and shutdown around a test, with room for a loaded machine."""
    from asgi_lifespan import LifespanManager

    async with LifespanManager(
        app,
        startup_timeout=APP_START_TIMEOUT_SECONDS,
        shutdown_timeout=APP_START_TIMEOUT_SECONDS,
    ) as manager:
        yield manager.app


def get_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The ASGI scope of a GET of ``path`` from a loopback client: to drive an app as a
    server would, where httpx's ASGI transport reads an answer whole (a live stream)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }


@contextmanager
def statements_sent(database: Database) -> Iterator[list[str]]:
    """Every statement sent to ``database`` meanwhile (an executemany once), in order."""

    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


@asynccontextmanager
async def fresh_postgres_database(prefix: str = "taskflow_test") -> AsyncIterator[str]:
    """Create an empty PostgreSQL database for one test run and drop it afterwards."""
    admin_url = require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await connect_postgres(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = urlsplit(admin_url)
    url = f"postgresql+asyncpg://{base.netloc}/{name}"
    try:
        yield url
    finally:
        conn = await connect_postgres(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


_MIGRATED_SQLITE: dict[tuple[Path, str], Path] = {}


async def migrated_sqlite(path: Path, scripts: Path, service: str) -> str:
    """The URL of a SQLite file at ``path`` holding ``service``'s schema at head, for an app
    whose start-up then finds nothing to migrate. The migrations in ``scripts`` run once
    per process onto a file copied for each test after (a walk through every migration
    costs about 60 ms of CPU, the copy under 1; a migration test starts from an empty
    file instead)."""
    import shutil
    import sqlite3
    import tempfile

    from taskflow_chassis.migrations import upgrade_to_head

    template = _MIGRATED_SQLITE.get((scripts, service))
    if template is None:
        folder = Path(tempfile.mkdtemp(prefix=f"taskflow-{service}-schema-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        template = folder / f"{service}.db"
        database = Database(f"sqlite+aiosqlite:///{template}")
        try:
            await upgrade_to_head(database, scripts, f"alembic_version_{service}")
        finally:
            await database.dispose()
        _MIGRATED_SQLITE[(scripts, service)] = template
    # The backup API, not a file copy: it reads the template whole, write-ahead log included.
    with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(path)) as target:
        source.backup(target)
    return f"sqlite+aiosqlite:///{path}"


# Per process and service: databases at head, emptied between tests. Creating one costs
# PostgreSQL about 0.15 s of CPU and migrating it about 0.1 s more on each side; emptying
# it with one TRUNCATE costs 0.03.
_POSTGRES_POOLS: dict[tuple[Path, str], list[str]] = {}
# What emptying would not undo, as each pooled database was first made: reused only alike.
_POOL_SHAPES: dict[str, Any] = {}
# Each name carries a tag of its host's name: a process is looked for only on its own host
# (a server shared by containers or machines sees the same pids from each).
_POOL_NAME = "taskflow_pool_{service}_{host}_{pid}_"
# Per-database settings, schemas, relations (tables, indexes, sequences), functions and
# extensions: a test that added or changed any would leave them to the next.
_SHAPE = """
SELECT (SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
         WHERE d.datname = current_database()) AS settings,
       (SELECT count(*) FROM pg_namespace
         WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema') AS schemas,
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema') AS relations,
       (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema') AS functions,
       (SELECT count(*) FROM pg_extension) AS extensions
"""


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


@asynccontextmanager
async def migrated_postgres(scripts: Path, service: str) -> AsyncIterator[str]:
    """A PostgreSQL database holding ``service``'s schema at head (the migrations in
    ``scripts``) and no rows, for one test. It is emptied after the test for the
    next one of this process, or dropped where that cannot be done or would not be
    enough (a setting, schema, relation, function or extension that was not there when
    it was made); the process drops its databases as it ends, and its first pool drops
    those of processes gone from this host."""
    from taskflow_chassis.migrations import upgrade_to_head

    admin_url = require_postgres()
    version_table = f"alembic_version_{service}"
    pool = _POSTGRES_POOLS.get((scripts, service))
    if pool is None:
        await _drop_pools_of_processes_gone(admin_url)
        pool = _POSTGRES_POOLS.setdefault((scripts, service), [])
    base = urlsplit(admin_url)
    if pool:
        name = pool.pop()
    else:
        tag = _POOL_NAME.format(service=service, host=_host_tag(), pid=os.getpid())
        name = tag + uuid.uuid4().hex[:8]
        conn = await connect_postgres(admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        database = Database(f"postgresql+asyncpg://{base.netloc}/{name}")
        try:
            await upgrade_to_head(database, scripts, version_table)
        finally:
            await database.dispose()
        _POOL_SHAPES[name] = await _shape(f"postgresql://{base.netloc}/{name}")
    url = f"postgresql+asyncpg://{base.netloc}/{name}"
    try:
        yield url
    finally:
        if await _emptied(f"postgresql://{base.netloc}/{name}", version_table, name):
            pool.append(name)
        else:
            _POOL_SHAPES.pop(name, None)
            await _drop_database(admin_url, name)


async def _shape(url: str) -> Any:
    conn = await connect_postgres(url)
    try:
        return tuple(await conn.fetchrow(_SHAPE))
    finally:
        await conn.close()


async def _emptied(url: str, version_table: str, name: str) -> bool:
    """Every row of every table gone but the migration's, numbering restarted, and nobody
    left connected; False where that could not be done (the test took the database away)
    or would not be enough (the test changed what a TRUNCATE leaves)."""
    try:
        conn = await connect_postgres(url)
    except Exception:
        return False
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        tables = await conn.fetch(
            "SELECT quote_ident(tablename) AS name FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename <> $1",
            version_table,
        )
        if tables:
            names = ", ".join(row["name"] for row in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        return tuple(await conn.fetchrow(_SHAPE)) == _POOL_SHAPES.get(name)
    except Exception:
        return False
    finally:
        await conn.close()


async def _drop_database(admin_url: str, name: str) -> None:
    conn = await connect_postgres(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _drop_pools_of_processes_gone(admin_url: str) -> None:
    conn = await connect_postgres(admin_url)
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'taskflow\\_pool\\_%'"
        )
    finally:
        await conn.close()
    for row in names:
        host, pid = row["datname"].rsplit("_", 3)[-3:-1]
        if host == _host_tag() and pid.isdigit() and not _process_alive(int(pid)):
            await _drop_database(admin_url, row["datname"])


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def drop_pooled_databases() -> None:
    """Drop this process's pooled databases (``migrated_postgres``)."""
    names = [name for pool in _POSTGRES_POOLS.values() for name in pool]
    for pool in _POSTGRES_POOLS.values():
        pool.clear()
    for name in names:
        _POOL_SHAPES.pop(name, None)
        await _drop_database(POSTGRES_URL, name)


def drop_postgres_pools() -> None:
    """``drop_pooled_databases`` where no event loop runs: the root conftest as a session
    ends, and at exit. A failure leaves them to the next run's first pool."""
    import asyncio

    if any(_POSTGRES_POOLS.values()):
        with contextlib.suppress(Exception):
            asyncio.run(drop_pooled_databases())


atexit.register(drop_postgres_pools)


@asynccontextmanager
async def database_at_head(
    kind: str, sqlite_dir: Path, scripts: Path, service: str
) -> AsyncIterator[str]:
    """A database at ``service``'s newest migration with no rows, for one test: ``sqlite``
    (``migrated_sqlite``, a file in ``sqlite_dir``) or ``postgres`` (``migrated_postgres``)."""
    if kind == "sqlite":
        yield await migrated_sqlite(sqlite_dir / f"{service}.db", scripts, service)
        return
    async with migrated_postgres(scripts, service) as url:
        yield url


@asynccontextmanager
async def fresh_database(kind: str, sqlite_dir: Path, prefix: str) -> AsyncIterator[str]:
    """An empty database for one test: ``sqlite`` (a file in ``sqlite_dir``), ``postgres``
    or ``mysql``; the last two skip (or fail in CI) where their server is missing."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{sqlite_dir / f'{prefix}.db'}"
        return
    fresh = fresh_postgres_database if kind == "postgres" else fresh_mysql_database
    async with fresh(prefix) as url:
        yield url


@asynccontextmanager
async def postgres_outage(database_url: str) -> AsyncIterator[None]:
    """The database refuses every connection and loses those it had, until the block ends
    (as a database restarting or out of reach would look to a service)."""
    admin_url = require_postgres()
    name = urlsplit(database_url).path.lstrip("/")
    conn = await connect_postgres(admin_url)
    try:
        await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        try:
            yield
        finally:
            await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_mysql_database(prefix: str = "taskflow_test") -> AsyncIterator[str]:
    """Create an empty MariaDB/MySQL database for one test run and drop it afterwards."""
    import aiomysql

    admin_url = require_mysql()
    parts = urlsplit(admin_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connect = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": parts.username or "root",
        "password": parts.password or "",
    }
    conn = await aiomysql.connect(**connect)
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        conn.close()
    auth = parts.username or "root"
    if parts.password:
        auth += f":{parts.password}"
    url = f"mysql+aiomysql://{auth}@{connect['host']}:{connect['port']}/{name}"
    try:
        yield url
    finally:
        conn = await aiomysql.connect(**connect)
        try:
            async with conn.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()


def unreachable_service() -> httpx.MockTransport:
    """A transport to a service that is not running: each request fails to connect, as to
    a closed port. A test app's client for it then builds no SSL context (some 35 ms of
    CPU an app, loading the CA bundle, for a service most tests never call)."""
    import httpx

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("the service is not running in this test", request=request)

    return httpx.MockTransport(refuse)


def _new_rsa_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def _shared_rsa_key() -> Any:
    return _new_rsa_key()


class TestTokens:
    """Signs access tokens the way auth does, for testing a service without auth.

    ``jwks`` is the fetcher a service's verifier is given in tests. Every instance of a
    process signs with one key unless ``own_key`` (a token "signed by another key"): an
    RSA key costs 20 to 200 ms of CPU to generate, and the suite builds thousands of apps.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self, issuer: str = "taskflow-auth", audience: str = "taskflow", *, own_key: bool = False
    ) -> None:
        import json

        from jwt.algorithms import RSAAlgorithm

        self.issuer, self.audience = issuer, audience
        self.key = _new_rsa_key() if own_key else _shared_rsa_key()
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        self.kid = "test-key"
        self.public_jwk = {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}

    async def jwks(self) -> dict[str, object]:
        return {"keys": [self.public_jwk]}

    def access_token(self, user_id: uuid.UUID, *, ttl_seconds: int = 900, **extra: Any) -> str:
        """``extra``: auth's other claims, e.g. ``ver`` and ``fam``."""

        import jwt

        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
            "type": "access",
            **extra,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def headers(self, user_id: uuid.UUID) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token(user_id)}"}


async def check_revocations_refused(client: Any, tokens: TestTokens, path: str, bus: Any) -> None:
    """What every service must do with auth's ``tokens.revoked`` events: at the next request,
    refuse (401) a logged-out token, a revoked family's, one from before a password change
    and every one of a deleted user, and nothing else. ``client``: an httpx client of the
    service; ``path``: a GET it answers to any signed-in user; ``bus``: a connected memory
    bus of the service's hub, to publish as auth does."""
    from datetime import UTC, datetime, timedelta

    import jwt

    from taskflow_chassis.events import new_event
    from taskflow_chassis.revocation import TOKENS_REVOKED

    def jti(token: str) -> str:
        return str(jwt.decode(token, options={"verify_signature": False})["jti"])

    async def status(token: str) -> int:
        response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        return int(response.status_code)

    async def revoke(scope: str, key: str, user: uuid.UUID, min_version: int | None = None) -> None:
        expires_at = (datetime.now(UTC) + timedelta(minutes=15)).isoformat()
        data = {
            "scope": scope,
            "key": key,
            "user_id": str(user),
            "min_version": min_version,
            "expires_at": expires_at,
        }
        await bus.publish(new_event(TOKENS_REVOKED, source="/taskflow/auth", data=data))
        await bus.drain()

    user, bystander = uuid.uuid4(), uuid.uuid4()
    logged_out, session, other_session = (
        tokens.access_token(user, ver=0, fam=uuid.uuid4().hex) for _ in range(3)
    )
    unrelated = tokens.access_token(bystander, ver=0, fam=uuid.uuid4().hex)
    for token in (logged_out, session, other_session, unrelated):
        assert await status(token) != 401

    await revoke("token", jti(logged_out), user)
    assert await status(logged_out) == 401
    assert await status(session) != 401

    family = jwt.decode(session, options={"verify_signature": False})["fam"]
    await revoke("family", family, user)
    assert await status(session) == 401
    assert await status(other_session) != 401

    await revoke("user", str(user), user, min_version=1)  # a password change
    after_change = tokens.access_token(user, ver=1, fam=uuid.uuid4().hex)
    assert await status(other_session) == 401
    assert await status(after_change) != 401

    await revoke("user", str(user), user)  # the account deleted
    assert await status(after_change) == 401
    assert await status(unrelated) != 401


def check_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """``response`` is a problem document of ``status``: its media type, its ``status``, a
    ``type``, ``title`` and ``detail`` that say something, and on a 409 or a 422 ``errors``
    whose every entry has ``loc``, ``type``, ``msg`` and a ``field`` named. Answers the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body.get(member), str) and body[member], (member, body)
    if status in {409, 422}:
        assert body["errors"], body
        for error in body["errors"]:
            assert set(error) == {"loc", "field", "type", "msg"} and error["field"], body
    return body


async def check_no_route(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """A GET of ``path``, which no route serves, answers a 404 problem that names it."""
    body = check_problem(await client.get(path, headers=headers), 404)
    assert body["detail"] == f"No route for {path}.", body
    return body


async def check_method_refused(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    allowed: Sequence[str],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``method`` on ``path``, whose routes take only ``allowed`` (in order), answers a 405
    problem that lists them, as its ``Allow`` header does."""
    response = await client.request(method, path, headers=headers)
    body = check_problem(response, 405)
    listed = ", ".join(allowed)
    assert body["detail"] == f"{method} is not allowed on {path}. Allowed: {listed}.", body
    assert response.headers["allow"] == listed
    return body


SendAs = Callable[[str], Awaitable[Any]]
Snapshot = Callable[[], Awaitable[Any]]


async def permission_matrix(
    roles: Sequence[str],
    allowed: set[str],
    success: int,
    prepare: Callable[[], Awaitable[tuple[SendAs, Snapshot]]],
    *,
    outsider: str = "outsider",
) -> list[str]:
    """Run one route for every role, each on a world as built; answer what went wrong.

    ``prepare()`` builds a world and returns a function sending the route's request as a
    role, and a snapshot of everything the request could change. A role in ``allowed``
    must get ``success``; the outsider 404; any other member 403, as problem+json, with
    the snapshot unchanged (a refused write changes nothing).

    The next role goes on the same world while it is as built (a refusal that changed it
    is a failure, and a read changes nothing), and on a new one after a request changed
    it or answered what it should not have: building is most of a matrix's time. So the
    refused roles go first, all on one world, and the allowed ones after them.
    """
    failures: list[str] = []
    built: tuple[SendAs, Snapshot] | None = None
    before: Any = None
    in_order = [r for r in roles if r not in allowed] + [r for r in roles if r in allowed]
    for position, role in enumerate(in_order, start=1):
        if built is None:
            built = await prepare()
            before = await built[1]()
        send_as, snapshot = built
        # On a reused world, the last role's snapshot after its request is this one's before.
        response = await send_as(role)
        expected = success if role in allowed else (404 if role == outsider else 403)
        if response.status_code != expected:
            failures.append(
                f"{role}: {response.status_code} (expected {expected}) {response.text[:200]}"
            )
            built = None
            continue
        if expected < 400 and position == len(in_order):
            break  # an allowed last request: no next role needs to know what it changed
        after = await snapshot()
        changed = after != before
        if expected >= 400:
            if response.headers.get("content-type") != "application/problem+json":
                failures.append(f"{role}: refused without a problem document")
            if changed:
                failures.append(f"{role}: refused with {expected} but the data changed")
        if changed:
            built = None
        before = after
    return failures


async def rows_snapshot(database: Any, *tables: Any) -> dict[str, list[str]]:
    """Every row of the given SQLModel tables, and the outbox's event ids, comparable."""
    from sqlalchemy import select

    from taskflow_chassis.messaging import outbox_table

    state: dict[str, list[str]] = {}
    async with database.session() as session:
        for table in tables:
            rows = (await session.execute(select(table))).scalars().all()
            state[table.__tablename__] = sorted(
                repr(sorted(r.model_dump(mode="json").items())) for r in rows
            )
        state["outbox"] = sorted(
            str(r) for r in (await session.execute(select(outbox_table.c.id))).all()
        )
    return state

"""The scenarios: what is measured at each size, and how each becomes a ``Result``."""

from __future__ import annotations

import asyncio
import contextlib
import email
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import httpx
import seed
import yardstick
from accounts import PASSWORD, Accounts, TokenKeeper
from logins import SteadyLogins
from measure import (
    BacklogSampler,
    CpuMeter,
    Result,
    outbox_rows,
    percentiles,
    profilers,
    settle,
)
from stack import ProcessWatch, workers
from taskflow_chassis.events import new_event
from taskflow_chassis.pagination import encode_cursor, list_scope
from taskflow_chassis.ports import free_port
from taskflow_embedded.local import SERVICES, LocalStack
from wrk_runner import Request, Wrk, failed, parse

WEB_PAGE_TARGET_MS = 50  # p50 of a signed-in board page rendered by web
CREATE = "create a task with an assignee"
YARDSTICK = "bare insert + outbox row (yardstick)"
# Issue 20: a create with an assignee at no less than half the yardstick's rate.
CREATE_SHARE_TARGET = 0.5
# Issue 20: get one task while 15 log-ins a second run, at no less than 0.6 of it alone.
LOGIN_RATE = 15.0
READS_BESIDE_LOGINS_TARGET = 0.6
# Requests of the write → notification scenario in flight at once (the rest wait their turn).
WRITERS = 32
BULK_SIZES = (50, 500)  # tasks a bulk change names
BULK_STATUSES = ("in_progress", "todo")  # each request moves its tasks to the other one


@dataclass(frozen=True)
class Options:
    sizes: list[int]
    duration: int  # seconds: wrk takes whole ones
    connections: int
    write_rates: list[float]
    write_seconds: float
    relay_events: int
    workers: dict[str, int]
    profile: str | None
    only: list[str]
    # The stack's ports: the gateway's (the internal entry point the next), the services'
    # first (the others after it), the SMTP sink's; 0 for free ports.
    port: int = 0
    services_port: int = 0
    smtp_port: int = 0


@dataclass
class Bench:
    options: Options
    stack: LocalStack
    wrk: Wrk
    accounts: Accounts
    tokens: TokenKeeper  # the bench user's access token, fresh for as long as the run lasts
    results_dir: Path
    results: list[Result] = field(default_factory=list)
    size: int = 0  # tasks seeded so far: the size the current scenarios run at
    task_ids: Path | None = None  # the tasks "get one task" picks from, one a line
    ids_written: dict[int, int] = field(default_factory=dict)  # size: ids in the file

    def __post_init__(self) -> None:
        self.watch = ProcessWatch(self.stack)
        self.watch.replaced()  # the processes every scenario is compared against

    # --- running and recording ----------------------------------------------------------

    def wanted(self, name: str) -> bool:
        """Whether ``--only`` (words, any of which the name contains) lets this scenario run."""
        return not self.options.only or any(word in name for word in self.options.only)

    def profile(self, name: str, pids: list[int], duration: float) -> list[subprocess.Popen[bytes]]:
        slug = name.replace(" ", "-").replace(",", "").replace("→", "to")
        prefix = self.results_dir / f"profile-{slug}-{self.size}"
        return profilers(self.options.profile, prefix, pids, duration)

    def run(
        self,
        name: str,
        request: Request,
        wrk: Wrk | None = None,
        extra: dict[str, int] | None = None,
        beside: contextlib.AbstractContextManager[object] | None = None,
    ) -> Result | None:
        """``wrk``: another concurrency than the bench's (one connection, say); ``extra``:
        a server beside the stack's that answers the requests (name and pid), costed too;
        ``beside``: a load that runs while wrk does, from after the warm-up and the settle
        to the end (its CPU counted with the scenario's)."""
        if not self.wanted(name):
            return None
        wrk = wrk or self.wrk
        wrk.warm_up(request)
        settle()
        duration = self.options.duration
        service = next((s for s in SERVICES if request.url.startswith(self.stack.url(s))), None)
        pids = workers(self.stack, service) if service else list((extra or {}).values())
        running_profilers = self.profile(name, pids, duration)
        with beside or contextlib.nullcontext():
            events = asyncio.run(self.events())
            cpu = CpuMeter(self.stack, extra)
            out = wrk.run(request, duration)
            cpu_seconds = cpu.seconds()
            events = asyncio.run(self.events()) - events
        for profiler in running_profilers:
            profiler.wait()
        result = parse(out, name, self.size)
        result.cost(cpu_seconds, events)
        return self.record(result)

    def record(self, result: Result) -> Result:
        self.add(result)
        why = failed(result)
        if why:
            sys.exit(f"{result.scenario}: {why}; a failure is no result")
        return result

    async def events(self) -> int:
        """The events in the stack's outboxes so far (a scenario's: the difference)."""
        return await outbox_rows([self.stack.database_url(s) for s in SERVICES])

    def add(self, result: Result) -> None:
        replaced = self.watch.replaced()
        if replaced:
            # A worker killed (by uvicorn's health check, say) drops its requests: say so.
            result.extra["workers_replaced"] = replaced
        self.results.append(result)
        extra = "  ".join(f"{k} {v}" for k, v in result.extra.items())
        print(
            f"{result.scenario:34} {result.tasks:>9,} tasks {result.requests_per_second:9.1f}/s"
            f"  p50 {result.p50_ms:7.1f}  p90 {result.p90_ms:7.1f}  p99 {result.p99_ms:7.1f} ms"
            f"  errors {result.errors}  {extra}",
            flush=True,
        )
        if result.cpu_ms_per_request:
            # Each scenario's cost as it ends, so a run cut short still shows where CPU went.
            cost = "  ".join(f"{k} {v:g}" for k, v in list(result.cpu_ms_per_request.items())[:10])
            print(f"{'':34} CPU ms a request: {cost}", flush=True)

    # --- reads and a write over HTTP ----------------------------------------------------

    def http_scenarios(self, seeded: seed.Seeded) -> None:
        work, token = self.stack.url("work"), self.tokens.path
        project_id = self.accounts.project_id
        tasks = f"{work}/api/v1/tasks?project_id={project_id}&limit=20"
        deep = asyncio.run(self.deep_cursor(seeded))
        self.run("get one task", self.get_one_task())
        self.run("list 20, first page (filtered)",
                 Request(f"{tasks}&status=todo&sort=created_at", token_file=token))  # fmt: skip
        self.run("list 20, deep page (sorted)",
                 Request(f"{tasks}&sort=created_at&cursor={deep}", token_file=token))  # fmt: skip
        body = json.dumps({"title": "Bench task", "priority": "high",
                           "assignee_ids": [str(seeded.teams[0].members[0])]})  # fmt: skip
        create = Request(
            f"{work}/api/v1/projects/{project_id}/tasks",
            method="POST",
            token_file=token,
            body=body,
        )
        bare = self.yardstick(body)
        with BacklogSampler(self.stack.database_url("work")) as backlog:
            result = self.run(CREATE, create)
        if result:
            result.extra["outbox_backlog_max"] = backlog.peak
            if bare:
                share_of_yardstick(result, bare)
        self.web_page(project_id)

    def yardstick(self, body: str) -> Result | None:
        """The same create's body to the bare FastAPI + asyncpg server (bench/yardstick.py)
        with as many workers as work: the insert and outbox row every create needs."""
        if not self.wanted(YARDSTICK) or not self.wanted(CREATE):
            return None
        database_url = self.stack.database_url("work")
        asyncio.run(yardstick.create_tables(database_url))
        workers = self.options.workers.get("work", 1)
        log = self.stack.data_dir / "yardstick.log"
        with yardstick_server(database_url, workers, log) as (url, pid):
            request = Request(f"{url}/tasks", method="POST", body=body)
            return self.run(YARDSTICK, request, extra={"yardstick": pid})

    def web_page(self, project_id: str) -> None:
        """A signed-in person's board, rendered by web: its session, its calls to the API
        through the gateway's internal entry point, the template; kept (nothing changed
        since the last page) and asked afresh (as after every change)."""
        # The bench's connections are as many browsers, each behind its own address: the
        # gateway limits API calls per address (100 a second), and one address asking
        # afresh for 16 browsers met that limit, not the stack's.
        board = Request(
            f"{self.stack.url('web')}/projects/{project_id}",
            cookie=self.accounts.web_cookie,
            clients=self.options.connections,
        )
        alone = Wrk(self.wrk.executable, 1)
        # Web keeps a person's pages until an event says their data changed: a hard reload
        # (Cache-Control: no-cache) asks the API again each time, as after every change.
        fresh = replace(board, headers=(("Cache-Control", "no-cache"),))
        for result in (
            self.run("render a web page (the board)", board),
            self.run("render a web page (the board), one at a time", board, alone),
            self.run("render a web page (the board), after each change", fresh),
        ):
            if result:
                result.extra["target_p50_ms"] = WEB_PAGE_TARGET_MS
                result.extra["target_met"] = result.p50_ms <= WEB_PAGE_TARGET_MS

    async def deep_cursor(self, seeded: seed.Seeded) -> str:
        """The cursor of a page deep in the bench project's tasks, oldest first."""
        after = await seed.deep_cursor_row(self.stack.database_url("work"), seeded.project_id)
        # A cursor is bound to its list: the path and the query but for cursor and limit.
        scope = list_scope(
            "/api/v1/tasks", [("project_id", str(self.accounts.project_id)), ("sort", "created_at")]
        )
        return encode_cursor(scope, {"t": after[0].isoformat()}, str(after[1]))

    def get_one_task(self) -> Request:
        """A random task of the whole data set each request (ids read again at each size)."""
        self.task_ids = self.stack.data_dir / "task-ids.txt"
        if self.size not in self.ids_written:
            ids = asyncio.run(seed.write_task_ids(self.stack.database_url("work"), self.task_ids))
            self.ids_written[self.size] = ids
        url = f"{self.stack.url('work')}/api/v1/tasks/{{id}}"
        return Request(url, token_file=self.tokens.path, ids=self.task_ids)

    def login_scenarios(self) -> None:
        auth = self.stack.url("auth")
        login = Request(
            f"{auth}/api/v1/auth/jwt/create",
            method="POST",
            body=json.dumps({"username": "bench", "password": PASSWORD}),
        )
        self.run("log in", login)
        self.reads_while_logging_in(login.url, login.body)

    def reads_while_logging_in(self, url: str, body: str) -> None:
        """Get one task while log-ins arrive at a steady LOGIN_RATE a second, judged
        against "get one task" alone at the same size (issue 20: at least 0.6 of it)."""
        name = f"get one task (while {LOGIN_RATE:g} log-ins/s run)"
        if not self.wanted(name):
            return
        logins = SteadyLogins(url, body, LOGIN_RATE)
        reads = self.run(name, self.get_one_task(), beside=logins)
        self.record(logins.result(f"log in at {LOGIN_RATE:g}/s (beside the reads)", self.size))
        alone = next(
            (r for r in self.results if r.scenario == "get one task" and r.tasks == self.size),
            None,
        )
        if reads and alone and alone.requests_per_second:
            share = reads.requests_per_second / alone.requests_per_second
            reads.extra["share_of_alone"] = round(share, 2)
            reads.extra["target_share"] = READS_BESIDE_LOGINS_TARGET
            reads.extra["target_met"] = share >= READS_BESIDE_LOGINS_TARGET

    # --- a write's way to the notification and the email --------------------------------

    async def write_to_notification(self, writes: int, rate: float) -> None:
        """Assign the colleague ``writes`` new tasks at a steady rate; time each to its
        in-app notification row and to its email at the SMTP sink."""
        if not self.wanted(f"write → notification row at {rate:g}/s"):
            return
        settle()
        events = await self.events()
        cpu = CpuMeter(self.stack)
        marker = uuid.uuid4().hex[:8]
        pipeline = [
            pid for name in ("work", "notify", "worker", "web") for pid in workers(self.stack, name)
        ]
        running_profilers = self.profile(f"write at {rate:g}", pipeline, writes / rate + 2)
        sent, achieved = await self.assign_at_rate(marker, writes, rate)
        for profiler in running_profilers:
            profiler.wait()
        notified = await self.notification_times(marker, writes)
        mailed = await self.email_times(marker, writes)
        cpu_seconds = cpu.seconds()
        events = await self.events() - events
        for name, arrived in (("write → notification row", notified), ("write → email", mailed)):
            delays = sorted((arrived[t] - sent[t]) * 1000 for t in arrived)
            lost = writes - len(delays)
            result = Result(
                f"{name} at {rate:g}/s",
                self.size,
                round(achieved, 1),
                *percentiles(delays),
                len(delays),
                lost,
            )
            # The whole way of each write, request to email: its CPU per write and per event.
            result.cost(cpu_seconds, events, requests=writes)
            self.add(result)
            if lost:
                sys.exit(f"{name}: {lost} of {writes} never arrived")

    async def assign_at_rate(
        self, marker: str, writes: int, rate: float
    ) -> tuple[dict[str, float], float]:
        """When each task was sent (by title), and the rate achieved."""
        work = self.stack.url("work")
        url = f"{work}/api/v1/projects/{self.accounts.project_id}/tasks"
        sent: dict[str, float] = {}
        # The client shares the stack's two cores: httpx spent 2.3 to 4.9 ms of CPU a write
        # here, aiohttp a fraction of that, so the stack is measured, not the client's
        # contention. Idle connections are let go before uvicorn's 5 s keep-alive closes
        # them, so a request never races the server's close of the connection it was sent on.
        connector = aiohttp.TCPConnector(limit=WRITERS, keepalive_timeout=2)
        # Writes wait for a writer here, their clock already running: a stack that fell
        # behind makes them queue in the client, as a real caller's would.
        writers = asyncio.Semaphore(WRITERS)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

            async def write(n: int) -> None:
                title = f"Latency {marker} {n:05d}"
                sent[title] = time.time()
                async with writers:
                    await post(title)

            async def post(title: str) -> None:
                async with client.post(
                    url,
                    json={"title": title, "assignee_ids": [self.accounts.assignee_id]},
                    # The keeper's current token: a phase may outlast the one it began with.
                    headers={"Authorization": f"Bearer {self.tokens.current}"},
                ) as answer:
                    if answer.status != 201:
                        sys.exit(f"write → notification: {answer.status} {await answer.text()}")
                    await answer.read()

            started = time.monotonic()
            pending = []
            for n in range(writes):
                await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
                pending.append(asyncio.create_task(write(n)))
            await asyncio.gather(*pending)
            return sent, writes / (time.monotonic() - started)

    async def notification_times(self, marker: str, writes: int) -> dict[str, float]:
        conn = await asyncpg.connect(self.stack.database_url("notify"))
        try:
            deadline = time.monotonic() + 120
            while True:
                rows = await conn.fetch(
                    "SELECT title, created_at FROM notifications WHERE user_id = $1"
                    " AND title LIKE $2",
                    uuid.UUID(self.accounts.assignee_id),
                    f"%Latency {marker}%",
                )
                if len(rows) >= writes or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            return {r["title"].split('"')[1]: r["created_at"].timestamp() for r in rows}
        finally:
            await conn.close()

    async def email_times(self, marker: str, writes: int) -> dict[str, float]:
        found: dict[str, float] = {}
        seen: set[Path] = set()
        deadline = time.monotonic() + 120
        while len(found) < writes and time.monotonic() < deadline:
            for path in (self.stack.mail_dir / "new").iterdir():
                if path in seen:
                    continue
                seen.add(path)
                subject = str(email.message_from_bytes(path.read_bytes())["Subject"] or "")
                if f"Latency {marker}" in subject:
                    found[subject.split('"')[1]] = path.stat().st_mtime
            await asyncio.sleep(0.5)
        return found

    # --- bulk changes -------------------------------------------------------------------

    async def bulk_changes(self, size: int) -> None:
        """POST /tasks/bulk naming ``size`` tasks a request, for the scenario's duration: each
        of the bench's connections (no more than the tasks allow) changes a slice of tasks
        of its own, moving them between todo and in progress each request, so every request
        changes every task it names (none waits for another's row locks)."""
        name = f"bulk change, {size} tasks a request"
        if not self.wanted(name):
            return
        task_ids = await seed.changeable_task_ids(
            self.stack.database_url("work"), self.accounts.user_id
        )
        connections = min(self.options.connections, len(task_ids) // size)
        if connections < 1:
            sys.exit(f"{name}: {len(task_ids)} tasks, fewer than one request's")
        slices = [task_ids[n * size : (n + 1) * size] for n in range(connections)]
        settle()
        events = await self.events()
        cpu = CpuMeter(self.stack)
        outcome = await bulk_load(
            f"{self.stack.url('work')}/api/v1/tasks/bulk",
            lambda: self.tokens.current,
            slices,
            self.options.duration,
        )
        # The relay's publishing of the events counted in: the outbox drained first (the
        # consumers' handling of them may go on after).
        await _wait_until_relayed(self.stack.database_url("work"), seconds=120)
        cpu_seconds = cpu.seconds()
        events = await self.events() - events
        seconds = self.options.duration
        requests = len(outcome.latencies_ms)
        result = Result(
            name,
            self.size,
            round(requests / seconds, 1),
            *percentiles(sorted(outcome.latencies_ms)),
            requests,
            sum(outcome.statuses.values()),
            {"tasks_per_second": round(outcome.tasks_changed / seconds, 1),
             "connections": connections},
            statuses={str(k): v for k, v in outcome.statuses.items()},
        )  # fmt: skip
        result.cost(cpu_seconds, events)
        self.record(result)

    # --- the outbox relay ---------------------------------------------------------------

    async def relay_burst(self, events: int) -> None:
        """Outbox rows written at once; the relays' rate of confirmed publishing."""
        if not self.wanted("relay"):
            return
        settle()
        cpu = CpuMeter(self.stack)
        conn = await asyncpg.connect(self.stack.database_url("work"))
        try:
            ids = await _write_outbox_rows(conn, events)
            left = await _wait_until_published(conn, ids, seconds=300)
            first, last = await conn.fetchrow(
                "SELECT min(published_at), max(published_at) FROM outbox_messages"
                " WHERE id = ANY($1)",
                ids,
            )
        finally:
            await conn.close()
        if left:
            sys.exit(f"relay: {left} of {events} events still unpublished after 5 minutes")
        seconds = max((last - first).total_seconds(), 1e-3)
        result = Result("relay: events confirmed by RabbitMQ", self.size,
                        round(events / seconds, 1), 0, 0, 0, 0, events, 0,
                        {"events": events, "seconds": round(seconds, 2)})  # fmt: skip
        # The relay's publishing and every consumer's handling of the (unknown) event type.
        result.cost(cpu.seconds(), events)
        self.add(result)


async def _write_outbox_rows(conn: asyncpg.Connection, events: int) -> list[str]:
    rows = []
    for n in range(events):
        event = new_event("taskflow.work.bench.pinged.v1", source="bench", data={"n": n})
        rows.append((event.id, event.type, event.to_json().decode(), datetime.now(UTC), 0))
    await conn.copy_records_to_table(
        "outbox_messages",
        records=rows,
        columns=["id", "type", "payload", "created_at", "attempts"],
    )
    return [r[0] for r in rows]


async def _wait_until_published(conn: asyncpg.Connection, ids: list[str], seconds: float) -> int:
    """How many of ``ids`` are still unpublished when all are, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    left = len(ids)
    while time.monotonic() < deadline:
        left = await conn.fetchval(
            "SELECT count(*) FROM outbox_messages WHERE id = ANY($1) AND published_at IS NULL",
            ids,
        )
        if not left:
            break
        await asyncio.sleep(0.25)
    return left


def share_of_yardstick(create: Result, bare: Result) -> None:
    """The create's rate as a share of the yardstick's, measured in the same run, and
    whether it meets issue 20's target."""
    share = create.requests_per_second / bare.requests_per_second if bare.requests_per_second else 0
    create.extra["share_of_yardstick"] = round(share, 2)
    create.extra["share_target_met"] = share >= CREATE_SHARE_TARGET


@contextlib.contextmanager
def yardstick_server(database_url: str, workers: int, log: Path) -> Iterator[tuple[str, int]]:
    """bench/yardstick.py under uvicorn with production settings on a free port: its URL
    and process id, stopped on the way out."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "yardstick:app", "--app-dir",
               str(Path(__file__).parent), "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--no-access-log", "--log-level", "warning"]  # fmt: skip
    environment = {**os.environ, "YARDSTICK_DATABASE_URL": database_url}
    with log.open("ab") as output:
        server = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
            command, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{url}/healthz", server, log)
        yield url, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the yardstick's server exited:\n{log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    sys.exit(f"the yardstick's server did not answer within a minute (its log: {log})")


@dataclass
class BulkOutcome:
    latencies_ms: list[float] = field(default_factory=list)
    tasks_changed: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # non-2xx answers by status


async def bulk_load(
    url: str,
    token: Callable[[], str],
    slices: list[list[str]],
    seconds: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> BulkOutcome:
    """One client a slice, each sending its slice's bulk change after the last answer for
    ``seconds``, the status alternating so that every request changes every task."""
    outcome = BulkOutcome()
    limits = httpx.Limits(max_connections=len(slices), keepalive_expiry=2)
    async with httpx.AsyncClient(timeout=60, limits=limits, transport=transport) as client:
        deadline = time.monotonic() + seconds

        async def one_client(task_ids: list[str]) -> None:
            n = 0
            while time.monotonic() < deadline:
                status = BULK_STATUSES[n % 2]
                n += 1
                body = {"task_ids": task_ids, "changes": {"status": status}}
                started = time.perf_counter()
                answer = await client.post(
                    url, json=body, headers={"Authorization": f"Bearer {token()}"}
                )
                outcome.latencies_ms.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    outcome.statuses[answer.status_code] = (
                        outcome.statuses.get(answer.status_code, 0) + 1
                    )
                    continue
                outcome.tasks_changed += len(answer.json()["changed"])

        await asyncio.gather(*(one_client(task_ids) for task_ids in slices))
    return outcome


async def _wait_until_relayed(database_url: str, seconds: float) -> None:
    """Until the outbox of this database holds nothing unpublished, or ``seconds`` passed."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not await conn.fetchval(
                "SELECT count(*) FROM outbox_messages WHERE published_at IS NULL"
            ):
                return
            await asyncio.sleep(0.25)
    finally:
        await conn.close()

"""The scenarios: what is measured at each size, and how each becomes a ``Result``."""

from __future__ import annotations

import asyncio
import email
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import seed
from accounts import PASSWORD, Accounts, TokenKeeper
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
from taskflow_embedded.local import SERVICES, LocalStack
from wrk_runner import Request, Wrk, failure, parse

WEB_PAGE_TARGET_MS = 50  # p50 of a signed-in board page rendered by web


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

    def run(self, name: str, request: Request, wrk: Wrk | None = None) -> Result | None:
        """``wrk``: another concurrency than the bench's (one connection, say)."""
        if not self.wanted(name):
            return None
        wrk = wrk or self.wrk
        wrk.warm_up(request)
        settle()
        duration = self.options.duration
        service = next(s for s in SERVICES if request.url.startswith(self.stack.url(s)))
        running_profilers = self.profile(name, workers(self.stack, service), duration)
        events = asyncio.run(self.events())
        cpu = CpuMeter(self.stack)
        out = wrk.run(request, duration)
        cpu_seconds = cpu.seconds()
        events = asyncio.run(self.events()) - events
        for profiler in running_profilers:
            profiler.wait()
        result = parse(out, name, self.size)
        result.cost(cpu_seconds, events)
        return self.record(result)

    def run_together(self, scenarios: list[tuple[str, Request]]) -> list[Result]:
        """Several wrk runs at once, each its own scenario (log in while others read)."""
        if not any(self.wanted(name) for name, _ in scenarios):
            return []
        settle()
        events = asyncio.run(self.events())
        cpu = CpuMeter(self.stack)
        outputs = self.wrk.run_together([r for _, r in scenarios], self.options.duration)
        cpu_seconds = cpu.seconds()
        events = asyncio.run(self.events()) - events
        results = [
            parse(out, name, self.size) for (name, _), out in zip(scenarios, outputs, strict=True)
        ]
        together = sum(r.requests for r in results)
        for result in results:
            # One machine served them all: its CPU per request of all of them.
            result.cost(cpu_seconds, events, requests=together)
            result.extra["cpu_per_request_of"] = "all run together"
        return [self.record(result) for result in results]

    def record(self, result: Result) -> Result:
        self.add(result)
        if result.errors:
            sys.exit(f"{result.scenario}: {failure(result)}; a failure is no result")
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
        body = {"title": "Bench task", "priority": "high",
                "assignee_ids": [str(seeded.teams[0].members[0])]}  # fmt: skip
        create = Request(
            f"{work}/api/v1/projects/{project_id}/tasks",
            method="POST",
            token_file=token,
            body=json.dumps(body),
        )
        with BacklogSampler(self.stack.database_url("work")) as backlog:
            result = self.run("create a task with an assignee", create)
        if result:
            result.extra["outbox_backlog_max"] = backlog.peak
        self.web_page(project_id)

    def web_page(self, project_id: str) -> None:
        """A signed-in person's board, rendered by web: its session, its calls to the API
        through the gateway's internal entry point, the template."""
        board = Request(f"{self.stack.url('web')}/projects/{project_id}",
                        cookie=self.accounts.web_cookie)  # fmt: skip
        alone = Wrk(self.wrk.executable, 1)
        for result in (
            self.run("render a web page (the board)", board),
            self.run("render a web page (the board), one at a time", board, alone),
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
        self.run_together(
            [
                ("log in (while others read)", login),
                ("get one task (while logging in)", self.get_one_task()),
            ]
        )  # fmt: skip

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
            pid for name in ("work", "notify", "worker") for pid in workers(self.stack, name)
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
        sent: dict[str, float] = {}
        # Idle connections are let go before uvicorn's 5 s keep-alive closes them, so a
        # request never races the server's close of the connection it was sent on.
        limits = httpx.Limits(max_connections=64, keepalive_expiry=2)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:

            async def write(n: int) -> None:
                title = f"Latency {marker} {n:05d}"
                sent[title] = time.time()
                answer = await client.post(
                    f"{work}/api/v1/projects/{self.accounts.project_id}/tasks",
                    json={"title": title, "assignee_ids": [self.accounts.assignee_id]},
                    # The keeper's current token: a phase may outlast the one it began with.
                    headers={"Authorization": f"Bearer {self.tokens.current}"},
                )
                if answer.status_code != 201:
                    sys.exit(f"write → notification: {answer.status_code} {answer.text}")

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

"""``make bench``: TaskFlow's hot paths measured on the local distributed runtime.

Starts the processes of ``make up`` with production settings (no gateway: wrk
talks to each service's own port, as Traefik would), seeds tasks in bulk straight
into work's database at each size, runs every scenario with wrk for a fixed
duration and concurrency, fails loudly on any non-2xx answer, and writes
``bench/results/<time>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import seed
from taskflow_chassis.events import new_event
from taskflow_chassis.pagination import encode_cursor, list_scope
from taskflow_embedded.local import SERVICES, LocalStack

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LUA = HERE / "wrk" / "request.lua"
PASSWORD = "correct-horse-battery"
FULL_SIZES = (1_000, 100_000, 1_000_000)
WARM_UP_SECONDS = 2


@dataclass
class Result:
    scenario: str
    tasks: int
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int
    extra: dict[str, Any] = field(default_factory=dict)
    # CPU seconds each part of the machine spent during the scenario: where time goes.
    cpu_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Bench:
    args: argparse.Namespace
    stack: LocalStack
    wrk: str
    token: str = ""
    user_id: str = ""
    assignee_id: str = ""
    team_id: str = ""
    project_id: str = ""
    task_id: str = ""
    results: list[Result] = field(default_factory=list)
    loop_seconds: dict[str, float] = field(default_factory=dict)  # before and after the run
    processes_seen: dict[str, list[int]] = field(default_factory=dict)
    size: int = 0  # tasks seeded so far: the size the current scenarios run at

    # --- wrk ---------------------------------------------------------------------------

    def wrk_command(self, url: str, duration: float) -> list[str]:
        base = str(httpx.URL(url).copy_with(path="/", query=None))
        # A slow answer (Argon2 under load) is latency, not an error: hence the long timeout.
        return [self.wrk, "-t2", f"-c{self.args.connections}", f"-d{duration}s",
                "--timeout", "10s", "-s", str(LUA), base]  # fmt: skip

    def wrk_env(self, url: str, method: str, token: str, body: str) -> dict[str, str]:
        return {
            **os.environ,
            "BENCH_METHOD": method,
            "BENCH_PATH": httpx.URL(url).raw_path.decode(),
            "BENCH_TOKEN": token,
            "BENCH_BODY": body,
        }

    def workers(self, process: str) -> list[int]:
        """The processes of the stack's ``process`` that run its code (uvicorn's workers)."""
        pids = _descendants(self.stack.processes[process].pid)
        return [p for p in pids[1:] if "spawn_main" in _cmdline(p)] or pids[:1]

    def profilers(
        self, name: str, workers: list[int], duration: float
    ) -> list[subprocess.Popen[bytes]]:
        if not self.args.profile:
            return []
        suffix = ".svg" if self.args.profile == "flamegraph" else ".txt"
        slug = name.replace(" ", "-").replace(",", "").replace("→", "to")
        py_spy = str(Path(sys.executable).with_name("py-spy"))
        profilers = []
        for pid in workers:
            output = RESULTS / f"profile-{slug}-{self.size}-{pid}{suffix}"
            command = [py_spy, "record", "--pid", str(pid), "--nonblocking", "--duration",
                       str(int(duration)), "--rate", "200", "--format", self.args.profile,
                       "--output", str(output)]  # fmt: skip
            profilers.append(
                subprocess.Popen(  # noqa: S603 - py-spy from the dev dependencies
                    command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        return profilers

    def wanted(self, name: str) -> bool:
        """Whether ``--only`` (words, any of which the name contains) lets this scenario run."""
        return not self.args.only or any(word in name for word in self.args.only)

    def run(
        self, name: str, url: str, *, method: str = "GET", token: str = "", body: str = ""
    ) -> Result | None:
        if not self.wanted(name):
            return None
        self.warm_up(url, method, token, body)
        settle()
        duration = self.args.duration
        service = next(s for s in SERVICES if url.startswith(self.stack.url(s)))
        profilers = self.profilers(name, self.workers(service), duration)
        cpu = CpuMeter(self.stack)
        out = subprocess.run(  # noqa: S603 - wrk and our own script
            self.wrk_command(url, duration),
            env=self.wrk_env(url, method, token, body),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        cpu_seconds = cpu.seconds()
        for profiler in profilers:
            profiler.wait()
        return self.record(name, out, cpu_seconds)

    def warm_up(self, url: str, method: str, token: str, body: str) -> None:
        """A short untimed run first: pools filled, statements prepared, caches warm."""
        subprocess.run(  # noqa: S603 - wrk and our own script
            self.wrk_command(url, WARM_UP_SECONDS),
            env=self.wrk_env(url, method, token, body),
            capture_output=True,
            check=True,
        )

    def run_together(self, scenarios: list[tuple[str, str, dict[str, str]]]) -> list[Result]:
        """Several wrk runs at once, each its own scenario (log in while others read)."""
        if not any(self.wanted(name) for name, _, _ in scenarios):
            return []
        settle()
        duration = self.args.duration
        cpu = CpuMeter(self.stack)
        running = [
            (name, subprocess.Popen(  # noqa: S603 - wrk and our own script
                self.wrk_command(url, duration),
                env=self.wrk_env(url, options.get("method", "GET"), options.get("token", ""),
                                 options.get("body", "")),
                stdout=subprocess.PIPE,
                text=True,
            ))
            for name, url, options in scenarios
        ]  # fmt: skip
        outputs = [(name, process.communicate()[0]) for name, process in running]
        cpu_seconds = cpu.seconds()
        return [self.record(name, out, cpu_seconds) for name, out in outputs]

    def record(self, name: str, out: str, cpu_seconds: dict[str, float]) -> Result:
        lines = {
            line.split()[0]: line.split()[1:]
            for line in out.splitlines()
            if line.startswith("BENCH_")
        }
        p50, p90, p99, peak = (int(v) / 1000 for v in lines["BENCH_LATENCY_US"])
        requests, micros = (int(v) for v in lines["BENCH_REQUESTS"])
        errors = int(lines["BENCH_FAILURES"][0])
        rate = round(requests / (micros / 1e6), 1)
        result = Result(name, self.size, rate, p50, p90, p99, peak, requests, errors)
        result.cpu_seconds = cpu_seconds
        self.add(result)
        if errors:
            sys.exit(f"{name}: {errors} non-2xx answers or socket errors; a failure is no result")
        return result

    def add(self, result: Result) -> None:
        replaced = self.replaced_workers()
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

    def replaced_workers(self) -> str:
        """Which services' processes changed since the last look (none the first time)."""
        now = {
            name: sorted(_descendants(process.pid))
            for name, process in self.stack.processes.items()
        }
        before, self.processes_seen = self.processes_seen, now
        if not before:
            return ""
        return " ".join(name for name in now if now[name] != before.get(name))

    # --- set-up through the API --------------------------------------------------------

    async def sign_up(self, client: httpx.AsyncClient, username: str) -> tuple[str, str]:
        auth = self.stack.url("auth")
        answer = await client.post(
            f"{auth}/api/v1/auth/users",
            json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        )
        answer.raise_for_status()
        login = await client.post(
            f"{auth}/api/v1/auth/jwt/create", json={"username": username, "password": PASSWORD}
        )
        login.raise_for_status()
        return answer.json()["id"], login.json()["access"]

    async def set_up(self) -> None:
        """The bench user, their team and project, and a colleague to assign, via the API."""
        async with httpx.AsyncClient(timeout=30) as client:
            self.user_id, self.token = await self.sign_up(client, "bench")
            self.assignee_id, _ = await self.sign_up(client, "colleague")
            headers = {"Authorization": f"Bearer {self.token}"}
            participant = await client.post(
                f"{self.stack.url('auth')}/api/v1/participants/register",
                headers=headers,
                json={"phone_number": "+14155550199"},
            )
            participant.raise_for_status()
            for _ in range(100):  # teams learns of the new user from auth's event
                team = await client.post(
                    f"{self.stack.url('teams')}/api/v1/teams", headers=headers, json={"name": "B"}
                )
                if team.status_code == 201:
                    break
                await asyncio.sleep(0.1)
            team.raise_for_status()
            self.team_id = team.json()["id"]
            project = await client.post(
                f"{self.stack.url('work')}/api/v1/projects",
                headers=headers,
                json={"team_id": self.team_id, "name": "Bench"},
            )
            project.raise_for_status()
            self.project_id = project.json()["id"]
        conn = await asyncpg.connect(self.stack.database_url("work"))
        try:
            # The colleague joins as teams' event would record it (invitations need email).
            await conn.execute(
                "INSERT INTO member_replicas SELECT team_id, $2, role_id, role_name,"
                " permissions, true, updated_at FROM member_replicas"
                " WHERE team_id = $1 AND user_id = $3",
                uuid.UUID(self.team_id),
                uuid.UUID(self.assignee_id),
                uuid.UUID(self.user_id),
            )
        finally:
            await conn.close()
        await self.wait_for_notify_to_know(self.assignee_id)

    async def wait_for_notify_to_know(self, user_id: str) -> None:
        conn = await asyncpg.connect(self.stack.database_url("notify"))
        try:
            for _ in range(300):
                if await conn.fetchval(
                    "SELECT 1 FROM user_replicas WHERE user_id = $1", uuid.UUID(user_id)
                ):
                    return
                await asyncio.sleep(0.1)
            sys.exit("notify never heard of the colleague's sign-up")
        finally:
            await conn.close()

    # --- scenarios ---------------------------------------------------------------------

    def http_scenarios(self, seeded: seed.Seeded) -> None:
        work = self.stack.url("work")
        tasks = f"{work}/api/v1/tasks?project_id={self.project_id}&limit=20"
        after = asyncio.run(
            seed.deep_cursor_row(self.stack.database_url("work"), seeded.project_id)
        )
        # A cursor is bound to its list: the path and the query but for cursor and limit.
        scope = list_scope(
            "/api/v1/tasks", [("project_id", str(self.project_id)), ("sort", "created_at")]
        )
        deep = encode_cursor(scope, {"t": after[0].isoformat()}, str(after[1]))
        self.task_id = self.task_id or asyncio.run(self.some_task())
        self.run("get one task", f"{work}/api/v1/tasks/{self.task_id}", token=self.token)
        self.run("list 20, first page (filtered)", f"{tasks}&status=todo&sort=created_at",
                 token=self.token)  # fmt: skip
        self.run("list 20, deep page (sorted)", f"{tasks}&sort=created_at&cursor={deep}",
                 token=self.token)  # fmt: skip
        body = {"title": "Bench task", "priority": "high",
                "assignee_ids": [str(seeded.teams[0].members[0])]}  # fmt: skip
        with BacklogSampler(self.stack.database_url("work")) as backlog:
            result = self.run(
                "create a task with an assignee",
                f"{work}/api/v1/projects/{self.project_id}/tasks",
                method="POST",
                token=self.token,
                body=json.dumps(body),
            )
        if result:
            result.extra["outbox_backlog_max"] = backlog.peak

    async def some_task(self) -> str:
        conn = await asyncpg.connect(self.stack.database_url("work"))
        try:
            found = await conn.fetchval(
                "SELECT id FROM tasks WHERE project_id = $1 ORDER BY created_at LIMIT 1",
                uuid.UUID(self.project_id),
            )
            return str(found)
        finally:
            await conn.close()

    def login_scenarios(self) -> None:
        auth, work = self.stack.url("auth"), self.stack.url("work")
        login = {"method": "POST", "body": json.dumps({"username": "bench", "password": PASSWORD})}
        self.run("log in", f"{auth}/api/v1/auth/jwt/create", **login)
        self.run_together(
            [
                ("log in (while others read)", f"{auth}/api/v1/auth/jwt/create", login),
                ("get one task (while logging in)", f"{work}/api/v1/tasks/{self.task_id}",
                 {"token": self.token}),
            ]
        )  # fmt: skip

    async def write_to_notification(self, writes: int, rate: float) -> None:
        """Assign the colleague ``writes`` new tasks at a steady rate; time each to its
        in-app notification row and to its email at the SMTP sink."""
        if not self.wanted(f"write → notification row at {rate:g}/s"):
            return
        settle()
        cpu = CpuMeter(self.stack)
        work = self.stack.url("work")
        marker = uuid.uuid4().hex[:8]
        sent: dict[str, float] = {}
        headers = {"Authorization": f"Bearer {self.token}"}
        # Idle connections are let go before uvicorn's 5 s keep-alive closes them, so a
        # request never races the server's close of the connection it was sent on.
        limits = httpx.Limits(max_connections=64, keepalive_expiry=2)
        async with httpx.AsyncClient(timeout=30, limits=limits, headers=headers) as client:

            async def write(n: int) -> None:
                title = f"Latency {marker} {n:05d}"
                sent[title] = time.time()
                answer = await client.post(
                    f"{work}/api/v1/projects/{self.project_id}/tasks",
                    json={"title": title, "assignee_ids": [self.assignee_id]},
                )
                if answer.status_code != 201:
                    sys.exit(f"write → notification: {answer.status_code} {answer.text}")

            pipeline = [pid for name in ("work", "notify", "worker") for pid in self.workers(name)]
            profilers = self.profilers(f"write at {rate:g}", pipeline, writes / rate + 2)
            started = time.monotonic()
            pending = []
            for n in range(writes):
                await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
                pending.append(asyncio.create_task(write(n)))
            await asyncio.gather(*pending)
            achieved = writes / (time.monotonic() - started)
        for profiler in profilers:
            profiler.wait()
        notified = await self.notification_times(marker, writes)
        mailed = await self.email_times(marker, writes)
        cpu_seconds = cpu.seconds()
        for name, arrived in (("write → notification row", notified), ("write → email", mailed)):
            delays = sorted((arrived[t] - sent[t]) * 1000 for t in arrived)
            lost = writes - len(delays)
            result = Result(
                f"{name} at {rate:g}/s",
                self.size,
                round(achieved, 1),
                *_percentiles(delays),
                len(delays),
                lost,
            )
            result.cpu_seconds = cpu_seconds
            self.add(result)
            if lost:
                sys.exit(f"{name}: {lost} of {writes} never arrived")

    async def notification_times(self, marker: str, writes: int) -> dict[str, float]:
        conn = await asyncpg.connect(self.stack.database_url("notify"))
        try:
            deadline = time.monotonic() + 120
            while True:
                rows = await conn.fetch(
                    "SELECT title, created_at FROM notifications WHERE user_id = $1"
                    " AND title LIKE $2",
                    uuid.UUID(self.assignee_id),
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

    async def relay_burst(self, events: int) -> None:
        """Outbox rows written at once; the relays' rate of confirmed publishing."""
        if not self.wanted("relay"):
            return
        settle()
        conn = await asyncpg.connect(self.stack.database_url("work"))
        try:
            rows = []
            for n in range(events):
                event = new_event("taskflow.work.bench.pinged.v1", source="bench", data={"n": n})
                rows.append((event.id, event.type, event.to_json().decode(), datetime.now(UTC), 0))
            await conn.copy_records_to_table(
                "outbox_messages",
                records=rows,
                columns=["id", "type", "payload", "created_at", "attempts"],
            )
            ids = [r[0] for r in rows]
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                left = await conn.fetchval(
                    "SELECT count(*) FROM outbox_messages WHERE id = ANY($1)"
                    " AND published_at IS NULL",
                    ids,
                )
                if not left:
                    break
                await asyncio.sleep(0.25)
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
        self.add(result)


class CpuMeter:
    """CPU seconds spent since it was made, by each process of the stack (with its
    workers), by PostgreSQL, RabbitMQ, Redis, wrk and this script."""

    GROUPS = {"postgres": "postgres", "beam.smp": "rabbitmq", "redis-server": "redis", "wrk": "wrk"}

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.start = self._snapshot()
        self.children_start = self._children()

    @staticmethod
    def _children() -> float:
        """wrk runs as this script's child: counted once it has exited and been reaped."""
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def _snapshot(self) -> dict[int, tuple[str, int]]:
        owner = {
            pid: name
            for name, process in self.stack.processes.items()
            for pid in _descendants(process.pid)
        }
        found = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                raw = stat.read_text()
            except OSError:
                continue
            pid = int(stat.parent.name)
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            fields = raw[raw.rindex(")") + 2 :].split()
            ticks = int(fields[11]) + int(fields[12])  # utime + stime
            group = owner.get(pid) or self.GROUPS.get(comm)
            if group is None and pid == os.getpid():
                group = "bench client"
            found[pid] = (group or "other", ticks)
        return found

    def seconds(self) -> dict[str, float]:
        end = self._snapshot()
        spent: dict[str, float] = {}
        for pid, (group, ticks) in end.items():
            before = self.start.get(pid, (group, 0))[1]
            spent[group] = spent.get(group, 0.0) + (ticks - before) / os.sysconf("SC_CLK_TCK")
        spent["wrk"] = spent.get("wrk", 0.0) + self._children() - self.children_start
        return {k: round(v, 1) for k, v in sorted(spent.items(), key=lambda kv: -kv[1]) if v >= 0.1}


class BacklogSampler:
    """The work outbox's unpublished rows, sampled four times a second (the peak is kept)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._sample()), daemon=True)

    async def _sample(self) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            while not self._stop.is_set():
                backlog = await conn.fetchval(
                    "SELECT count(*) FROM outbox_messages WHERE published_at IS NULL"
                )
                self.peak = max(self.peak, backlog)
                await asyncio.sleep(0.25)
        finally:
            await conn.close()

    def __enter__(self) -> BacklogSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_times() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]  # all, idle + iowait


def settle(limit_seconds: float = 300) -> float:
    """Wait until the machine is nearly idle (under 15% busy for a second): what one
    scenario leaves queued (events, emails) must not run during the next."""
    started = time.monotonic()
    while time.monotonic() - started < limit_seconds:
        total, idle = _cpu_times()
        time.sleep(1)
        total_after, idle_after = _cpu_times()
        if 1 - (idle_after - idle) / max(total_after - total, 1) < 0.15:
            break
    return time.monotonic() - started


def _percentiles(values: list[float]) -> tuple[float, float, float, float]:
    if not values:
        return (0.0, 0.0, 0.0, 0.0)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return (round(cuts[49], 1), round(cuts[89], 1), round(cuts[98], 1), round(values[-1], 1))


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        subprocess.run(install, check=False, capture_output=True)  # noqa: S603
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: apt-get install wrk (Debian/Ubuntu) or brew install wrk")
    return found


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += _descendants(int(child))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _status_kb(pid: int, field: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith(field)), 0)


def memory_mb(stack: LocalStack, field: str) -> dict[str, float]:
    """Per process of the stack, the largest of its processes (one API worker, say):
    ``VmRSS`` is resident now, ``VmHWM`` the peak resident since it started."""
    sizes = {}
    for name, process in stack.processes.items():
        pids = _descendants(process.pid)
        sizes[name] = round(max(_status_kb(pid, field) for pid in pids) / 1024, 1)
    return sizes


def _version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)  # noqa: S603
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return "unknown"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""


def loop_seconds(steps: int = 5_000_000) -> float:
    """The machine's speed at this moment: a fixed pure-Python loop, best of three.

    A shared virtual machine's cores are not always as fast as each other or as
    themselves minutes later; this figure, taken before and after the run, says
    how fast they were, so two reports can be compared fairly.
    """
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for step in range(steps):
            total += step
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": _version(["psql", "--version"]),
        "rabbitmq": _version(["rabbitmqctl", "version"]),
        "redis": _version(["redis-server", "--version"]),
        "wrk": _version(["wrk", "--version"]),
    }


def report(bench: Bench, memory: dict[str, dict[str, float]], sizes: list[int]) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    args = bench.args
    about = machine()
    data = {
        "time": stamp,
        "machine": about,
        "sizes": sizes,
        "duration_s": args.duration,
        "connections": args.connections,
        "workers": args.workers,
        "loop_seconds": bench.loop_seconds,
        "results": [asdict(r) for r in bench.results],
        "memory_mb": memory,
    }
    (RESULTS / f"{stamp}.json").write_text(json.dumps(data, indent=2))
    lines = [
        f"TaskFlow bench {stamp}: wrk -t2 -c{args.connections}, {args.duration} s a scenario; "
        f"{about['cores']} cores, {about['memory_gb']} GB; Python {about['python']}; "
        f"API workers {', '.join(f'{k} {v}' for k, v in args.workers.items())}",
        "",
        "Machine speed (a 5,000,000-step Python loop, best of three; lower is faster): "
        + ", ".join(f"{k} {v} s" for k, v in bench.loop_seconds.items()),
        "",
        "| scenario | tasks | req/s | p50 ms | p90 ms | p99 ms | errors | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r.scenario} | {r.tasks:,} | {r.requests_per_second} | {r.p50_ms} | {r.p90_ms} "
        f"| {r.p99_ms} | {r.errors} | {', '.join(f'{k} {v}' for k, v in r.extra.items())} |"
        for r in bench.results
    ]
    groups = list(dict.fromkeys(g for r in bench.results for g in r.cpu_seconds))
    lines += [
        "",
        "CPU seconds spent during each scenario, by part of the machine "
        f"({about['cores']} cores times the scenario's seconds is all there is):",
        "",
        "| scenario | tasks | " + " | ".join(groups) + " |",
        "|---|---:|" + "---:|" * len(groups),
    ]
    lines += [
        f"| {r.scenario} | {r.tasks:,} | "
        + " | ".join(str(r.cpu_seconds.get(g, "")) for g in groups)
        + " |"
        for r in bench.results
        if r.cpu_seconds
    ]
    lines += [
        "",
        "| process | resident MB at idle | peak resident MB |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {s} | {memory['idle'].get(s)} | {memory['peak'].get(s)} |" for s in memory["idle"]
    ]
    lines += ["", "Versions: " + "; ".join(f"{k} {v}" for k, v in about.items())]
    path = RESULTS / f"{stamp}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 tasks, 5 s runs")
    parser.add_argument("--sizes", default=",".join(map(str, FULL_SIZES)))
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--write-rates",
        default="20,50,100",
        help="write → notification: assignments per second, each rate for --write-seconds",
    )
    parser.add_argument("--write-seconds", type=float, default=10)
    parser.add_argument("--relay-events", type=int, default=20_000)
    parser.add_argument("--workers", default="auth=2,teams=1,work=2,notify=2",
                        help="uvicorn worker processes per service")  # fmt: skip
    parser.add_argument(
        "--profile",
        choices=["flamegraph", "raw"],
        help="record each scenario's workers with py-spy into bench/results/",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated words: run only the scenarios whose names contain one",
    )
    args = parser.parse_args()
    args.only = [word for word in args.only.split(",") if word]
    args.workers = {
        name: int(count) for name, count in (part.split("=") for part in args.workers.split(","))
    }
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes, args.duration, args.write_seconds, args.relay_events = [1_000], 5, 3, 5_000
    stack = LocalStack(
        data_dir=RESULTS / "stack",
        name=f"tfbench_{uuid.uuid4().hex[:6]}",
        base_port=8201,
        smtp_port=2625,
    )
    bench = Bench(args, stack, ensure_wrk())
    # Production settings: no reload, no access log, warnings only, API workers per service.
    os.environ["TASKFLOW_LOG_LEVEL"] = "WARNING"
    os.environ["TASKFLOW_ACCESS_LOG"] = "false"
    for service, workers in args.workers.items():
        os.environ[f"{service.upper()}_WORKERS"] = str(workers)
    bench.loop_seconds["before"] = loop_seconds()
    print(f"machine speed: {bench.loop_seconds['before']} s for the loop", flush=True)
    shutil.rmtree(stack.data_dir, ignore_errors=True)
    asyncio.run(stack.create_databases())
    stack.start()
    try:
        asyncio.run(stack.wait_ready())
        asyncio.run(bench.set_up())
        idle = memory_mb(stack, "VmRSS")
        bench.replaced_workers()  # the processes every scenario is compared against
        seeded = seed.Seeded(
            uuid.UUID(bench.user_id), uuid.UUID(bench.team_id), uuid.UUID(bench.project_id)
        )
        for size in sizes:
            started = time.monotonic()
            asyncio.run(seed.grow(stack.database_url("work"), seeded, size))
            bench.size = size
            print(f"seeded {seeded.counts} in {time.monotonic() - started:.0f} s", flush=True)
            bench.http_scenarios(seeded)
            if size == sizes[0]:
                bench.login_scenarios()
                for rate in (float(r) for r in args.write_rates.split(",")):
                    writes = int(rate * args.write_seconds)
                    asyncio.run(bench.write_to_notification(writes, rate))
                asyncio.run(bench.relay_burst(args.relay_events))
        peak = memory_mb(stack, "VmHWM")
        settle()
        bench.loop_seconds["after"] = loop_seconds()
        print(f"report: {report(bench, {'idle': idle, 'peak': peak}, sizes)}")
    finally:
        stack.stop()
        asyncio.run(stack.drop_databases())


if __name__ == "__main__":
    began = time.monotonic()
    main()
    print(f"bench finished in {time.monotonic() - began:.0f} s")

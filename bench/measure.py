"""What a scenario cost and how fast the machine was: results, CPU seconds by part of the
machine, the outbox's backlog, latency percentiles, idleness, and py-spy profiles."""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from stack import cmdline, descendants
from taskflow_chassis.db import connect_postgres
from taskflow_embedded.local import LocalStack


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
    # Non-2xx answers by status and socket errors by kind ("429": 9, "timeout": 2).
    statuses: dict[str, int] = field(default_factory=dict)
    # Events the scenario put in the services' outboxes (each one through the pipeline).
    events: int = 0
    # CPU milliseconds per request (per write, for the pipeline's) and per event, by part
    # of the machine, "stack" their sum over the stack's own processes.
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)
    cpu_ms_per_event: dict[str, float] = field(default_factory=dict)

    def cost(self, cpu_seconds: dict[str, float], events: int, requests: int = 0) -> None:
        """Record the scenario's CPU seconds and what they come to per request (``requests``
        when not the scenario's own: all of those run together, say) and per event."""
        self.cpu_seconds = cpu_seconds
        self.events = events
        self.cpu_ms_per_request = per_unit(cpu_seconds, requests or self.requests)
        self.cpu_ms_per_event = per_unit(cpu_seconds, events)


# Spent beside the stack, not by it: the load, this script, other tenants of the machine.
NOT_THE_STACK = frozenset({"wrk", "bench client", "other", "postgres (others)"})


def per_unit(cpu_seconds: dict[str, float], units: int) -> dict[str, float]:
    """Milliseconds of CPU per unit by part, and "stack": the stack's parts summed."""
    if units <= 0:
        return {}
    stack = sum(v for k, v in cpu_seconds.items() if k not in NOT_THE_STACK)
    parts = {"stack": stack, **cpu_seconds}
    return {k: round(v * 1000 / units, 3) for k, v in parts.items()}


class CpuMeter:
    """CPU seconds spent since it was made, by each process of the stack (with its
    workers, the relay and consumers inside them; the Celery worker; the SMTP sink), by
    PostgreSQL (the backends of the stack's databases and the server's own processes;
    other databases' backends apart), RabbitMQ, Redis, wrk and this script."""

    GROUPS = {"postgres": "postgres", "beam.smp": "rabbitmq", "redis-server": "redis", "wrk": "wrk"}

    def __init__(self, stack: LocalStack, extra: dict[str, int] | None = None) -> None:
        self.stack = stack
        # Processes beside the stack's, by name and pid (the yardstick's server, say).
        self.extra = extra or {}
        self.start = self._snapshot()
        self.children_start = self._children()

    @staticmethod
    def _children() -> float:
        """wrk runs as this script's child: counted once it has exited and been reaped."""
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def _snapshot(self) -> dict[int, tuple[str, int]]:
        roots = {name: process.pid for name, process in self.stack.processes.items()}
        owner = {
            pid: name for name, root in {**roots, **self.extra}.items() for pid in descendants(root)
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
            if group == "postgres":
                group = postgres_group(cmdline(pid), self.stack.name)
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
        # Milliseconds kept: a short scenario's RabbitMQ, Redis or SMTP sink costs less than 0.1 s.
        ordered = sorted(spent.items(), key=lambda kv: -kv[1])
        return {k: round(v, 3) for k, v in ordered if v >= 0.001}


def postgres_group(title: str, stack_name: str) -> str:
    """A PostgreSQL process's part: a backend (or autovacuum worker) of one of the stack's
    databases, or the server's own processes, are "postgres"; other databases' backends
    (another stack's tests on the same server) are "postgres (others)"."""
    if f"{stack_name}_" in title:
        return "postgres"
    # A backend shows its client's address ("127.0.0.1(46064)", "[local]").
    other = "(" in title or "[local]" in title or "autovacuum worker" in title
    return "postgres (others)" if other else "postgres"


async def outbox_rows(database_urls: list[str]) -> int:
    """The rows of the outboxes of these databases (those that have one): read before and
    after a scenario, the events it made."""
    total = 0
    for url in database_urls:
        conn = await connect_postgres(url)
        try:
            if await conn.fetchval("SELECT to_regclass('outbox_messages') IS NOT NULL"):
                total += await conn.fetchval("SELECT count(*) FROM outbox_messages")
        finally:
            await conn.close()
    return total


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


def profilers(
    profile: str | None, output_prefix: Path, pids: list[int], duration: float
) -> list[subprocess.Popen[bytes]]:
    """py-spy on each process for ``duration`` (none without ``--profile``); wait for them.
    Only the thread holding the GIL is sampled (``--gil``): a profile of CPU spent, not of
    threads waiting (a sync route's or the database driver's idle pool threads)."""
    if not profile:
        return []
    suffix = ".svg" if profile == "flamegraph" else ".txt"
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    started = []
    for pid in pids:
        output = output_prefix.with_name(f"{output_prefix.name}-{pid}{suffix}")
        command = [py_spy, "record", "--pid", str(pid), "--nonblocking", "--duration",
                   str(int(duration)), "--rate", "200", "--gil", "--format", profile,
                   "--output", str(output)]  # fmt: skip
        started.append(
            subprocess.Popen(  # noqa: S603 - py-spy from the dev dependencies
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
    return started


def _cpu_times() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]  # all, idle + iowait


# How long settle waits at most (``--settle-seconds``): on a machine others share, it may
# never become idle, and a short run then measures cost (CPU per event), not speed.
SETTLE_LIMIT_SECONDS = [300.0]


def settle(limit_seconds: float | None = None) -> float:
    """Wait until the machine is nearly idle (under 15% busy for a second): what one
    scenario leaves queued (events, emails) must not run during the next."""
    limit_seconds = SETTLE_LIMIT_SECONDS[0] if limit_seconds is None else limit_seconds
    started = time.monotonic()
    while time.monotonic() - started < limit_seconds:
        total, idle = _cpu_times()
        time.sleep(1)
        total_after, idle_after = _cpu_times()
        if 1 - (idle_after - idle) / max(total_after - total, 1) < 0.15:
            break
    return time.monotonic() - started


def percentiles(values: list[float]) -> tuple[float, float, float, float]:
    """p50, p90, p99 and the largest of sorted ``values``."""
    if not values:
        return (0.0, 0.0, 0.0, 0.0)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return (round(cuts[49], 1), round(cuts[89], 1), round(cuts[98], 1), round(values[-1], 1))


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

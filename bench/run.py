"""``make bench``: TaskFlow's hot paths measured on the local distributed runtime.

Starts the processes of ``make up`` (no gateway: wrk talks to each service's own
port, as Traefik would), seeds tasks in bulk straight into work's database, runs
each scenario with wrk for a fixed duration and concurrency, fails loudly on any
non-2xx answer, and writes ``bench/results/<time>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from taskflow_chassis.pagination import encode_cursor
from taskflow_embedded.local import SERVICES, LocalStack

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk" / "request.lua"
PASSWORD = "correct-horse-battery"


@dataclass
class Result:
    scenario: str
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    failures: int


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


def run_wrk(
    wrk: str,
    name: str,
    url: str,
    *,
    duration: int,
    connections: int,
    method: str = "GET",
    token: str = "",
    body: str = "",
    profile_pids: list[int] = (),  # type: ignore[assignment]
    profile_dir: Path = HERE / "results",
    profile_format: str = "flamegraph",
) -> Result:
    env = {
        **os.environ,
        "BENCH_METHOD": method,
        "BENCH_PATH": httpx.URL(url).raw_path.decode(),
        "BENCH_TOKEN": token,
        "BENCH_BODY": body,
    }
    base = str(httpx.URL(url).copy_with(path="/", query=None))
    profilers = [
        subprocess.Popen(  # noqa: S603 - py-spy from the dev dependencies
            [
                str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--nonblocking",
                "--duration", str(duration), "--rate", "200", "--format", profile_format,
                "--output", str(profile_dir / f"{name.replace(' ', '-').replace(',', '')}-{pid}"
                                 f"{'.svg' if profile_format == 'flamegraph' else '.txt'}"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in profile_pids
    ]  # fmt: skip
    out = subprocess.run(  # noqa: S603 - wrk and our own script
        # A slow answer (Argon2 under load) is latency, not an error: hence the long timeout.
        [
            wrk,
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            base,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for profiler in profilers:
        profiler.wait()
    lines = {
        line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("BENCH_")
    }
    p50, p90, p99, peak = (int(v) / 1000 for v in lines["BENCH_LATENCY_US"])
    requests, micros = (int(v) for v in lines["BENCH_REQUESTS"])
    failures = int(lines["BENCH_FAILURES"][0])
    result = Result(
        name, round(requests / (micros / 1e6), 1), p50, p90, p99, peak, requests, failures
    )
    print(
        f"{name:28} {result.requests_per_second:9.1f} req/s  p50 {p50:7.1f} ms  p90 {p90:7.1f} ms  "
        f"p99 {p99:7.1f} ms  failures {failures}"
    )
    if failures:
        sys.exit(
            f"{name}: {failures} non-2xx answers or socket errors; a failed request is not a result"
        )
    return result


async def seed(stack: LocalStack, tasks: int) -> dict[str, str]:
    """One team, project and member through the API; then ``tasks`` tasks in bulk in SQL."""
    async with httpx.AsyncClient(timeout=30) as client:
        auth, teams, work = stack.url("auth"), stack.url("teams"), stack.url("work")
        await client.post(
            f"{auth}/api/v1/auth/users",
            json={"username": "bench", "email": "bench@example.com", "password": PASSWORD},
        )
        login = await client.post(
            f"{auth}/api/v1/auth/jwt/create", json={"username": "bench", "password": PASSWORD}
        )
        token = login.json()["access"]
        headers = {"Authorization": f"Bearer {token}"}
        me = (await client.get(f"{auth}/api/v1/auth/users/me", headers=headers)).json()
        await client.post(
            f"{auth}/api/v1/participants/register",
            headers=headers,
            json={"phone_number": "+14155550199"},
        )
        for _ in range(100):
            team = await client.post(
                f"{teams}/api/v1/teams", headers=headers, json={"name": "Bench"}
            )
            if team.status_code == 201:
                break
            await asyncio.sleep(0.1)
        team_id = team.json()["id"]
        project = (
            await client.post(
                f"{work}/api/v1/projects",
                headers=headers,
                json={"team_id": team_id, "name": "Bench"},
            )
        ).json()
    conn = await asyncpg.connect(stack.database_url("work"))
    try:
        start = datetime.now(UTC) - timedelta(days=30)
        rows = [
            (
                uuid.uuid4(),
                uuid.UUID(project["id"]),
                uuid.UUID(team_id),
                f"Task {n}",
                f"Seeded task number {n}",
                ["backlog", "todo", "in_progress", "in_review", "done"][n % 5],
                ["low", "medium", "high", "critical"][n % 4],
                n % 4,
                start + timedelta(hours=n % 2000),
                None,
                "[]",
                uuid.UUID(me["id"]),
                start + timedelta(microseconds=n * 10),
                start + timedelta(microseconds=n * 10),
            )
            for n in range(tasks)
        ]
        columns = [
            "id",
            "project_id",
            "team_id",
            "title",
            "description",
            "status",
            "priority",
            "priority_rank",
            "due_at",
            "estimate_hours",
            "labels",
            "created_by",
            "created_at",
            "updated_at",
        ]
        await conn.copy_records_to_table("tasks", records=rows, columns=columns)
        middle = rows[len(rows) // 2]
    finally:
        await conn.close()
    return {
        "token": token,
        "project_id": project["id"],
        "task_id": str(rows[0][0]),
        "deep_cursor": encode_cursor({"t": middle[12].isoformat()}, str(middle[0])),
    }


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += _descendants(int(child))
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith(field)), 0)


def memory_mb(stack: LocalStack, field: str) -> dict[str, float]:
    """Per process of the stack, the largest of its processes (an API worker, say):
    ``VmRSS`` is resident now, ``VmHWM`` the peak resident since it started."""
    sizes = {}
    for name, process in stack.processes.items():
        pids = _descendants(process.pid)
        sizes[name] = round(max(_status_kb(pid, field) for pid in pids) / 1024, 1)
    return sizes


def report(
    results: list[Result], memory: dict[str, dict[str, float]], tasks: int, args: argparse.Namespace
) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    machine = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }
    data = {
        "time": stamp,
        "machine": machine,
        "tasks": tasks,
        "duration_s": args.duration,
        "connections": args.connections,
        "results": [asdict(r) for r in results],
        "memory_mb": memory,
    }
    (out / f"{stamp}.json").write_text(json.dumps(data, indent=2))
    lines = [
        f"TaskFlow bench {stamp}: {tasks} tasks, {args.connections} connections, "
        f"{args.duration} s each, {machine['cores']} cores",
        "",
        "| scenario | req/s | p50 ms | p90 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.scenario} | {r.requests_per_second} | {r.p50_ms} | {r.p90_ms} | {r.p99_ms} "
        f"| {r.failures} |"
        for r in results
    ]
    lines += ["", "| service | RSS idle MB | RSS peak MB |", "|---|---|---|"]
    lines += [f"| {s} | {memory['idle'].get(s)} | {memory['peak'].get(s)} |" for s in memory["idle"]]
    path = out / f"{stamp}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 tasks and 5 s runs")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--workers",
        default="auth=2,teams=1,work=2,notify=1",
        help="uvicorn worker processes per service",
    )
    parser.add_argument(
        "--profile",
        choices=["flamegraph", "raw"],
        help="record each scenario's service workers with py-spy into bench/results/",
    )
    args = parser.parse_args()
    args.workers = dict(
        (name, int(count)) for name, count in (part.split("=") for part in args.workers.split(","))
    )
    if args.quick:
        args.tasks, args.duration = 1_000, 5
    wrk = ensure_wrk()
    stack = LocalStack(
        data_dir=HERE / "results" / "stack",
        name=f"tfbench_{uuid.uuid4().hex[:6]}",
        base_port=8201,
        smtp_port=2625,
    )
    # Production settings: no reload, no access log, warnings only, API workers per service.
    os.environ["TASKFLOW_LOG_LEVEL"] = "WARNING"
    os.environ["TASKFLOW_ACCESS_LOG"] = "false"
    for service, workers in args.workers.items():
        os.environ[f"{service.upper()}_WORKERS"] = str(workers)
    asyncio.run(stack.create_databases())
    stack.start()
    try:
        asyncio.run(stack.wait_ready())
        data = asyncio.run(seed(stack, args.tasks))
        idle = memory_mb(stack, "VmRSS")
        work, auth = stack.url("work"), stack.url("auth")

        def run(name: str, url: str, **options: str) -> Result:
            service = next(s for s in SERVICES if url.startswith(stack.url(s)))
            workers = _descendants(stack.processes[service].pid)
            return run_wrk(
                wrk,
                name,
                url,
                duration=args.duration,
                connections=args.connections,
                profile_pids=(workers[1:] or workers) if args.profile else [],
                profile_format=args.profile,
                **options,
            )

        tasks_url = f"{work}/api/v1/tasks?project_id={data['project_id']}&limit=20"
        results = [
            run("get one task", f"{work}/api/v1/tasks/{data['task_id']}", token=data["token"]),
            run(
                "list 20, first page",
                f"{tasks_url}&status=todo&sort=created_at",
                token=data["token"],
            ),
            run(
                "list 20, deep page",
                f"{tasks_url}&sort=created_at&cursor={data['deep_cursor']}",
                token=data["token"],
            ),
            run(
                "create a task",
                f"{work}/api/v1/projects/{data['project_id']}/tasks",
                method="POST",
                token=data["token"],
                body=json.dumps({"title": "Bench task", "priority": "high"}),
            ),
            run(
                "log in",
                f"{auth}/api/v1/auth/jwt/create",
                method="POST",
                body=json.dumps({"username": "bench", "password": PASSWORD}),
            ),
        ]
        peak = memory_mb(stack, "VmHWM")
        print(f"report: {report(results, {'idle': idle, 'peak': peak}, args.tasks, args)}")
    finally:
        stack.stop()
        asyncio.run(stack.drop_databases())


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"bench finished in {time.monotonic() - started:.0f} s")

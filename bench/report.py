"""The report of a run: ``bench/results/<time>.json`` and a Markdown ``.md`` beside it."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from measure import Result
from scenarios import Options
from taskflow_auth.config import AuthSettings
from taskflow_auth.credentials.service import password_hasher

RESULTS = Path(__file__).resolve().parent / "results"


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


def _version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)  # noqa: S603
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return "unknown"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""


def password_hash_cost(count: int = 20) -> dict[str, Any]:
    """One password hash by auth's configured hasher (the stack's AUTH_ settings): its
    parameters, and CPU and wall milliseconds each, over ``count`` hashes in a row."""
    settings = AuthSettings()
    hasher = password_hasher(settings)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        hasher.hash("correct-horse-battery")
    return {
        "parameters": f"m={settings.password_hash_memory_kib} KiB, "
        f"t={settings.password_hash_time_cost}, p={settings.password_hash_parallelism}",
        "cpu_ms": round((time.process_time() - cpu) * 1000 / count, 1),
        "wall_ms": round((time.perf_counter() - wall) * 1000 / count, 1),
    }


def report(
    results: list[Result],
    options: Options,
    loop_seconds: dict[str, float],
    memory: dict[str, dict[str, float]],
) -> Path:
    """Writes both files; answers the Markdown one's path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    about = machine()
    argon2 = password_hash_cost()
    data = {
        "time": stamp,
        "machine": about,
        "sizes": options.sizes,
        "duration_s": options.duration,
        "connections": options.connections,
        "workers": options.workers,
        "loop_seconds": loop_seconds,
        "password_hash": argon2,
        "results": [asdict(r) for r in results],
        "memory_mb": memory,
    }
    (RESULTS / f"{stamp}.json").write_text(json.dumps(data, indent=2))
    lines = [
        f"TaskFlow bench {stamp}: wrk -t2 -c{options.connections}, {options.duration} s a "
        f"scenario; {about['cores']} cores, {about['memory_gb']} GB; Python {about['python']}; "
        f"API workers {', '.join(f'{k} {v}' for k, v in options.workers.items())}",
        "",
        "Machine speed (a 5,000,000-step Python loop, best of three; lower is faster): "
        + ", ".join(f"{k} {v} s" for k, v in loop_seconds.items()),
        "",
        f"One password hash (Argon2id, {argon2['parameters']}): {argon2['cpu_ms']} ms of CPU, "
        f"{argon2['wall_ms']} ms wall (one log-in's hash; another for each older hash upgraded)",
        "",
        *_results_table(results),
        "",
        *_cpu_table(results, about["cores"]),
        "",
        *_cost_table(results),
        "",
        *_memory_table(memory),
        "",
        "Versions: " + "; ".join(f"{k} {v}" for k, v in about.items()),
    ]
    path = RESULTS / f"{stamp}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _results_table(results: list[Result]) -> list[str]:
    return [
        "| scenario | tasks | req/s | p50 ms | p90 ms | p99 ms | errors | stack CPU ms a "
        "request | notes |",
        "|---|---:|---:|---:|---:|---:|---|---:|---|",
        *(
            f"| {r.scenario} | {r.tasks:,} | {r.requests_per_second} | {r.p50_ms} | {r.p90_ms} "
            f"| {r.p99_ms} | {_errors(r)} | {r.cpu_ms_per_request.get('stack', '')} "
            f"| {', '.join(f'{k} {v}' for k, v in r.extra.items())} |"
            for r in results
        ),
    ]


def _errors(result: Result) -> str:
    """``11: 429 x 9, 503 x 2``: the failures and what they were."""
    got = ", ".join(f"{k} x {v}" for k, v in result.statuses.items())
    return f"{result.errors}: {got}" if got else str(result.errors)


def _cpu_table(results: list[Result], cores: int | None) -> list[str]:
    groups = list(dict.fromkeys(g for r in results for g in r.cpu_seconds))
    return [
        "CPU seconds spent during each scenario, by part of the machine "
        f"({cores} cores times the scenario's seconds is all there is):",
        "",
        "| scenario | tasks | " + " | ".join(groups) + " |",
        "|---|---:|" + "---:|" * len(groups),
        *(
            f"| {r.scenario} | {r.tasks:,} | "
            + " | ".join(str(r.cpu_seconds.get(g, "")) for g in groups)
            + " |"
            for r in results
            if r.cpu_seconds
        ),
    ]


def _cost_table(results: list[Result]) -> list[str]:
    """CPU milliseconds per request and per event, by part of the machine, "stack" first."""
    groups = list(dict.fromkeys(g for r in results for g in r.cpu_ms_per_request))
    return [
        "CPU milliseconds per request (a write → notification phase: per write, request to "
        "email) / per event put in an outbox, by part of the machine; stack: the stack's "
        "own processes (PostgreSQL's backends of its databases and server processes, "
        "RabbitMQ, Redis included; wrk, this script and other tenants not):",
        "",
        "| scenario | tasks | events | " + " | ".join(groups) + " |",
        "|---|---:|---:|" + "---:|" * len(groups),
        *(
            f"| {r.scenario} | {r.tasks:,} | {r.events:,} | "
            + " | ".join(_per(r, g) for g in groups)
            + " |"
            for r in results
            if r.cpu_ms_per_request
        ),
    ]


def _per(result: Result, group: str) -> str:
    """``request ms / event ms`` (the event's only when the scenario made events)."""
    request = result.cpu_ms_per_request.get(group)
    if request is None:
        return ""
    event = result.cpu_ms_per_event.get(group)
    return f"{request:g}" if event is None else f"{request:g} / {event:g}"


def _memory_table(memory: dict[str, dict[str, float]]) -> list[str]:
    return [
        "| process | resident MB at idle | peak resident MB |",
        "|---|---:|---:|",
        *(f"| {s} | {memory['idle'].get(s)} | {memory['peak'].get(s)} |" for s in memory["idle"]),
    ]

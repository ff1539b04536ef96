"""wrk: a scenario's load (one request, described to ``wrk/request.lua``) and its figures."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from measure import Result

LUA = Path(__file__).resolve().parent / "wrk" / "request.lua"
WARM_UP_SECONDS = 2
THREADS = 2
TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Request:
    url: str  # "{id}" in its path: a random line of ``ids`` each request
    method: str = "GET"
    token_file: Path | None = None  # the current access token, rewritten before it expires
    body: str = ""
    cookie: str = ""  # a web page's session cookie (name=value)
    ids: Path | None = None  # ids, one a line (every task of the data set, say)
    headers: tuple[tuple[str, str], ...] = ()  # more headers (name, value)
    clients: int = 0  # requests spread over this many client addresses (X-Forwarded-For)


class Wrk:
    def __init__(self, executable: str, connections: int) -> None:
        self.executable = executable
        self.connections = connections

    def command(self, url: str, duration: float) -> list[str]:
        """wrk takes whole numbers only (``-d10.0s`` is refused): a fraction of a second
        is rounded up, and no more threads than connections."""
        base = str(httpx.URL(url).copy_with(path="/", query=None))
        seconds = max(1, math.ceil(duration))
        threads = max(1, min(THREADS, self.connections))
        # A slow answer (Argon2 under load) is latency, not an error: hence the long timeout.
        return [self.executable, f"-t{threads}", f"-c{self.connections}", f"-d{seconds}s",
                "--timeout", f"{TIMEOUT_SECONDS}s", "-s", str(LUA), base]  # fmt: skip

    @staticmethod
    def environment(request: Request) -> dict[str, str]:
        return {
            **os.environ,
            "BENCH_METHOD": request.method,
            "BENCH_PATH": _target(request.url),
            "BENCH_TOKEN_FILE": str(request.token_file or ""),
            "BENCH_COOKIE": request.cookie,
            "BENCH_BODY": request.body,
            "BENCH_IDS_FILE": str(request.ids or ""),
            "BENCH_HEADERS": "\n".join(f"{name}: {value}" for name, value in request.headers),
            "BENCH_CLIENTS": str(request.clients or ""),
        }

    def warm_up(self, request: Request) -> None:
        """A short untimed run first: pools filled, statements prepared, caches warm."""
        subprocess.run(  # noqa: S603 - wrk and our own script
            self.command(request.url, WARM_UP_SECONDS),
            env=self.environment(request),
            capture_output=True,
            check=True,
        )

    def run(self, request: Request, duration: float) -> str:
        """What wrk wrote (``request.lua``'s figures among it)."""
        return subprocess.run(  # noqa: S603 - wrk and our own script
            self.command(request.url, duration),
            env=self.environment(request),
            capture_output=True,
            text=True,
            check=True,
        ).stdout


def _target(url: str) -> str:
    """The path and query of ``url``, as written ("{id}" unquoted, for ``request.lua``)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def parse(out: str, scenario: str, tasks: int) -> Result:
    """The scenario's result from the ``BENCH_*`` lines ``request.lua`` writes when wrk is
    done (``errors``: non-2xx answers and socket errors; ``statuses``: the answers of
    each status that was not 2xx, and the socket errors of each kind)."""
    lines = {
        line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("BENCH_")
    }
    p50, p90, p99, peak = (int(v) / 1000 for v in lines["BENCH_LATENCY_US"])
    requests, micros = (int(v) for v in lines["BENCH_REQUESTS"])
    errors = int(lines["BENCH_FAILURES"][0])
    rate = round(requests / (micros / 1e6), 1)
    result = Result(scenario, tasks, rate, p50, p90, p99, peak, requests, errors)
    result.statuses = {
        **_counts(lines.get("BENCH_STATUS", []), lambda status: not status.startswith("2")),
        **_counts(lines.get("BENCH_SOCKET_ERRORS", []), lambda _: True),
    }
    return result


def _counts(pairs: list[str], wanted: Callable[[str], bool]) -> dict[str, int]:
    """``["429:9", "200:5"]`` as ``{"429": 9}`` (the wanted keys, counts above zero)."""
    counts = {}
    for pair in pairs:
        key, count = pair.rsplit(":", 1)
        if wanted(key) and int(count):
            counts[key] = int(count)
    return dict(sorted(counts.items()))


def failure(result: Result) -> str:
    """What a failed scenario got: ``11 non-2xx answers or socket errors: 429 x 9, 503 x 2``."""
    got = ", ".join(f"{key} x {count}" for key, count in result.statuses.items())
    return f"{result.errors} non-2xx answers or socket errors: {got or 'statuses unknown'}"


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


def failed(result: Result) -> str | None:
    """Why a scenario's ``result`` is no result (None: it is one): an answer that was not
    2xx or a socket error, or no answer at all (wrk neither counts nor fails the requests
    still open when its time is up: a run whose every answer takes longer "succeeds")."""
    if result.errors:
        return failure(result)
    if not result.requests:
        return "no answer within the run (every request took longer)"
    return None

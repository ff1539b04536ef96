"""wrk: a scenario's load (one request, described to ``wrk/request.lua``) and its figures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from measure import Result

LUA = Path(__file__).resolve().parent / "wrk" / "request.lua"
WARM_UP_SECONDS = 2


@dataclass(frozen=True)
class Request:
    url: str
    method: str = "GET"
    token: str = ""
    body: str = ""
    cookie: str = ""  # a web page's session cookie (name=value)


class Wrk:
    def __init__(self, executable: str, connections: int) -> None:
        self.executable = executable
        self.connections = connections

    def command(self, url: str, duration: float) -> list[str]:
        base = str(httpx.URL(url).copy_with(path="/", query=None))
        # A slow answer (Argon2 under load) is latency, not an error: hence the long timeout.
        return [self.executable, "-t2", f"-c{self.connections}", f"-d{duration}s",
                "--timeout", "10s", "-s", str(LUA), base]  # fmt: skip

    @staticmethod
    def environment(request: Request) -> dict[str, str]:
        return {
            **os.environ,
            "BENCH_METHOD": request.method,
            "BENCH_PATH": httpx.URL(request.url).raw_path.decode(),
            "BENCH_TOKEN": request.token,
            "BENCH_COOKIE": request.cookie,
            "BENCH_BODY": request.body,
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

    def run_together(self, requests: Sequence[Request], duration: float) -> list[str]:
        """One wrk a request, all at once; what each wrote, in the same order."""
        running = [
            subprocess.Popen(  # noqa: S603 - wrk and our own script
                self.command(request.url, duration),
                env=self.environment(request),
                stdout=subprocess.PIPE,
                text=True,
            )
            for request in requests
        ]
        return [process.communicate()[0] for process in running]


def parse(out: str, scenario: str, tasks: int) -> Result:
    """The scenario's result from the ``BENCH_*`` lines ``request.lua`` writes when wrk is
    done (``errors``: non-2xx answers and socket errors)."""
    lines = {
        line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("BENCH_")
    }
    p50, p90, p99, peak = (int(v) / 1000 for v in lines["BENCH_LATENCY_US"])
    requests, micros = (int(v) for v in lines["BENCH_REQUESTS"])
    errors = int(lines["BENCH_FAILURES"][0])
    rate = round(requests / (micros / 1e6), 1)
    return Result(scenario, tasks, rate, p50, p90, p99, peak, requests, errors)


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

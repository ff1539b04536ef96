"""The runtime under test: ``make up``'s processes with production settings, and what
the kernel says of them (their descendants, their workers, their memory)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from taskflow_embedded.local import LocalStack

# The gateway emulator on its two entry points: web calls the API through the internal one.
_GATEWAY = (
    "import json, sys\n"
    "from taskflow_embedded.gateway import serve\n"
    "serve(json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), log_level='warning')\n"
)


def new_stack(data_dir: Path) -> LocalStack:
    """A stack of its own (databases, exchange, ports), beside any ``make up``."""
    return LocalStack(
        data_dir=data_dir,
        name=f"tfbench_{uuid.uuid4().hex[:6]}",
        gateway_port=8199,
        internal_gateway_port=8200,
        base_port=8201,
        smtp_port=2625,
    )


def use_production_settings(workers: dict[str, int]) -> None:
    """No reload, no access log, warnings only, API workers per service (every process
    the stack starts inherits them); the log-in throttle out of the log-in scenario's way."""
    os.environ["TASKFLOW_LOG_LEVEL"] = "WARNING"
    os.environ["TASKFLOW_ACCESS_LOG"] = "false"
    # wrk's connections log one account in from one address at once, and the throttle
    # counts an attempt before its password is checked: at its 5, most would get 429.
    os.environ["AUTH_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS"] = "1000"
    for service, count in workers.items():
        os.environ[f"{service.upper()}_WORKERS"] = str(count)


@contextmanager
def running(stack: LocalStack) -> Iterator[LocalStack]:
    """The stack on new databases, ready to answer; stopped and its databases dropped after."""
    shutil.rmtree(stack.data_dir, ignore_errors=True)
    asyncio.run(stack.create_databases())
    stack.start()
    # wrk calls each service on its own port; web's pages call the API through the gateway.
    upstreams = json.dumps(stack.upstreams())
    ports = [str(stack.gateway_port), str(stack.internal_gateway_port)]
    stack.start_process("gateway", [sys.executable, "-c", _GATEWAY, upstreams, *ports], "web")
    try:
        # Generous: five services' migrations and workers on a busy machine take their time.
        asyncio.run(stack.wait_ready(timeout=300))
        yield stack
    finally:
        stack.stop()
        asyncio.run(stack.drop_databases())


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, parents first."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += descendants(int(child))
    return found


def workers(stack: LocalStack, process: str) -> list[int]:
    """The processes of the stack's ``process`` that run its code (uvicorn's workers)."""
    pids = descendants(stack.processes[process].pid)
    return [p for p in pids[1:] if "spawn_main" in _cmdline(p)] or pids[:1]


class ProcessWatch:
    """Which of the stack's processes changed between two looks (a worker killed and
    started again drops its requests: a result measured meanwhile says so)."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.seen: dict[str, list[int]] = {}

    def replaced(self) -> str:
        """The names of the processes whose process tree changed (none the first time)."""
        now = {
            name: sorted(descendants(process.pid)) for name, process in self.stack.processes.items()
        }
        before, self.seen = self.seen, now
        if not before:
            return ""
        return " ".join(name for name in now if now[name] != before.get(name))


def memory_mb(stack: LocalStack, field: str) -> dict[str, float]:
    """Per process of the stack, the largest of its processes (one API worker, say):
    ``VmRSS`` is resident now, ``VmHWM`` the peak resident since it started."""
    sizes = {}
    for name, process in stack.processes.items():
        pids = descendants(process.pid)
        sizes[name] = round(max(_status_kb(pid, field) for pid in pids) / 1024, 1)
    return sizes


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

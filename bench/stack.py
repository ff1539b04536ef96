"""The runtime under test: ``make up``'s processes with production settings, and what
the kernel says of them (their descendants, their workers, their memory)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from taskflow_chassis.ports import free_port
from taskflow_embedded.local import SERVICES, LocalStack

# The gateway emulator on its two entry points: web calls the API through the internal one.
_GATEWAY = (
    "import json, sys\n"
    "from taskflow_embedded.gateway import serve\n"
    "serve(json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), log_level='warning')\n"
)


def new_stack(
    data_dir: Path, port: int = 0, services_port: int = 0, smtp_port: int = 0
) -> LocalStack:
    """A stack of its own, beside any ``make up`` and any other run: its folder under
    ``data_dir``, its databases, its RabbitMQ virtual host, its Redis keys (all named
    after it) and its ports: the gateway's ``port`` (the internal entry point the next
    one), the services' from ``services_port`` on, the SMTP sink's; each 0 for free ports
    below the ephemeral range (taskflow_chassis.ports)."""
    name = f"tfbench_{uuid.uuid4().hex[:6]}"
    return LocalStack(
        data_dir=data_dir / name,  # two runs at once each keep their logs, token, ids
        name=name,
        rabbitmq_vhost=name,
        gateway_port=port or free_port(),
        internal_gateway_port=port + 1 if port else free_port(),
        base_port=services_port or 8201,
        ports={} if services_port else {service: free_port() for service in SERVICES},
        smtp_port=smtp_port or free_port(),
    )


def use_production_settings(workers: dict[str, int]) -> None:
    """No reload, no access log, warnings only, API workers per service (every process
    the stack starts inherits them); the log-in throttle out of the log-in scenario's way."""
    os.environ["TASKFLOW_LOG_LEVEL"] = "WARNING"
    os.environ["TASKFLOW_ACCESS_LOG"] = "false"
    # wrk's connections log one account in from one address at once, and the throttle
    # counts an attempt before its password is checked: at its 5, most would get 429.
    os.environ["AUTH_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS"] = "1000"
    # The seed writes its further teams straight into work's replica (seed.py), teams never
    # hears of them, and work's reconciler rightly erases a team teams does not list (half
    # of "get one task" then answered 404 at 100,000 tasks): it waits out the run.
    os.environ["WORK_REPLICA_RECONCILE_SECONDS"] = "86400"
    for service, count in workers.items():
        os.environ[f"{service.upper()}_WORKERS"] = str(count)


@contextmanager
def running(stack: LocalStack) -> Iterator[LocalStack]:
    """The stack on new databases and its own virtual host, ready to answer; stopped
    after, even when the run fails, and all it made removed: its databases, its virtual
    host (with its queues and exchanges) and its Redis keys."""
    shutil.rmtree(stack.data_dir, ignore_errors=True)
    try:
        asyncio.run(stack.create_databases())
        stack.create_vhost()
        stack.start()
        # wrk calls each service on its own port; web's pages call the API through the gateway.
        upstreams = json.dumps(stack.upstreams())
        ports = [str(stack.gateway_port), str(stack.internal_gateway_port)]
        stack.start_process("gateway", [sys.executable, "-c", _GATEWAY, upstreams, *ports], "web")
        # Generous: five services' migrations and workers on a busy machine take their time.
        asyncio.run(stack.wait_ready(timeout=300))
        yield stack
    finally:
        stack.stop()
        left = clean_up(stack)
        print(f"removed the run's databases, virtual host and {left} Redis keys", flush=True)


def clean_up(stack: LocalStack) -> int:
    """Every trace of the stack outside its data folder, each step tried whatever the
    others did; the number of Redis keys deleted."""
    steps: list[Callable[[], object]] = [
        lambda: asyncio.run(stack.drop_databases()),
        stack.delete_vhost,
        lambda: delete_redis_keys(stack.redis_url, stack.name),
    ]
    deleted = 0
    for step in steps:
        try:
            outcome = step()
        except Exception as error:  # the next step runs all the same
            print(f"clean-up: {error}", file=sys.stderr, flush=True)
            continue
        deleted = outcome if isinstance(outcome, int) else deleted
    return deleted


def redis_keys_of(name: str) -> list[str]:
    """The patterns of a stack's Redis keys: auth's throttle counters (its key prefix),
    Celery's queue and kombu's bindings of it (the queue is named after the stack)."""
    kombu = ("_kombu.binding", "_kombu.binding_permanent")
    return [f"{name}:*", f"{name}.*", *(f"{binding}.{name}.*" for binding in kombu)]


def delete_redis_keys(url: str, name: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        keys = [key for pattern in redis_keys_of(name) for key in client.scan_iter(match=pattern)]
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


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
    return [p for p in pids[1:] if "spawn_main" in cmdline(p)] or pids[:1]


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


def cmdline(pid: int) -> str:
    """The process's command line (a PostgreSQL process's title: its database)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _status_kb(pid: int, field: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith(field)), 0)

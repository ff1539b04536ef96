"""The local distributed runtime (``make up``): every process of docker-compose, as plain
processes on this machine's PostgreSQL, RabbitMQ and Redis.

Four uvicorn services (each its own PostgreSQL database), a Celery worker, exactly
one Celery beat, an SMTP sink (aiosmtpd, writing a maildir), and the gateway as
configured in gateway/ at http://127.0.0.1:8000. For machines without a Docker
engine, and for the system tests, which start it with a unique name so runs never
share queues or databases.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

SERVICES = ("auth", "teams", "work", "notify")


@dataclass
class LocalStack:
    data_dir: Path
    name: str = "taskflow"
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/2"
    gateway_port: int = 8000
    base_port: int = 8101
    smtp_port: int = 2525
    reminder_scan_seconds: float = 60.0
    # Each service's port; by default base_port, base_port + 1, ... in SERVICES order.
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # --- addresses ---------------------------------------------------------------------

    def port(self, service: str) -> int:
        return self.ports.get(service, self.base_port + SERVICES.index(service))

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port(service)}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    def database_url(self, service: str) -> str:
        base = urlsplit(self.postgres_url)
        return f"postgresql://{base.netloc}/{self.name}_{service}"

    # --- environment -------------------------------------------------------------------

    def environment(self, service: str) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "TASKFLOW_EVENT_BUS_URL": self.rabbitmq_url,
            "TASKFLOW_EVENT_EXCHANGE": f"{self.name}.events",
            "TASKFLOW_EVENT_QUEUE_PREFIX": f"{self.name}.",
            "TASKFLOW_JWKS_URL": f"{self.url('auth')}/api/v1/auth/jwks.json",
            "TASKFLOW_PUBLIC_URL": self.gateway_url,
            "TASKFLOW_LOG_JSON": "true",
            "TASKFLOW_DATA_DIR": str(self.data_dir / service),
            f"{service.upper()}_DATABASE_URL": self.database_url(service),
            "AUTH_THROTTLE_REDIS_URL": self.redis_url,
            "WORK_TEAMS_URL": self.url("teams"),
            "NOTIFY_DATABASE_URL": self.database_url("notify"),
            "NOTIFY_CELERY_BROKER_URL": self.redis_url,
            "NOTIFY_CELERY_QUEUE": f"{self.name}.notify",
            "NOTIFY_CELERY_VISIBILITY_TIMEOUT": "10",
            "NOTIFY_EMAIL_URL": f"smtp://127.0.0.1:{self.smtp_port}",
            "NOTIFY_REMINDER_TIMER": "false",
            "NOTIFY_REMINDER_SCAN_SECONDS": str(self.reminder_scan_seconds),
            "HOST": "127.0.0.1",
        }
        if service in SERVICES:
            env["PORT"] = str(self.port(service))
        return env

    def commands(self) -> dict[str, tuple[list[str], str]]:
        python = sys.executable
        commands: dict[str, tuple[list[str], str]] = {
            service: ([python, "-m", f"taskflow_{service}"], service) for service in SERVICES
        }
        celery = [python, "-m", "celery", "-A", "taskflow_notify.worker"]
        # Celery logs as the services do (a line per job at INFO costs CPU under load).
        level = os.environ.get("TASKFLOW_LOG_LEVEL", "INFO")
        commands["worker"] = (
            [*celery, "worker", "--pool=solo", "--without-gossip", "--without-mingle", "-l", level,
             "-Q", f"{self.name}.notify"],
            "notify",
        )  # fmt: skip
        commands["beat"] = (
            [*celery, "beat", "-l", level, f"--schedule={self.data_dir / 'celerybeat-schedule'}"],
            "notify",
        )
        commands["smtp"] = (
            [python, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.smtp_port}",
             "-c", "aiosmtpd.handlers.Mailbox", str(self.mail_dir)],
            "smtp",
        )  # fmt: skip
        return commands

    # --- life cycle --------------------------------------------------------------------

    async def create_databases(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.postgres_url)
        try:
            for service in SERVICES:
                name = f"{self.name}_{service}"
                exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
                if not exists:
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def drop_databases(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.postgres_url)
        try:
            for service in SERVICES:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}_{service}" WITH (FORCE)')
        finally:
            await conn.close()

    def start(self, *only: str) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for maildir_part in ("tmp", "new", "cur"):
            (self.mail_dir / maildir_part).mkdir(parents=True, exist_ok=True)
        for name, (command, env_of) in self.commands().items():
            if only and name not in only:
                continue
            self.start_process(name, command, env_of)

    def start_process(
        self, name: str, command: list[str] | None = None, env_of: str | None = None
    ) -> None:
        if command is None or env_of is None:
            command, env_of = self.commands()[name]
        log = (self.data_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            command, env=self.environment(env_of), stdout=log, stderr=subprocess.STDOUT
        )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        process.send_signal(sig)
        process.wait(timeout=30)

    def stop(self) -> None:
        for name in list(self.processes):
            process = self.processes.pop(name)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()

    async def wait_ready(self, *services: str, timeout: float = 90.0) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=3) as client:
            for service in services or SERVICES:
                while True:
                    process = self.processes.get(service)
                    if process is not None and process.poll() is not None:
                        raise RuntimeError(f"{service} exited:\n{self.log(service)}")
                    try:
                        if (await client.get(f"{self.url(service)}/readyz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{service} not ready:\n{self.log(service)}")
                    await asyncio.sleep(0.2)

    def log(self, name: str, tail: int = 4000) -> str:
        path = self.data_dir / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def upstreams(self) -> dict[str, str]:
        return {service: self.url(service) for service in SERVICES}


def main() -> None:
    """``make up``: start everything, serve the gateway, stop it all on Ctrl-C."""
    import uvicorn

    from taskflow_embedded.gateway import GatewayApp

    stack = LocalStack(
        data_dir=Path(os.environ.get("TASKFLOW_DATA_DIR", "var/local")).resolve(),
        gateway_port=int(os.environ.get("PORT", "8000")),
    )
    asyncio.run(stack.create_databases())
    stack.start()
    try:
        asyncio.run(stack.wait_ready())
        print(f"TaskFlow (local distributed) at {stack.gateway_url}; mail in {stack.mail_dir}")
        gateway = GatewayApp(stack.upstreams())
        uvicorn.run(gateway, host="127.0.0.1", port=stack.gateway_port, log_level="info")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

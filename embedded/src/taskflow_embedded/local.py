"""The local distributed runtime (``make up``): every process of docker-compose, as plain
processes on this machine's PostgreSQL, RabbitMQ and Redis.

Four uvicorn services and the web app (each its own PostgreSQL database; web calls the
others through the gateway, as in docker-compose), a Celery worker, exactly
one Celery beat, an SMTP sink (aiosmtpd, filing each message in a maildir as it came:
mail_sink.py), and the gateway as configured in gateway/ at http://127.0.0.1:8000 (and
its internal entry point, which web calls the API through, at the next port). For
machines without a Docker engine, and for the system tests, which start it with a unique
name (and their own RabbitMQ virtual host) so runs never share queues, databases or
connections.

A process that dies is started again and the restart logged, as compose's
``restart: unless-stopped`` and Kubernetes do; only ``kill`` and ``stop`` end one
for good. ``python -m taskflow_embedded.local manage <service> <command> ...``
runs a service's command (``dlq list``, ``replica rebuild``, ``emails retry``)
with the environment the running stack gave that service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

SERVICES = ("auth", "teams", "work", "notify", "web")

logger = logging.getLogger("taskflow.local")


@dataclass
class LocalStack:
    data_dir: Path
    name: str = "taskflow"
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # The virtual host the stack's services use ("/" is RabbitMQ's default).
    rabbitmq_vhost: str = "/"
    redis_url: str = "redis://127.0.0.1:6379/2"
    gateway_port: int = 8000
    # The gateway's internal entry point (web's WEB_API_URL); gateway_port + 1 by default.
    internal_gateway_port: int = 0
    base_port: int = 8101
    smtp_port: int = 2525
    reminder_scan_seconds: float = 60.0
    # Each service's port; by default base_port, base_port + 1, ... in SERVICES order.
    ports: dict[str, int] = field(default_factory=dict)
    # More variables for every process (tests tune a setting of the stack this way).
    extra_env: dict[str, str] = field(default_factory=dict)
    # Shared by teams (which checks it) and work (which calls teams' internal API).
    internal_api_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # How often the supervisor started each process again after it died.
    restarts: dict[str, int] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _supervisor: threading.Thread | None = field(default=None, repr=False)
    _supervising: threading.Event = field(default_factory=threading.Event, repr=False)

    # --- addresses ---------------------------------------------------------------------

    def port(self, service: str) -> int:
        return self.ports.get(service, self.base_port + SERVICES.index(service))

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port(service)}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def internal_gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.internal_gateway_port or self.gateway_port + 1}"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def event_bus_url(self) -> str:
        base = self.rabbitmq_url.rstrip("/")
        return f"{base}/{quote(self.rabbitmq_vhost, safe='')}"

    def database_url(self, service: str) -> str:
        base = urlsplit(self.postgres_url)
        return f"postgresql://{base.netloc}/{self.name}_{service}"

    # --- environment -------------------------------------------------------------------

    def environment(self, service: str) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "TASKFLOW_EVENT_BUS_URL": self.event_bus_url,
            "TASKFLOW_INTERNAL_API_KEY": self.internal_api_key,
            "TASKFLOW_EVENT_EXCHANGE": f"{self.name}.events",
            "TASKFLOW_EVENT_QUEUE_PREFIX": f"{self.name}.",
            "TASKFLOW_JWKS_URL": f"{self.url('auth')}/api/v1/auth/jwks.json",
            "TASKFLOW_PUBLIC_URL": self.gateway_url,
            "TASKFLOW_LOG_JSON": "true",
            "TASKFLOW_DATA_DIR": str(self.data_dir / service),
            f"{service.upper()}_DATABASE_URL": self.database_url(service),
            "AUTH_THROTTLE_REDIS_URL": self.redis_url,
            # Its own counters: stacks share the machine's Redis (and a test run's log-ins
            # and resets from 127.0.0.1 must not count against the next run's).
            "AUTH_THROTTLE_KEY_PREFIX": f"{self.name}:auth:login:",
            "WORK_TEAMS_URL": self.url("teams"),
            "NOTIFY_TEAMS_URL": self.url("teams"),
            # Web reaches the API through the gateway's internal entry point, which keeps
            # the browser's address web sends (auth throttles each browser, not web).
            "WEB_API_URL": self.internal_gateway_url,
            # The generations of web's kept pages, which all of web's processes read.
            "WEB_PAGE_CACHE_REDIS_URL": self.redis_url,
            "WEB_PAGE_CACHE_KEY_PREFIX": f"{self.name}:web:generation:",
            "NOTIFY_DATABASE_URL": self.database_url("notify"),
            "NOTIFY_CELERY_BROKER_URL": self.redis_url,
            "NOTIFY_CELERY_QUEUE": f"{self.name}.notify",
            "NOTIFY_CELERY_VISIBILITY_TIMEOUT": "10",
            "NOTIFY_EMAIL_URL": f"smtp://127.0.0.1:{self.smtp_port}",
            "NOTIFY_REMINDER_TIMER": "false",
            "NOTIFY_REMINDER_SCAN_SECONDS": str(self.reminder_scan_seconds),
            "HOST": "127.0.0.1",
            **self.extra_env,
        }
        if service in SERVICES:
            env["PORT"] = str(self.port(service))
        return env

    def commands(self) -> dict[str, tuple[list[str], str]]:
        python = sys.executable
        commands: dict[str, tuple[list[str], str]] = {
            service: ([python, "-m", f"taskflow_{service}"], service) for service in SERVICES
        }
        celery = [python, "-m", "celery", "-A", "taskflow_notify.worker:celery"]
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
             "-c", "taskflow_embedded.mail_sink.RawMaildir", str(self.mail_dir)],
            "smtp",
        )  # fmt: skip
        return commands

    # --- life cycle --------------------------------------------------------------------

    async def create_databases(self) -> None:
        from taskflow_chassis.db import connect_postgres  # waits while the server is full

        conn = await connect_postgres(self.postgres_url)
        try:
            for service in SERVICES:
                name = f"{self.name}_{service}"
                exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
                if not exists:
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def drop_databases(self) -> None:
        from taskflow_chassis.db import connect_postgres  # waits while the server is full

        conn = await connect_postgres(self.postgres_url)
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
        self.supervise()

    def start_process(
        self, name: str, command: list[str] | None = None, env_of: str | None = None
    ) -> None:
        if command is None or env_of is None:
            command, env_of = self.commands()[name]
        log = (self.data_dir / f"{name}.log").open("ab")
        with self._lock:
            self.processes[name] = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                command, env=self.environment(env_of), stdout=log, stderr=subprocess.STDOUT
            )

    def kill(self, name: str, sig: int = signal.SIGKILL, *, restart: bool = False) -> None:
        """Signal a process. ``restart=False`` (a planned stop): it stays down until
        ``start_process``; ``restart=True`` (a crash): the supervisor brings it back."""
        with self._lock:
            process = self.processes[name] if restart else self.processes.pop(name)
        process.send_signal(sig)
        process.wait(timeout=30)

    def supervise(self, interval: float = 0.5) -> None:
        """Start again, with a logged line, any process that died without ``kill``/``stop``."""
        if self._supervisor is not None and self._supervisor.is_alive():
            return
        self._supervising.set()
        started_at: dict[str, float] = {}
        backoff: dict[str, float] = {}

        def watch() -> None:
            while self._supervising.is_set():
                try:
                    if not restart_dead():
                        return
                except Exception as exc:  # a failed start or log write must not end supervision
                    logger.exception("supervisor pass failed: %s", exc)
                time.sleep(interval)

        def restart_dead() -> bool:
            """One pass; False once supervision was stopped meanwhile."""
            with self._lock:
                dead = [
                    (name, process.returncode)
                    for name, process in self.processes.items()
                    if process.poll() is not None
                ]
            for name, code in dead:
                # A process that dies right after starting waits longer each time.
                quick = time.monotonic() - started_at.get(name, 0.0) < 10
                delay = min(backoff.get(name, 0.5) * 2, 10.0) if quick else 0.5
                backoff[name] = delay
                self._note(f"{name} exited with code {code}; restarting in {delay:.1f} s")
                if not _sleep_unless(self._supervising, delay):
                    return False
                with self._lock:
                    current = self.processes.get(name)
                    if current is None or current.poll() is None:
                        continue  # killed for good, or already replaced
                    self.restarts[name] = self.restarts.get(name, 0) + 1
                    self.start_process(name)
                    started_at[name] = time.monotonic()
            return True

        self._supervisor = threading.Thread(target=watch, name="local-supervisor", daemon=True)
        self._supervisor.start()

    def _note(self, line: str) -> None:
        logger.warning(line)
        with (self.data_dir / "supervisor.log").open("a") as log:
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")

    def stop(self) -> None:
        self._supervising.clear()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
            self._supervisor = None
        with self._lock:
            stopping = list(self.processes.values())
            self.processes.clear()
        # All told at once, then waited for together: a stop takes the slowest process's
        # time, not the sum of them all.
        for process in stopping:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 20
        for process in stopping:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

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

    # --- RabbitMQ virtual host ----------------------------------------------------------

    def create_vhost(self) -> None:
        """A virtual host of the stack's own: its connections can be cut without touching
        anyone else's (``rabbitmqctl close_all_connections -p``)."""
        user = urlsplit(self.rabbitmq_url).username or "guest"
        _rabbitmqctl("add_vhost", self.rabbitmq_vhost)
        _rabbitmqctl("set_permissions", "-p", self.rabbitmq_vhost, user, ".*", ".*", ".*")

    def delete_vhost(self) -> None:
        _rabbitmqctl("delete_vhost", self.rabbitmq_vhost)

    def drop_broker_connections(self, reason: str = "TaskFlow fault test") -> None:
        """Close every connection of the stack's virtual host (and only those)."""
        if self.rabbitmq_vhost == "/":
            raise RuntimeError("the stack shares RabbitMQ's default virtual host")
        _rabbitmqctl("close_all_connections", "-p", self.rabbitmq_vhost, reason)


def _rabbitmqctl(*args: str) -> None:
    done = subprocess.run(  # noqa: S603 - a fixed admin tool, arguments of our own
        ["rabbitmqctl", *args],  # noqa: S607 - found on PATH, as an operator would
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr or done.stdout}")


def _sleep_unless(running: threading.Event, seconds: float) -> bool:
    """Sleep; answer False if the supervisor was stopped meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not running.is_set():
            return False
        time.sleep(min(0.1, deadline - time.monotonic()))
    return running.is_set()


def _port_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SystemExit(f"{name}={raw!r}: a port number from 1 to 65535")
    return int(raw)


def local_stack() -> LocalStack:
    """``make up``'s stack: data under ``var/local`` (``TASKFLOW_DATA_DIR``), the gateway
    at ``PORT`` (its internal entry point, web's, at ``TASKFLOW_LOCAL_INTERNAL_PORT``,
    ``PORT`` + 1 by default), the services from ``TASKFLOW_LOCAL_SERVICES_PORT`` on (auth,
    teams, work, notify, web), the SMTP sink at ``TASKFLOW_LOCAL_SMTP_PORT``; the internal
    API key is kept in the data directory, so commands run beside the stack (``manage``)
    use the same one."""
    data_dir = Path(os.environ.get("TASKFLOW_DATA_DIR", "var/local")).resolve()
    key_file = data_dir / "internal-api.key"
    if not key_file.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(32))
        key_file.chmod(0o600)
    gateway_port = _port_from_env("PORT", 8000)
    return LocalStack(
        data_dir=data_dir,
        gateway_port=gateway_port,
        internal_gateway_port=_port_from_env("TASKFLOW_LOCAL_INTERNAL_PORT", gateway_port + 1),
        base_port=_port_from_env("TASKFLOW_LOCAL_SERVICES_PORT", 8101),
        smtp_port=_port_from_env("TASKFLOW_LOCAL_SMTP_PORT", 2525),
        internal_api_key=key_file.read_text().strip(),
    )


def manage(service: str, args: list[str]) -> int:
    """Run ``python -m taskflow_<service> <args>`` with the environment ``make up`` gives it."""
    if service not in SERVICES:
        print(f"unknown service {service!r}: one of {', '.join(SERVICES)}", file=sys.stderr)
        return 2
    stack = local_stack()
    command = [sys.executable, "-m", f"taskflow_{service}", *args]
    return subprocess.run(command, env=stack.environment(service), check=False).returncode  # noqa: S603


def main() -> None:
    """``make up``: start everything, serve the gateway, stop it all on Ctrl-C. The gateway
    is the real Traefik with gateway/'s configuration where a ``traefik`` binary is on
    PATH, else the emulator (taskflow_embedded.gateway)."""
    if sys.argv[1:2] == ["manage"]:
        if len(sys.argv) < 4:
            print("usage: python -m taskflow_embedded.local manage SERVICE COMMAND ...")
            raise SystemExit(2)
        raise SystemExit(manage(sys.argv[2], sys.argv[3:]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stack = local_stack()
    asyncio.run(stack.create_databases())
    stack.start()
    try:
        asyncio.run(stack.wait_ready())
        print(f"TaskFlow (local distributed) at {stack.gateway_url}; mail in {stack.mail_dir}")
        serve_gateway(stack)
    finally:
        stack.stop()


def serve_gateway(stack: LocalStack) -> None:
    """Until Ctrl-C: Traefik itself if installed, else the emulator on uvicorn."""
    import shutil

    from taskflow_embedded.gateway import render_traefik, serve

    internal_port = urlsplit(stack.internal_gateway_url).port
    traefik = shutil.which("traefik")
    if traefik:
        static = render_traefik(
            stack.upstreams(),
            stack.gateway_port,
            stack.data_dir / "traefik",
            internal_port=internal_port,
        )
        print(f"gateway: {traefik} --configFile={static}")
        with contextlib.suppress(KeyboardInterrupt):
            subprocess.run([traefik, f"--configFile={static}"], check=False)  # noqa: S603
        return
    serve(stack.upstreams(), stack.gateway_port, internal_port)


if __name__ == "__main__":
    main()

"""``serve()``: a service on uvicorn with several worker processes, as production runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from taskflow_chassis.ports import free_port
from taskflow_chassis.testing import fresh_postgres_database


def spawned_workers(pid: int) -> list[int]:
    """The uvicorn worker processes (multiprocessing spawns) under ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return [p for p in found if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


async def test_two_workers_serve_one_port_after_one_migration(tmp_path: Path) -> None:
    async with fresh_postgres_database() as url:
        port = free_port()
        env = {
            **os.environ,
            "TEAMS_DATABASE_URL": url,
            "TEAMS_WORKERS": "2",
            "TASKFLOW_EVENT_BUS_URL": "memory://",
            "TASKFLOW_DATA_DIR": str(tmp_path),
            "TASKFLOW_ACCESS_LOG": "false",
            "HOST": "127.0.0.1",
            "PORT": str(port),
        }
        service = subprocess.Popen(  # noqa: ASYNC220 - the service under test, started once
            [sys.executable, "-m", "taskflow_teams"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            ready = False
            deadline = time.monotonic() + 60
            async with httpx.AsyncClient(timeout=2) as client:
                while time.monotonic() < deadline and not ready:
                    try:
                        ready = (await client.get(f"http://127.0.0.1:{port}/readyz")).is_success
                    except httpx.HTTPError:
                        await asyncio.sleep(0.2)
                answers = [
                    (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code
                    for _ in range(20)
                ]
            assert ready, "the service never became ready"
            assert answers == [200] * 20
            assert len(spawned_workers(service.pid)) == 2
        finally:
            service.send_signal(signal.SIGTERM)
            _, errors = service.communicate(timeout=30)
        assert b"Traceback" not in errors, errors.decode()


async def test_an_idle_connection_outlives_uvicorn_s_five_seconds(tmp_path: Path) -> None:
    """The gateway reuses a service's idle connection for up to 60 s: a service closing it
    sooner (uvicorn's default is 5 s) races the gateway's next request on it (a 502)."""
    port = free_port()
    env = {
        **os.environ,
        "TEAMS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'teams.db'}",
        "TASKFLOW_EVENT_BUS_URL": "memory://",
        "TASKFLOW_DATA_DIR": str(tmp_path),
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    service = subprocess.Popen(  # noqa: ASYNC220 - the service under test, started once
        [sys.executable, "-m", "taskflow_teams"], env=env, stdout=subprocess.DEVNULL
    )
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        return head.split(b"\r\n")[0]

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                assert time.monotonic() < deadline, "the service never listened"
                await asyncio.sleep(0.2)
        assert await answer(reader, writer) == b"HTTP/1.1 200 OK"
        await asyncio.sleep(6.5)
        assert await answer(reader, writer) == b"HTTP/1.1 200 OK"  # the same connection
        writer.close()
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)

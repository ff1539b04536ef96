"""The README stays true: its walkthrough runs, and its file table names every file."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def walkthrough() -> str:
    block = README.split("<!-- walkthrough:start -->", 1)[1].split("<!-- walkthrough:end -->", 1)[0]
    return block.split("```bash\n", 1)[1].rsplit("```", 1)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def make_dev(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """What ``make dev`` starts, on a free port and a fresh data directory."""
    port = free_port()
    data = tmp_path / "var"
    env = {**os.environ, "PORT": str(port), "TASKFLOW_DATA_DIR": str(data)}
    env.pop("TASKFLOW_EVENT_BUS_URL", None)
    log = (tmp_path / "dev.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "taskflow_embedded.main"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "dev.log").read_text()
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "dev.log").read_text()
            time.sleep(0.2)
        yield base, data / "mail"
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_the_walkthrough_runs_as_written(make_dev: tuple[str, Path], tmp_path: Path) -> None:
    base, mail = make_dev
    env = {**os.environ, "BASE": base, "MAIL_DIR": str(mail)}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough()],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    kinds, actions = result.stdout.strip().splitlines()[-2:]
    assert "task_assigned" in kinds and "task_commented" in kinds
    assert actions == "['created', 'assigned', 'status_changed', 'commented']"


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return listed


def test_the_file_table_names_every_top_level_entry_and_service_source_file() -> None:
    table = README.split("## What's in each file", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([^`]+)`", table))
    files = tracked_files()
    top_level = {path.split("/")[0] + ("/" if "/" in path else "") for path in files}
    missing = sorted(
        entry
        for entry in top_level
        if entry not in named and not any(n.startswith(entry) for n in named)
    )
    assert not missing, f"top-level entries missing from the README's file table: {missing}"
    sources = [
        p
        for p in files
        if re.match(r"services/[^/]+/src/.+\.py$", p) and not p.endswith("__init__.py")
    ]
    assert sources
    missing_sources = [p for p in sources if p not in named]
    assert not missing_sources, (
        f"service source files missing from the README's file table: {missing_sources}"
    )


def test_requirements_txt_is_exported_from_the_lock(tmp_path: Path) -> None:
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    command = [uv] if uv else [sys.executable, "-m", "uv"]
    out = tmp_path / "requirements.txt"
    subprocess.run(
        [*command, "export", "--frozen", "--no-dev", "--no-hashes", "--all-packages",
         "--no-emit-workspace", "-o", str(out)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip

    def packages(text: str) -> list[str]:
        return [
            line
            for line in text.splitlines()
            if line and not line.startswith("#") and not line.startswith(" ")
        ]

    assert packages((ROOT / "requirements.txt").read_text()) == packages(out.read_text()), (
        "run make requirements.txt"
    )

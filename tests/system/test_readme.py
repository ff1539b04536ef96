"""The README stays true: its walkthrough runs, and its file table names every file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from taskflow_chassis.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def walkthrough() -> str:
    block = README.split("<!-- walkthrough:start -->", 1)[1].split("<!-- walkthrough:end -->", 1)[0]
    return block.split("```bash\n", 1)[1].rsplit("```", 1)[0]


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


def test_the_walkthrough_runs_as_written_and_again_on_the_same_data(
    make_dev: tuple[str, Path], tmp_path: Path
) -> None:
    """Pasted twice into one ``make dev`` (one ``var/``), it works both times."""
    base, mail = make_dev
    env = {**os.environ, "BASE": base, "MAIL_DIR": str(mail)}
    env.pop("RUN", None)
    for attempt in ("first", "second"):
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", walkthrough()],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, (
            f"{attempt} run: " + result.stdout[-3000:] + result.stderr[-3000:]
        )
        lines = result.stdout.strip().splitlines()
        kinds, actions, permissions, due_at, titles, body, preferences, problem = lines[-15:-7]
        patched, stale, replay, deleted, gone, restored, kept = lines[-7:]
        assert "task_assigned" in kinds and "task_commented" in kinds, attempt
        assert actions == "['created', 'assigned', 'status_changed', 'commented']", attempt
        assert "'tasks.review'" in permissions, attempt
        assert due_at.startswith("2030-01-02T23:59:59"), (attempt, due_at)
        assert titles == "['Book the venue']", (attempt, titles)
        assert body == "Venue booked?", (attempt, body)
        assert "'reminder_lead_hours': 48" in preferences, (attempt, preferences)
        assert "'email_on_assignment': True" in preferences, (attempt, preferences)
        assert problem.startswith("400 ") and "colour" in problem, (attempt, problem)
        # If-Match: the tag read wins once; the same tag again is stale
        assert patched == "PATCH 200", (attempt, patched)
        assert stale == "412 /problems/precondition-failed", (attempt, stale)
        # Idempotency-Key: the second POST is the first one's answer again, and says so
        first_id, second_id, header = replay.split(" ", 2)
        assert uuid.UUID(first_id) == uuid.UUID(second_id), (attempt, replay)
        assert header.lower() == "idempotent-replayed: true", (attempt, replay)
        # Delete and restore: gone, then back with its tasks (one checklist task, not two)
        assert (deleted, gone, restored) == ("DELETE 204", "GET 404", "Launch"), attempt
        all_three = "['Book the venue', 'Print the checklist', 'Write the launch post']"
        assert kept == all_three, (attempt, kept)


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
    # uv on PATH, beside this interpreter, or the private copy `make` installs (.tools/uv-venv)
    places = os.pathsep.join([str(Path(sys.executable).parent), str(ROOT / ".tools/uv-venv/bin")])
    uv = shutil.which("uv") or shutil.which("uv", path=places)
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


# Built, not written out, so this file does not match what it looks for.
OUTSIDE = "../" + "shared"
BARE_DESIGN_NAMES = re.compile(
    r"(?<![\w/.-])(?:" + "|".join(["ARCHITECTURE", "API", "EVENTS"]) + r")\.md"
)
# Traefik's own JSON schemas are not the project's: the artifact tests use them where present.
MAY_NAME_OUTSIDE = {"tests/system/test_artifacts.py"}


def test_no_tracked_file_points_outside_the_repository() -> None:
    offenders = []
    for path in tracked_files():
        try:
            text = (ROOT / path).read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        if OUTSIDE in text and path not in MAY_NAME_OUTSIDE:
            offenders.append(f"{path}: {OUTSIDE}")
        offenders += [f"{path}: {m.group(0)}" for m in BARE_DESIGN_NAMES.finditer(text)]
    assert not offenders, f"cite docs/ instead: {offenders}"


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert {p.name for p in documents} >= {"architecture.md", "http-api.md", "events.md"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    broken = []
    for document in documents:
        for target in re.findall(r"\]\(([^)\s]+)\)", document.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            resolved = (document.parent / target.split("#", 1)[0]).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{document.relative_to(ROOT)}: {target}")
    assert not broken, f"links to nothing in the repository: {broken}"


def test_the_http_api_document_lists_every_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path))
    text = (ROOT / "docs" / "http-api.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z]+) (/[^`]*)` \|", text, re.MULTILINE))
    undocumented = []
    for service in ("auth", "teams", "work", "notify"):
        app = importlib.import_module(f"taskflow_{service}.app").create_app()
        for path, operations in app.openapi()["paths"].items():
            if path.startswith("/api/v1/"):
                undocumented += [
                    f"{method.upper()} {path}"
                    for method in operations
                    if (method.upper(), path.removeprefix("/api/v1")) not in documented
                ]
    assert not undocumented, f"routes missing from docs/http-api.md: {undocumented}"


def test_the_events_document_lists_every_event_type() -> None:
    import taskflow_contracts.auth
    import taskflow_contracts.teams
    import taskflow_contracts.work  # noqa: F401  (each module registers its types)
    from taskflow_contracts.base import all_event_types

    text = (ROOT / "docs" / "events.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_.0-9]+)` \|", text, re.MULTILINE))
    # Only TaskFlow's own contracts: tests elsewhere declare payloads of their own in the
    # same registry (the chassis' widgets) when they share this process.
    published = [
        event_type
        for event_type, payload in all_event_types().items()
        if payload.__module__.startswith("taskflow_contracts.")
    ]
    missing = [t for t in published if t.removeprefix("taskflow.") not in documented]
    assert not missing, f"event types missing from docs/events.md: {missing}"

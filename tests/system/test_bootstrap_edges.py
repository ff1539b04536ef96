"""The first-run bootstrap at its edges (Makefile), by dry runs (`make -n`), no download: a
checkout whose path has a space, and a uv on PATH too old for the lock."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(path: str, home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("UV_", "VIRTUAL_ENV", "MAKE", "MFLAGS", "PYTHON"))
    }
    env.update(PATH=path, HOME=str(home))
    return env


def _checkout(where: Path) -> Path:
    where.mkdir(parents=True)
    for name in ("Makefile", "uv.lock", "pyproject.toml"):
        shutil.copy2(ROOT / name, where / name)
    return where


@pytest.mark.skipif(shutil.which("uv", path="/usr/bin:/bin") is not None, reason="uv in /usr/bin")
def test_bootstrap_in_a_folder_whose_path_has_a_space(tmp_path: Path) -> None:
    """`$(CURDIR)/.tools/uv-venv/bin/uv` is a make target and an unquoted command: in
    `~/My Projects/taskflow` make sees two targets, and `$(UV) sync` runs `~/My`."""
    repo = _checkout(tmp_path / "My Projects" / "taskflow")
    planned = subprocess.run(
        ["make", "-n", "bootstrap"], cwd=repo, env=_env("/usr/bin:/bin", tmp_path),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    sync = [line for line in planned.stdout.splitlines() if " sync " in f"{line} "]
    assert sync, planned.stdout
    # The uv the sync runs must be one word to the shell: quoted, or a path with no space.
    command = sync[-1].strip()
    assert command.startswith(("'", '"')) or command.split()[0].endswith("/uv"), command


def test_a_uv_on_path_too_old_for_the_lock_is_not_used_blindly(tmp_path: Path) -> None:
    """The private install pins `uv>=0.9,<1` (UV_SPEC), but any `uv` on PATH is taken as
    it is: an old one (a distro's or pipx's 0.4) fails on `uv sync --frozen` against a
    revision-5 lock with uv's own parse error, and make never says which uv it needs."""
    fake = tmp_path / "bin"
    fake.mkdir()
    uv = fake / "uv"
    uv.write_text('#!/bin/sh\necho "uv 0.4.0"\n')
    uv.chmod(0o755)
    planned = subprocess.run(
        ["make", "-n", "-W", "uv.lock", "bootstrap"], cwd=ROOT,
        env=_env(f"{fake}:/usr/bin:/bin", tmp_path), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    # Either the old uv is set aside for the private one, or its version is checked first.
    assert f"{uv} sync" not in planned.stdout or "--version" in planned.stdout, planned.stdout

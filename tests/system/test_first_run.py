"""A first run works anywhere: `make bootstrap` on a Python that refuses pip installs (as
Debian's and Ubuntu's do, PEP 668), from a fresh HOME and with no uv on PATH, installs uv
into the repository's own .tools/ and changes nothing of the Python it was given; and
`make up` takes its ports from variables."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
# The locked packages and every workspace member are importable from .venv.
INSTALLED = (
    "import importlib.util, fastapi, uvicorn, sqlalchemy; "
    "missing = [n for n in ('taskflow_chassis', 'taskflow_contracts', 'taskflow_auth', "
    "'taskflow_teams', 'taskflow_work', 'taskflow_notify', 'taskflow_embedded') "
    "if importlib.util.find_spec(n) is None]; "
    "assert not missing, missing"
)


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def externally_managed_python(where: Path) -> Path:
    """A copy of this machine's base Python (binary copied, standard library linked) that
    is not a virtual environment and whose stdlib holds an EXTERNALLY-MANAGED file."""
    base = Path(sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    binary = (base / "bin" / version).resolve()
    stdlib = Path(sysconfig.get_paths(vars={"installed_base": str(base)})["stdlib"])
    if not binary.exists() or not (stdlib / "os.py").exists():
        pytest.skip(f"no standard Python layout under {base}")
    (where / "bin").mkdir(parents=True)
    shutil.copy2(binary, where / "bin" / version)
    (where / "bin" / "python3").symlink_to(version)
    (where / "lib").mkdir()
    for library in (base / "lib").glob("libpython*"):
        (where / "lib" / library.name).symlink_to(library)
    lib = where / "lib" / version
    lib.mkdir()
    for entry in stdlib.iterdir():
        if entry.name not in {"site-packages", "EXTERNALLY-MANAGED"}:
            (lib / entry.name).symlink_to(entry)
    site = lib / "site-packages"
    site.mkdir()
    for entry in (stdlib / "site-packages").glob("pip*"):
        (site / entry.name).symlink_to(entry)
    (lib / "EXTERNALLY-MANAGED").write_text(
        "[externally-managed]\nError=This Python is managed by the system: use a venv.\n"
    )
    return where / "bin" / "python3"


def base_site_packages() -> Path:
    """The site-packages of the Python this copy was made from (not this test's venv)."""
    base = {"base": sys.base_prefix, "platbase": sys.base_prefix}
    return Path(sysconfig.get_paths(vars=base)["purelib"])


def snapshot(*folders: Path) -> dict[str, float]:
    seen: dict[str, float] = {}
    for folder in folders:
        if folder.is_dir():
            for path in folder.rglob("*"):
                seen[str(path)] = path.lstat().st_mtime
    return seen


def test_bootstrap_on_an_externally_managed_python_from_a_fresh_home(tmp_path: Path) -> None:
    python = externally_managed_python(tmp_path / "python")
    path = f"{python.parent}:/usr/bin:/bin"
    if shutil.which("uv", path=path):
        pytest.skip("uv is on this machine's /usr/bin or /bin: the case without uv cannot be made")
    if not shutil.which("make", path=path) or not shutil.which("git", path=path):
        pytest.skip("make and git are not in /usr/bin or /bin")
    try:
        httpx.get("https://pypi.org/simple/uv/", timeout=15).raise_for_status()
    except httpx.HTTPError as exc:
        _skip_or_fail(f"PyPI is not reachable, and uv comes from it: {exc}")
    uv = shutil.which("uv")
    cache = (
        subprocess.run(
            [uv, "cache", "dir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if uv
        else ""
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("UV_", "VIRTUAL_ENV", "PYTHON", "CONDA", "MAKE", "MFLAGS"))
    }
    env.update(HOME=str(home), PATH=path)
    if cache:  # the machine's uv cache, where it has one: the locked packages without downloads
        env["UV_CACHE_DIR"] = cache

    refused = subprocess.run(
        [str(python), "-m", "pip", "install", "--dry-run", "uv"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "externally-managed" in refused.stderr, refused.stderr

    repo = tmp_path / "repo"  # a clone of what is committed, as CI and a newcomer get it
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(repo)], env=env, check=True
    )
    real_home = Path.home()
    watched = (tmp_path / "python", real_home / ".local" / "bin", real_home / ".config" / "uv")
    before = snapshot(*watched)
    base_site = set(os.listdir(base_site_packages()))

    result = subprocess.run(
        ["make", "bootstrap"], cwd=repo, env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (repo / ".tools" / "uv-venv" / "bin" / "uv").exists()
    assert "uv is not on PATH" in result.stdout
    # The packages' bytecode compiled once, here: a process need not compile what it imports
    # at every start where PYTHONDONTWRITEBYTECODE is set (the Makefile's reason).
    assert list((repo / ".venv").glob("lib/*/site-packages/fastapi/__pycache__/*.pyc"))
    imported = subprocess.run(
        [str(repo / ".venv" / "bin" / "python"), "-c", INSTALLED],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert snapshot(*watched) == before, "make bootstrap wrote outside the repo and HOME"
    assert set(os.listdir(base_site_packages())) == base_site, "pip installed into the base Python"
    assert not list((tmp_path / "python" / "lib").glob("*/site-packages/uv*"))


def test_make_up_takes_its_ports_from_variables() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    listed = subprocess.run(
        ["make", "help"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    for variable in ("PORT=", "SERVICES_PORT=", "SMTP_PORT="):
        assert variable in listed.stdout
    shown = subprocess.run(
        ["make", "-s", "-o", ".venv/.synced", "up", "PORT=9000", "SERVICES_PORT=9101",
         "SMTP_PORT=9025",
         "RUN=printenv PORT TASKFLOW_LOCAL_SERVICES_PORT TASKFLOW_LOCAL_SMTP_PORT; true"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert shown.stdout.split() == ["9000", "9101", "9025"]


def test_the_local_stack_reads_those_ports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from taskflow_embedded.local import local_stack

    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("TASKFLOW_LOCAL_SERVICES_PORT", "9101")
    monkeypatch.setenv("TASKFLOW_LOCAL_SMTP_PORT", "9025")
    stack = local_stack()
    assert (stack.gateway_port, stack.smtp_port) == (9000, 9025)
    assert [stack.port(s) for s in ("auth", "teams", "work", "notify")] == [9101, 9102, 9103, 9104]
    monkeypatch.setenv("TASKFLOW_LOCAL_SMTP_PORT", "smtp")
    with pytest.raises(SystemExit, match="TASKFLOW_LOCAL_SMTP_PORT='smtp'"):
        local_stack()

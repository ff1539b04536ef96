"""The README's API tokens example runs as written against ``make dev``: a token made by a
session, used within its scopes, refused beyond them and for managing tokens, listed
without its secret, revoked and then refused."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .test_readme import README, make_dev

__all__ = ["make_dev"]  # the fixture, used here as test_readme.py uses it


def tokens_block() -> str:
    block = README.split("<!-- tokens:start -->", 1)[1].split("<!-- tokens:end -->", 1)[0]
    return block.split("```bash\n", 1)[1].rsplit("```", 1)[0]


def test_the_api_tokens_example_runs_as_written(make_dev: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = make_dev
    env = {**os.environ, "BASE": base}
    env.pop("RUN", None)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", tokens_block()],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    username, beyond, manage, listed, deleted, after = result.stdout.strip().splitlines()[-6:]
    assert username.startswith("ci-"), username
    assert beyond == "403 /problems/insufficient-scope", beyond
    assert manage.startswith("403 ") and "signed-in session only" in manage, manage
    assert listed == "[('CI', ['profile.read', 'teams.read'])]", listed
    assert (deleted, after) == ("DELETE 204", "after revocation 401")

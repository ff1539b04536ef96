"""A typed Python client generated from the combined OpenAPI document works.

openapi-python-client (a dev dependency) generates a package from the four services'
documents combined, as a client of the gateway would; the test imports it and walks
the embedded runtime in-process with it: sign up, log in, register, create a team, a
project and a task, read the task back, and read a refusal as a typed Problem.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from taskflow_chassis.openapi import combine
from taskflow_chassis.testing import app_running
from taskflow_embedded.main import Dispatcher

SERVICES = ("auth", "teams", "work", "notify")
PACKAGE = "taskflow_client"
PASSWORD = "correct-horse-battery"
BASE_URL = "http://127.0.0.1:8000"


@pytest.fixture
async def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Dispatcher]:
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TASKFLOW_EVENT_BUS_URL", f"memory://client-{tmp_path.name}")
    dispatcher = Dispatcher()
    async with app_running(dispatcher):
        yield dispatcher


async def combined_document(app: Dispatcher) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        documents = [(await client.get(f"/openapi/{name}.json")).json() for name in SERVICES]
    return combine(documents)


def generate(document: dict[str, Any], into: Path) -> Path:
    """The generated package's directory (named ``PACKAGE``), under ``into``."""
    spec = into / "taskflow.json"
    spec.write_text(json.dumps(document))
    bin_dir = Path(sys.executable).parent
    tool = shutil.which("openapi-python-client", path=str(bin_dir))
    assert tool, "openapi-python-client is not installed (uv sync installs it)"
    package = into / PACKAGE
    config = into / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))  # no formatter run: the code as generated
    generated = subprocess.run(
        [
            *(tool, "generate", "--path", str(spec), "--output-path", str(package)),
            *("--meta", "none", "--config", str(config), "--fail-on-warning"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    return package


@pytest.fixture
def importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for the generated package, forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def test_a_generated_client_walks_the_api(embedded: Dispatcher, importable: Path) -> None:
    generate(await combined_document(embedded), importable)
    package = importlib.import_module(PACKAGE)
    models = module("models")
    transport = {"transport": httpx.ASGITransport(app=embedded)}
    anonymous = package.Client(base_url=BASE_URL, httpx_args=transport)

    signed_up = await module("api.auth.auth_users_create").asyncio_detailed(
        client=anonymous,
        body=models.UserCreate(username="gen", email="gen@example.com", password=PASSWORD),
    )
    assert signed_up.status_code == 201, signed_up.content
    assert isinstance(signed_up.parsed, models.UserRead) and signed_up.parsed.username == "gen"
    tokens = await module("api.auth.auth_jwt_create").asyncio(
        client=anonymous, body=models.LoginRequest(username="gen", password=PASSWORD)
    )
    assert isinstance(tokens, models.TokenPair)
    client = package.AuthenticatedClient(
        base_url=BASE_URL, token=tokens.access, httpx_args=transport
    )

    registered = await module("api.participants.participants_register").asyncio_detailed(
        client=client, body=models.ParticipantCreate(phone_number="+14155552672")
    )
    assert registered.status_code == 201, registered.content
    team = await create_team(client, models)
    assert team.name == "Generated" and team.my_role.name == "Team Leader"
    project = await module("api.projects.projects_create").asyncio(
        client=client, body=models.ProjectCreate(team_id=team.id, name="Typed")
    )
    assert isinstance(project, models.ProjectRead), project
    task = await module("api.projects.projects_tasks_create").asyncio(
        project_id=project.id,
        client=client,
        body=models.TaskCreate(title="Generate a client", priority=models.Priority.HIGH),
    )
    assert isinstance(task, models.TaskRead), task
    read = await module("api.tasks.tasks_get").asyncio(task_id=task.id, client=client)
    assert isinstance(read, models.TaskRead)
    assert (read.id, read.title) == (task.id, "Generate a client")
    assert read.priority == models.Priority.HIGH

    # Refusals arrive as the typed Problem the document promises.
    missing = await module("api.tasks.tasks_get").asyncio(task_id=uuid.uuid4(), client=client)
    assert isinstance(missing, models.Problem) and missing.status == 404
    stranger = package.AuthenticatedClient(base_url=BASE_URL, token="nope", httpx_args=transport)
    refused = await module("api.tasks.tasks_get").asyncio_detailed(task_id=task.id, client=stranger)
    assert refused.status_code == 401 and isinstance(refused.parsed, models.Problem)
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def create_team(client: Any, models: Any) -> Any:
    """The participant profile reaches teams through the bus: a moment, not a request."""
    create = module("api.teams.teams_create")
    for _ in range(100):
        body = models.TeamCreate(name="Generated")
        answer = await create.asyncio_detailed(client=client, body=body)
        if answer.status_code != 403:
            break
        await asyncio.sleep(0.05)
    assert answer.status_code == 201, answer.content
    assert isinstance(answer.parsed, models.TeamRead)
    return answer.parsed

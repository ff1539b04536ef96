"""Property-based fuzz of the four OpenAPI documents (schemathesis), each app in-process.

Every operation of each service is called with generated input, valid and invalid,
signed in with a test token (auth: an account of its own); every answer must be
below 500, have a status its operation documents, and match the documented media
type and schema. On SQLite and on PostgreSQL (which refuses NUL and checks ranges),
with the in-memory bus; deterministic (derandomized, a fixed number of examples per
operation).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.generation.modes import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from taskflow_chassis.testing import fresh_postgres_database

from .inprocess import auth_app, notify_app, send, signed_in, teams_app, work_app

# Examples per operation, each of three generators (valid, invalid, valid with seeded ids):
# most of the time goes to generating them, beside the rest of the suite on two cores.
EXAMPLES = 30
# Beside the rest of the suite on a slow machine one service took past the default timeout,
# whose failure, raised inside hypothesis, showed only as a flaky test.
pytestmark = pytest.mark.timeout(900)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite, and PostgreSQL: the stricter (no NUL in text, ranges checked). The apps
    schemathesis started are stopped before their database goes, not at exit."""
    if request.param == "sqlite":
        try:
            yield f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}"
        finally:
            asgi.shutdown_lifespans()
        return
    loop = asyncio.new_event_loop()
    fresh = fresh_postgres_database("taskflow_fuzz")
    try:
        yield loop.run_until_complete(fresh.__aenter__())
    finally:
        asgi.shutdown_lifespans()
        loop.run_until_complete(fresh.__aexit__(None, None, None))
        loop.close()


def still_signed_in(app: FastAPI, headers: dict[str, str]) -> None:
    """After a change at auth, sign in afresh if it ended the session (else every later
    example would only meet 401)."""
    if send(app, "GET", "/api/v1/auth/users/me", headers).status_code == 401:
        headers.update(signed_in(app))


def streams(definition: dict[str, Any]) -> bool:
    """Whether an operation answers with Server-Sent Events."""
    return any(
        "text/event-stream" in response.get("content", {})
        for response in definition.get("responses", {}).values()
    )


def fuzz(service: str, app: FastAPI, headers: dict[str, str], ids: dict[str, str]) -> list[str]:
    """Every operation, positive and negative examples, and positive ones with the seeded
    ids in the path: what failed, one line each."""
    schema = schemathesis.openapi.from_asgi(f"/openapi/{service}.json", app)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the document itself is invalid
        operation = result.ok()
        where = f"{operation.method.upper()} {operation.path}"
        if streams(operation.definition.raw):
            # An answer that streams until the client goes (notify's live stream) would
            # hold every example open: services/notify/tests/test_live_stream.py tries it.
            continue
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        ]
        known = {key: value for key, value in ids.items() if f"{{{key}}}" in operation.path}
        if known:
            strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known))
        strategy = st.one_of(*strategies)

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def examples(case: Any) -> None:
            try:
                # A hash under a busy suite can outlast schemathesis' 10 s (CI met it once).
                response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)
                statuses[response.status_code] += 1
                if service == "auth" and case.method != "GET" and response.status_code < 300:
                    still_signed_in(app, headers)
            except (Exception, BaseExceptionGroup) as exc:  # every failure, not the first
                summary = " ".join(str(exc).split())[:300]
                failures.append(f"{where}: {summary}")  # noqa: B023 - called at once below

        examples()
    # Proof the fuzz reached the routes: many calls, and more than refusals alone.
    assert sum(statuses.values()) >= EXAMPLES, statuses
    assert any(status < 300 for status in statuses), statuses
    print(service, sorted(statuses.items()))
    return failures


def test_auth(tmp_path: Path, database: str) -> None:
    assert fuzz("auth", *auth_app(tmp_path, database)) == []


def test_teams(tmp_path: Path, database: str) -> None:
    assert fuzz("teams", *teams_app(tmp_path, database)) == []


def test_work(tmp_path: Path, database: str) -> None:
    assert fuzz("work", *work_app(tmp_path, database)) == []


def test_notify(tmp_path: Path, database: str) -> None:
    assert fuzz("notify", *notify_app(tmp_path, database)) == []

"""A missing server skips a test on a laptop but fails it in CI."""

from __future__ import annotations

import pytest
from taskflow_chassis.testing import require_server

NOWHERE = "amqp://127.0.0.1:1/"


def test_missing_server_skips_without_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not reachable"):
        require_server("RabbitMQ", NOWHERE, 5672)


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_missing_server_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_server("RabbitMQ", NOWHERE, 5672)

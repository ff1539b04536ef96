"""A missing server skips a test on a laptop but fails it in CI; the permission matrix
builds a new world only after a request changed the last one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from taskflow_chassis.testing import permission_matrix, require_server

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


ROLES = ["Team Leader", "Developer", "Viewer", "outsider"]


@dataclass
class Answer:
    status_code: int
    content_type: str = "application/problem+json"
    text: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"content-type": self.content_type}


@dataclass
class FakeRoute:
    """A route on a world of rows: ``statuses`` answers each role, ``writes`` the roles
    whose request adds a row (a refusal that writes is the bug the matrix catches)."""

    statuses: dict[str, int]
    writes: set[str] = field(default_factory=set)
    builds: int = 0
    snapshots: int = 0
    worlds: list[list[str]] = field(default_factory=list)

    async def prepare(self) -> tuple[Any, Any]:
        self.builds += 1
        rows: list[str] = []
        self.worlds.append(rows)

        async def send_as(role: str) -> Answer:
            if role in self.writes:
                rows.append(role)
            return Answer(self.statuses[role])

        async def snapshot() -> list[str]:
            self.snapshots += 1
            return list(rows)

        return send_as, snapshot


async def test_refusals_share_the_world_an_allowed_write_left_for_a_new_one() -> None:
    route = FakeRoute(
        {"Team Leader": 200, "Developer": 403, "Viewer": 403, "outsider": 404},
        writes={"Team Leader"},
    )
    assert await permission_matrix(ROLES, {"Team Leader"}, 200, route.prepare) == []
    # every refusal met the world as built, the leader's write last: one world
    assert route.builds == 1 and route.worlds == [["Team Leader"]]


async def test_each_allowed_write_after_the_first_meets_a_new_world() -> None:
    route = FakeRoute(
        {"Team Leader": 200, "Developer": 200, "Viewer": 403, "outsider": 404},
        writes={"Team Leader", "Developer"},
    )
    assert await permission_matrix(ROLES, set(ROLES[:2]), 200, route.prepare) == []
    assert route.builds == 2 and route.worlds == [["Team Leader"], ["Developer"]]


async def test_reads_share_one_world() -> None:
    route = FakeRoute({"Team Leader": 200, "Developer": 200, "Viewer": 200, "outsider": 404})
    assert await permission_matrix(ROLES, set(ROLES[:3]), 200, route.prepare) == []
    # one snapshot when built, one after each request but the last (the next role's before)
    assert route.builds == 1 and route.snapshots == len(ROLES)


async def test_a_refusal_that_wrote_fails_and_the_next_role_gets_a_new_world() -> None:
    route = FakeRoute(
        {"Team Leader": 200, "Developer": 403, "Viewer": 403, "outsider": 404},
        writes={"Developer"},
    )
    failures = await permission_matrix(ROLES, {"Team Leader"}, 200, route.prepare)
    assert failures == ["Developer: refused with 403 but the data changed"]
    assert route.builds == 2 and route.worlds == [["Developer"], []]


async def test_a_wrong_answer_fails_and_the_next_role_gets_a_new_world() -> None:
    route = FakeRoute(
        {"Team Leader": 200, "Developer": 200, "Viewer": 403, "outsider": 404},
        writes={"Developer"},  # allowed where it must be refused, and it wrote
    )
    failures = await permission_matrix(ROLES, {"Team Leader"}, 200, route.prepare)
    assert [f.split(" (")[0] for f in failures] == ["Developer: 200"]
    assert route.builds == 2

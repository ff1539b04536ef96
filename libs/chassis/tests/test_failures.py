"""Transient or permanent: the rule the buses use to retry or park a failed event."""

from __future__ import annotations

import httpx
import pydantic
import pytest
from sqlalchemy import exc as sa_exc
from taskflow_chassis.bus import TRANSIENT_MAX_DELAY, next_step
from taskflow_chassis.failures import Failure, PermanentError, TransientError, classify
from taskflow_chassis.problems import ProblemError


class FakeDriverError(Exception):
    def __init__(self, message: str, sqlstate: str = "") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def dbapi(cls: type[sa_exc.DBAPIError], sqlstate: str = "") -> sa_exc.DBAPIError:
    return cls("SELECT 1", {}, FakeDriverError("driver says no", sqlstate))


class Payload(pydantic.BaseModel):
    team_id: int


def validation_error() -> pydantic.ValidationError:
    try:
        Payload.model_validate({"team_id": "x"})
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("validated")


def wrapped(inner: BaseException) -> RuntimeError:
    try:
        raise RuntimeError("handler failed") from inner
    except RuntimeError as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ConnectionRefusedError("refused"), Failure.TRANSIENT),
        (ConnectionResetError("reset"), Failure.TRANSIENT),
        (TimeoutError(), Failure.TRANSIENT),
        (dbapi(sa_exc.OperationalError), Failure.TRANSIENT),
        (dbapi(sa_exc.DBAPIError, "40001"), Failure.TRANSIENT),  # serialization failure
        (dbapi(sa_exc.DBAPIError, "40P01"), Failure.TRANSIENT),  # deadlock
        (dbapi(sa_exc.DBAPIError, "57P01"), Failure.TRANSIENT),  # admin shutdown
        (dbapi(sa_exc.DBAPIError, "08006"), Failure.TRANSIENT),  # connection failure
        (dbapi(sa_exc.IntegrityError, "23505"), Failure.UNKNOWN),
        (httpx.ConnectError("teams unreachable"), Failure.TRANSIENT),
        (ProblemError(503, "Membership unavailable"), Failure.TRANSIENT),
        (ProblemError(404, "Not found"), Failure.UNKNOWN),
        (TransientError("later"), Failure.TRANSIENT),
        (PermanentError("never"), Failure.PERMANENT),
        (validation_error(), Failure.PERMANENT),
        (wrapped(ConnectionRefusedError()), Failure.TRANSIENT),
        (KeyError("role_id"), Failure.UNKNOWN),
    ],
)
def test_classify(error: BaseException, kind: Failure) -> None:
    assert classify(error) is kind


def test_next_step_parks_permanent_at_once_and_never_an_outage() -> None:
    step = next_step(PermanentError("x"), retries=0, outages=0, max_retries=5, retry_base_seconds=1)
    assert step.park
    for outages in (0, 10, 1000):
        step = next_step(
            ConnectionRefusedError(),
            retries=5,
            outages=outages,
            max_retries=5,
            retry_base_seconds=1,
        )
        assert not step.park and not step.counted and 0 < step.delay <= TRANSIENT_MAX_DELAY
    step = next_step(KeyError("x"), retries=4, outages=0, max_retries=5, retry_base_seconds=1)
    assert not step.park and step.counted and step.delay == 16
    assert next_step(KeyError("x"), retries=5, outages=0, max_retries=5, retry_base_seconds=1).park


def test_a_redis_outage_is_transient() -> None:
    import redis.exceptions

    assert classify(redis.exceptions.ConnectionError("gone")) is Failure.TRANSIENT
    assert classify(redis.exceptions.ResponseError("WRONGTYPE")) is Failure.UNKNOWN
    assert classify(FileNotFoundError("x")) is Failure.UNKNOWN


def test_an_outage_of_days_still_has_a_back_off() -> None:
    from taskflow_chassis.bus import retry_delay

    assert retry_delay(0.5, 5000) == 300.0  # no OverflowError after ~1,000 doublings
    step = next_step(
        ConnectionRefusedError(), retries=0, outages=10**6, max_retries=5, retry_base_seconds=0.5
    )
    assert step.delay == TRANSIENT_MAX_DELAY


def test_a_read_only_database_is_an_outage() -> None:
    assert classify(dbapi(sa_exc.DBAPIError, "25006")) is Failure.TRANSIENT

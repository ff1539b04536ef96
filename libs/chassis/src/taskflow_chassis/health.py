"""``/healthz`` (the process is alive) and ``/readyz`` (it can serve: its database answers).

Readiness fails only on what stops the process from serving, its database. The
broker is reported but does not fail it: the outbox keeps events while the broker
is away and the relay catches up when it returns, so a broker blip must not take
every API replica out of its load balancer. The number of events parked in the
service's dead-letter queue is reported too, for operators and dashboards.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from taskflow_chassis.problems import PROBLEM_TYPE_BASE, problem_response

router = APIRouter(tags=["health"])
# A service with a consumer, ready; one without shows only the database and the broker.
READY_EXAMPLE = {
    "status": "ready",
    "checks": {"database": "ok", "broker": "ok", "parked_events": 0, "consumer": "running"},
}


@router.get(
    "/healthz",
    responses={
        200: {"content": {"application/json": {"example": {"status": "ok", "service": "work"}}}}
    },
    summary="Liveness",
)
async def healthz(request: Request) -> dict[str, str]:
    return {"status": "ok", "service": request.app.state.service_name}


@router.get(
    "/readyz",
    responses={200: {"content": {"application/json": {"example": READY_EXAMPLE}}}},
    summary="Readiness: the database answers (broker and parked events shown)",
)
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    database_ok = await state.database.ping()
    broker_ok = await state.bus.ping()
    checks: dict[str, Any] = {
        "database": "ok" if database_ok else "unavailable",
        "broker": "ok" if broker_ok else "unavailable",
    }
    consumer = getattr(state, "consumer", None)
    if consumer is not None:
        parked = await consumer.parked() if broker_ok else None
        checks["parked_events"] = parked if parked is not None else "unknown"
        checks["consumer"] = "paused" if consumer.paused_since is not None else "running"
    if not database_ok:
        # An error like any other: a problem document, with the same checks beside it.
        return problem_response(
            503,
            "Not ready",
            "The service's database does not answer.",
            type=PROBLEM_TYPE_BASE + "not-ready",
            checks=checks,
        )
    return JSONResponse({"status": "ready", "checks": checks})

"""Service-to-service routes, outside ``/api/v1`` (the gateway never routes them), for
callers holding the internal API key (``X-Service-Key``)."""

from __future__ import annotations

from taskflow_chassis.deps import SessionDep
from taskflow_chassis.security import internal_router

from taskflow_auth.tokens import service
from taskflow_auth.tokens.schemas import RevocationList

router = internal_router()


@router.get("/revocations")
async def list_revocations(session: SessionDep) -> RevocationList:
    """What a service process loads when it starts or reconnects to the broker, in the
    shape of the ``tokens.revoked`` events it may have missed."""
    return RevocationList(items=await service.active_revocations(session))

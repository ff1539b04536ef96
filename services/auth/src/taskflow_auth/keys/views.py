"""The public signing keys, for every service that verifies auth's tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from taskflow_auth.deps import AuthDepsDep

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.get("/jwks.json", summary="Public signing keys (JWKS)")
async def jwks(deps: AuthDepsDep, response: Response) -> dict[str, list[dict[str, Any]]]:
    response.headers["Cache-Control"] = "public, max-age=300"
    return deps.keys.jwks()

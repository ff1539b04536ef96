"""The public signing keys, for every service that verifies auth's tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from taskflow_auth.deps import AuthDepsDep

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


# One Ed25519 key (AUTH_SIGNING_ALGORITHM=EdDSA; an RS256 key has n and e for crv and x),
# its kid the key's RFC 7638 thumbprint.
JWKS_EXAMPLE = {
    "keys": [
        {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": "_Q_uDZdCP0AO9yhy-fANiALcqcS3BJ1xgr1JgQ9eHBI",
            "kid": "mxTB8ypgug3TMkaHlZOFKp_9T3gbxyC_pyPAS_ruHRI",
            "alg": "EdDSA",
            "use": "sig",
        }
    ]
}


@router.get(
    "/jwks.json",
    responses={200: {"content": {"application/json": {"example": JWKS_EXAMPLE}}}},
    summary="Public signing keys (JWKS)",
)
async def jwks(deps: AuthDepsDep, response: Response) -> dict[str, list[dict[str, Any]]]:
    response.headers["Cache-Control"] = "public, max-age=300"
    return deps.keys.jwks()

"""How an email address is compared and stored; what an API token may not change."""

from __future__ import annotations

from taskflow_chassis.problems import ProblemError
from taskflow_chassis.security import TokenClaims
from taskflow_contracts.scopes import session_fields


def refuse_session_fields(claims: TokenClaims, operation_id: str | None, fields: set[str]) -> None:
    """403 ``insufficient-scope`` naming each field an API token sent that only a signed-in
    session may change (the username: log-in asks for it)."""
    refused = session_fields(operation_id, fields) if claims.is_api_token else []
    if not refused:
        return
    raise ProblemError(
        403,
        "Insufficient scope",
        f"An API token never changes {', '.join(refused)}: it changes how the account signs "
        "in, which only a signed-in session may change.",
        type="insufficient-scope",
        errors=[
            {
                "loc": ["body", name],
                "field": name,
                "type": "insufficient-scope",
                "msg": f"{name} is changed by a signed-in session only, never by an API token.",
            }
            for name in refused
        ],
    )


def normalize_email(email: str) -> str:
    return email.strip().lower()

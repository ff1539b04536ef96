"""The account and its participant profile, through auth's public API."""

from __future__ import annotations

from typing import Any

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.api.service import AUTH, Api

PARTICIPANTS = "/api/v1/participants"


async def account(api: Api) -> dict[str, Any]:
    me: dict[str, Any] = await api.get(f"{AUTH}/users/me")
    return me


async def participant(api: Api) -> dict[str, Any] | None:
    """The person's participant profile, or None before they register one."""
    try:
        found: dict[str, Any] = await api.get(f"{PARTICIPANTS}/me")
    except ApiProblem as problem:
        if problem.status == 404:
            return None
        raise
    return found


async def save_participant(api: Api, exists: bool, values: dict[str, str]) -> dict[str, Any]:
    """Register the profile, or change it: empty optional fields are left out (a phone
    number is always sent: the API says what is wrong with it)."""
    body: dict[str, Any] = {"phone_number": values.get("phone_number", "")}
    for name in ("display_name", "region"):
        if values.get(name):
            body[name] = values[name]
    if exists:
        saved: dict[str, Any] = await api.patch(f"{PARTICIPANTS}/me", json=body)
    else:
        saved = await api.post(f"{PARTICIPANTS}/register", json=body)
    return saved


async def resend_verification(api: Api) -> str:
    answer: Any = await api.post(f"{AUTH}/users/resend_verification")
    return str(answer.get("detail", "")) if isinstance(answer, dict) else ""

"""The account and its participant profile, through auth's public API."""

from __future__ import annotations

from typing import Any

from taskflow_web.api.adapters import ApiProblem, ApiUnavailable
from taskflow_web.api.service import AUTH, Api, SignInRequired
from taskflow_web.projects.service import if_match

PARTICIPANTS = "/api/v1/participants"


async def account(api: Api) -> dict[str, Any]:
    me: dict[str, Any] = await api.get(f"{AUTH}/users/me")
    return me


async def participant(api: Api) -> tuple[dict[str, Any] | None, str]:
    """The person's participant profile (None before they register one) and its version
    (``ETag``), which the form sends back."""
    try:
        found, tag = await api.get_tagged(f"{PARTICIPANTS}/me")
    except ApiProblem as problem:
        if problem.status == 404:
            return None, ""
        raise
    return dict(found), tag or ""


async def save_participant(
    api: Api, exists: bool, values: dict[str, str], version: str
) -> dict[str, Any]:
    """Register the profile, or change it on the version the page showed (``If-Match``:
    412 when another tab saved since): empty optional fields are left out (a phone
    number is always sent: the API says what is wrong with it)."""
    body: dict[str, Any] = {"phone_number": values.get("phone_number", "")}
    for name in ("display_name", "region"):
        if values.get(name):
            body[name] = values[name]
    if exists:
        saved: dict[str, Any] = await api.call(
            "PATCH", f"{PARTICIPANTS}/me", json=body, headers=if_match(version)
        )
    else:
        saved = await api.post(f"{PARTICIPANTS}/register", json=body)
    return saved


async def resend_verification(api: Api) -> str:
    answer: Any = await api.post(f"{AUTH}/users/resend_verification")
    return str(answer.get("detail", "")) if isinstance(answer, dict) else ""


async def change_password(api: Api, current: str, new: str, *, ended: str) -> None:
    """The account's password changed at auth, which ends every session it has, this one's
    too; this one then signs in again with the new password (under a new id), so only the
    others stay ended. Where auth refuses that sign-in (its log-in limits, or away), this
    session ends too, with ``ended`` for the sign-in page."""
    await api.post(
        f"{AUTH}/users/set_password", json={"current_password": current, "new_password": new}
    )
    username = api.session.username or ""
    try:
        await api.sign_in(username, new)
    except (ApiProblem, ApiUnavailable):
        api.session = await api.store.sign_out(api.session, ended)
        raise SignInRequired(ended) from None


async def delete_account(api: Api, current: str, *, ended: str) -> None:
    """The account deleted at auth (its password asked again): every token of it dies, at
    every service, and the other services erase what was the person's. The session ends,
    with ``ended`` for the sign-in page."""
    await api.delete(f"{AUTH}/users/me", json={"current_password": current})
    api.session = await api.store.sign_out(api.session, ended)


async def sign_out_everywhere(api: Api, *, ended: str) -> None:
    """Every session of the account ends at auth (its access tokens at every service), this
    one's too: the session ends here, with ``ended`` for the sign-in page. Personal API
    tokens live on."""
    await api.post(f"{AUTH}/jwt/revoke_all")
    api.session = await api.store.sign_out(api.session, ended)

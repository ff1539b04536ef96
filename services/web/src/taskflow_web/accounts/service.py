"""Accounts through auth's public API: sign up, verify an address, reset a password."""

from __future__ import annotations

from typing import Any

from taskflow_web.api.service import AUTH, Api


async def sign_up(api: Api, username: str, email: str, password: str) -> None:
    await api.call(
        "POST",
        f"{AUTH}/users",
        json={"username": username, "email": email, "password": password},
        signed_in=False,
    )


async def verify_email(api: Api, token: str) -> str:
    """The address the link proved (a new account's, or a changed one)."""
    answer: Any = await api.call(
        "POST", f"{AUTH}/users/verify_email", json={"token": token}, signed_in=False
    )
    return str(answer.get("email", "")) if isinstance(answer, dict) else ""


async def request_password_reset(api: Api, email: str) -> str:
    answer: Any = await api.call(
        "POST", f"{AUTH}/users/reset_password", json={"email": email}, signed_in=False
    )
    return str(answer.get("detail", "")) if isinstance(answer, dict) else ""


async def reset_password(api: Api, token: str, new_password: str) -> None:
    await api.call(
        "POST",
        f"{AUTH}/users/reset_password_confirm",
        json={"token": token, "new_password": new_password},
        signed_in=False,
    )

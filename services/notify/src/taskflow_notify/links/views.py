"""The pages TaskFlow's links open (issue 18): until the web client serves them, each link
in an email or a notification lands on a small page that says what it is for and how to
finish with the API. Served by notify, routed by the gateway (docs/http-api.md, "Pages").

Each page is self-contained HTML: no script, no outside file. A token is shown only
inside the page, escaped."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from taskflow_notify.links import service

router = APIRouter(include_in_schema=False)

Token = Annotated[str, Query(min_length=1, max_length=512)]


@router.get("/reset-password", response_class=HTMLResponse)
async def reset_password(token: Token) -> HTMLResponse:
    return service.page(
        "Choose a new password",
        "This link lets you set a new password for your TaskFlow account. It can be used "
        "once, and only until it expires.",
        "To finish, send "
        + service.call(
            "POST",
            "/api/v1/auth/users/reset_password_confirm",
            service.token_json(token, ', "new_password": "<your new password>"'),
        )
        + ". Then sign in with the new password: every session you had is signed out.",
    )


@router.get("/verify-email", response_class=HTMLResponse)
async def verify_email(token: Token) -> HTMLResponse:
    return service.page(
        "Confirm your email address",
        "This link proves that you receive mail at this address: for a new account, or "
        "for a change of your account's address (which takes effect once confirmed).",
        "To finish, send "
        + service.call("POST", "/api/v1/auth/users/verify_email", service.token_json(token))
        + ". No sign-in is needed: the token says whose address it is.",
    )


@router.get("/invitations/accept", response_class=HTMLResponse)
async def accept_invitation(token: Token) -> HTMLResponse:
    return service.page(
        "You are invited to a team",
        "Someone invited this email address to join their team on TaskFlow. Sign in with "
        "(or sign up for) an account whose verified email is the invited address, and "
        "register your participant profile.",
        "To join, send "
        + service.call(
            "POST", "/api/v1/invitations/accept", service.token_json(token), signed_in=True
        )
        + "; to decline, "
        + service.call(
            "POST", "/api/v1/invitations/decline", service.token_json(token), signed_in=True
        )
        + ". Your pending invitations are at "
        + service.call("GET", "/api/v1/invitations", signed_in=True)
        + ".",
    )


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def task(task_id: uuid.UUID) -> HTMLResponse:
    return service.page(
        "A task on TaskFlow",
        f"A notification pointed you at task <code>{task_id}</code>.",
        "Read it with "
        + service.call("GET", f"/api/v1/tasks/{task_id}", signed_in=True)
        + ", its comments with "
        + service.call("GET", f"/api/v1/tasks/{task_id}/comments", signed_in=True)
        + " and its history with "
        + service.call("GET", f"/api/v1/tasks/{task_id}/activity", signed_in=True)
        + " (as a member of its team).",
    )

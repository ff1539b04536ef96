"""Sign up, sign in and out, and the pages the emailed links open (verify an address,
reset a password). Each form re-renders with what was typed and the API's problem beside
the field at fault; a success redirects (303) so a reload never posts twice."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from taskflow_web.accounts import service
from taskflow_web.accounts.schemas import (
    ForgotPasswordForm,
    LoginForm,
    LogoutForm,
    ResetPasswordForm,
    SignUpForm,
)
from taskflow_web.api.adapters import ApiProblem
from taskflow_web.deps import ApiDep, CsrfChecked, PageDep
from taskflow_web.pages import rules
from taskflow_web.pages.service import Form as FormState

router = APIRouter(include_in_schema=False, dependencies=[CsrfChecked])

NextQuery = Annotated[str, Query(max_length=2048)]
TokenQuery = Annotated[str, Query(max_length=512)]

LOGIN_FIELDS = ("username", "password")
SIGNUP_FIELDS = ("username", "email", "password")
# Auth names the login field by what was typed: an email, or a username.
LOGIN_ALIASES = {"email": "username"}


@router.get("/login")
async def login_page(page: PageDep, next: NextQuery = "") -> Response:
    if page.api.session.signed_in:
        return RedirectResponse(rules.safe_next(next), 303)
    return await page.render("login.html", form=FormState.of({"next": next}))


@router.post("/login")
async def login(data: Annotated[LoginForm, Form()], api: ApiDep, page: PageDep) -> Response:
    try:
        await api.sign_in(data.username.strip(), data.password)
    except ApiProblem as problem:
        form = FormState.of(data.model_dump(), hide={"password"}).fail(
            problem, LOGIN_FIELDS, LOGIN_ALIASES
        )
        return await page.render("login.html", status=problem.status, form=form)
    return RedirectResponse(rules.safe_next(data.next), 303)


@router.get("/signup")
async def signup_page(page: PageDep, next: NextQuery = "") -> HTMLResponse:
    return await page.render("signup.html", form=FormState.of({"next": next}))


@router.post("/signup")
async def signup(data: Annotated[SignUpForm, Form()], api: ApiDep, page: PageDep) -> Response:
    try:
        await service.sign_up(api, data.username.strip(), data.email.strip(), data.password)
    except ApiProblem as problem:
        form = FormState.of(data.model_dump(), hide={"password"}).fail(problem, SIGNUP_FIELDS)
        return await page.render("signup.html", status=problem.status, form=form)
    query = {"email": data.email.strip()}
    if data.next:
        query["next"] = rules.safe_next(data.next)
    return RedirectResponse("/signup/check-email?" + urlencode(query), 303)


@router.get("/signup/check-email")
async def check_email(
    page: PageDep, email: Annotated[str, Query(max_length=254)] = "", next: NextQuery = ""
) -> Response:
    login = "/login" + (f"?{urlencode({'next': rules.safe_next(next)})}" if next else "")
    return await page.render("check_email.html", email=email, login=login)


@router.get("/verify-email")
async def verify_email(page: PageDep, api: ApiDep, token: TokenQuery = "") -> Response:
    """The emailed link lands here and proves the address at once (the token is the proof;
    no sign-in needed)."""
    try:
        email = await service.verify_email(api, token)
    except ApiProblem as problem:
        return await page.render("verify_email.html", status=problem.status, problem=problem)
    return await page.render("verify_email.html", email=email, problem=None)


@router.get("/forgot-password")
async def forgot_password_page(page: PageDep) -> HTMLResponse:
    return await page.render("forgot_password.html", form=FormState.of())


@router.post("/forgot-password")
async def forgot_password(
    data: Annotated[ForgotPasswordForm, Form()], api: ApiDep, page: PageDep
) -> Response:
    try:
        detail = await service.request_password_reset(api, data.email.strip())
    except ApiProblem as problem:
        form = FormState.of(data.model_dump()).fail(problem, ("email",))
        return await page.render("forgot_password.html", status=problem.status, form=form)
    await page.flash(detail or "If an account has this email, a reset link is on its way.")
    return RedirectResponse("/login", 303)


@router.get("/reset-password")
async def reset_password_page(page: PageDep, token: TokenQuery = "") -> HTMLResponse:
    return await page.render("reset_password.html", form=FormState.of({"token": token}))


@router.post("/reset-password")
async def reset_password(
    data: Annotated[ResetPasswordForm, Form()], api: ApiDep, page: PageDep
) -> Response:
    try:
        await service.reset_password(api, data.token, data.new_password)
    except ApiProblem as problem:
        form = FormState.of(data.model_dump(), hide={"new_password"}).fail(
            problem, ("new_password",)
        )
        return await page.render("reset_password.html", status=problem.status, form=form)
    await page.flash("Your password is changed. Sign in with the new one.")
    return RedirectResponse("/login", 303)


@router.post("/logout")
async def logout(data: Annotated[LogoutForm, Form()], api: ApiDep) -> Response:
    await api.sign_out()
    return RedirectResponse("/login", 303)

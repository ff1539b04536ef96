"""/profile: the account's details, the participant profile with its phone number, a new
password, signing out everywhere, and the account's deletion."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.api.service import Api
from taskflow_web.deps import ApiDep, CsrfChecked, PageDep, SignedInDep
from taskflow_web.pages.service import Form as FormState
from taskflow_web.pages.service import Page
from taskflow_web.profile import rules, service
from taskflow_web.profile.schemas import (
    DeleteAccountForm,
    PasswordForm,
    ProfileForm,
    ResendForm,
    SignOutEverywhereForm,
)

router = APIRouter(include_in_schema=False, dependencies=[CsrfChecked])

PROFILE_FIELDS = ("display_name", "phone_number", "region")
PASSWORD_FIELDS = ("current_password", "new_password")
PASSWORD_CHANGED = "Your password is changed, and every other session of your account ended."
PASSWORD_CHANGED_SIGN_IN = "Your password is changed. Sign in with the new one."
ACCOUNT_DELETED = "Your account is deleted."
SIGNED_OUT_EVERYWHERE = "Every session of your account is signed out, this one too."


def _values(participant: dict[str, Any] | None) -> dict[str, Any]:
    return {name: (participant or {}).get(name) or "" for name in PROFILE_FIELDS}


async def _profile(
    api: Api,
    page: Page,
    *,
    status: int = 200,
    shown: tuple[dict[str, Any] | None, str] | None = None,
    form: FormState | None = None,
    password_form: FormState | None = None,
    delete_form: FormState | None = None,
) -> Response:
    """The profile page, its forms as given (``shown``: the profile and version read)."""
    participant, version = shown or await service.participant(api)
    return await page.render(
        "profile.html",
        status=status,
        account=await service.account(api),
        participant=participant,
        form=form or FormState.of(_values(participant)),
        version=version,
        password_form=password_form or FormState.of(),
        delete_form=delete_form or FormState.of(),
    )


@router.get("/profile")
async def profile_page(_: SignedInDep, api: ApiDep, page: PageDep) -> Response:
    return await _profile(api, page)


@router.post("/profile")
async def save_profile(
    data: Annotated[ProfileForm, Form()], _: SignedInDep, api: ApiDep, page: PageDep
) -> Response:
    values = data.model_dump(exclude={"csrf_token", "version"})
    # A page that showed a profile changes it, on the version it showed; one that showed
    # none registers one (a second sending of it gets the first one's answer).
    try:
        await service.save_participant(api, bool(data.version), values, data.version)
    except ApiProblem as problem:
        participant, current = await service.participant(api)
        form = FormState.of(values).fail(problem, PROFILE_FIELDS)
        if problem.status == 412:
            # Another tab saved first: its values, and this form as typed, to save again.
            form.detail = rules.changed_elsewhere(_values(participant))
        return await _profile(
            api, page, status=problem.status, shown=(participant, current), form=form
        )
    await page.flash("Your profile is saved.")
    return RedirectResponse("/profile", 303)


@router.post("/profile/resend-verification")
async def resend_verification(
    data: Annotated[ResendForm, Form()], _: SignedInDep, api: ApiDep, page: PageDep
) -> Response:
    await page.flash(
        await service.resend_verification(api) or "A new link is on its way to your address."
    )
    return RedirectResponse("/profile", 303)


@router.post("/profile/password")
async def change_password(
    data: Annotated[PasswordForm, Form()], _: SignedInDep, api: ApiDep, page: PageDep
) -> Response:
    try:
        await service.change_password(
            api, data.current_password, data.new_password, ended=PASSWORD_CHANGED_SIGN_IN
        )
    except ApiProblem as problem:
        password_form = FormState.of().fail(problem, PASSWORD_FIELDS)
        return await _profile(api, page, status=problem.status, password_form=password_form)
    await page.flash(PASSWORD_CHANGED)
    return RedirectResponse("/profile", 303)


@router.post("/profile/sign-out-everywhere")
async def sign_out_everywhere(
    data: Annotated[SignOutEverywhereForm, Form()], _: SignedInDep, api: ApiDep
) -> Response:
    await service.sign_out_everywhere(api, ended=SIGNED_OUT_EVERYWHERE)
    return RedirectResponse("/login", 303)


@router.post("/profile/delete")
async def delete_account(
    data: Annotated[DeleteAccountForm, Form()], _: SignedInDep, api: ApiDep, page: PageDep
) -> Response:
    try:
        await service.delete_account(api, data.password, ended=ACCOUNT_DELETED)
    except ApiProblem as problem:
        delete_form = FormState.of().fail(problem, ("password",), {"current_password": "password"})
        return await _profile(api, page, status=problem.status, delete_form=delete_form)
    return RedirectResponse("/login", 303)

"""Accounts: sign-up, the username, deletion, the password (changed, or reset through an
emailed link) and the email address (verified, or changed, through an emailed link).

Each function that writes stages its events on the unit of work and commits it once, so
a change and its events land together.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from taskflow_chassis.db import rows_matched
from taskflow_chassis.etags import Precondition, lock
from taskflow_chassis.problems import ProblemError, conflict, invalid_field
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import UnitOfWork
from taskflow_contracts import auth as contract

from taskflow_auth.api_tokens.models import ApiToken
from taskflow_auth.api_tokens.service import revoke_all as revoke_all_api_tokens
from taskflow_auth.credentials.rules import check_password_strength
from taskflow_auth.credentials.service import account_held, hold_account, wrong_password
from taskflow_auth.deps import AuthDeps
from taskflow_auth.participants.models import Participant
from taskflow_auth.participants.schemas import ParticipantRead
from taskflow_auth.participants.service import get_participant, participant_event
from taskflow_auth.throttle.service import PerAddressCap
from taskflow_auth.tokens.models import RefreshToken
from taskflow_auth.tokens.service import end_sessions, last_access_expiry, record_revocation
from taskflow_auth.users.models import (
    EmailVerificationToken,
    PasswordResetToken,
    TokenPurpose,
    User,
)
from taskflow_auth.users.rules import normalize_email
from taskflow_auth.users.schemas import UserCreate, UserRead, UserUpdate


def _conflict(detail: str, field: str) -> ProblemError:
    # "unique": the database refused a duplicate without naming the field: the whole body.
    loc: list[str | int] = ["body"] if field == "unique" else ["body", field]
    return conflict("Conflict", detail, type="conflict", field=field, loc=loc)


def _bad_reset_link() -> ProblemError:
    return ProblemError(
        400,
        "Invalid reset token",
        "The reset link is invalid, used or expired.",
        type="invalid-reset-token",
    )


def _bad_email_link() -> ProblemError:
    return ProblemError(
        400,
        "Invalid verification link",
        "The verification link is invalid, used, expired or replaced by a newer one.",
        type="invalid-email-token",
    )


def _email_link_throttled() -> ProblemError:
    return ProblemError(
        429,
        "Too many emails to this address",
        "Several links went to this address in the last hour; try again later.",
        type="email-throttled",
        headers={"Retry-After": "3600"},
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- accounts -----------------------------------------------------------------------------


async def account_of(session: AsyncSession, user: User) -> UserRead:
    """The account as its owner reads it, with its profile and any address on its way."""
    participant = await get_participant(session, user.id)
    return UserRead(
        id=user.id,
        username=user.username,
        email=user.email,
        email_verified=user.email_verified_at is not None,
        pending_email=await pending_email(session, user),
        created_at=user.created_at,
        participant=ParticipantRead.model_validate(participant) if participant else None,
    )


async def find_by_login(session: AsyncSession, login: str) -> User | None:
    """The account a log-in names, by username (any case) or by email."""
    lowered = login.strip().lower()
    return (
        await session.execute(
            select(User).where(or_(col(User.username_key) == lowered, col(User.email) == lowered))
        )
    ).scalar_one_or_none()


async def _ensure_unique(
    session: AsyncSession, *, username: str | None, email: str | None, exclude: uuid.UUID | None
) -> None:
    if username is not None and await _taken(
        session, col(User.username_key) == username.lower(), exclude
    ):
        raise _conflict("This username is taken.", "username")
    if email is not None and await _taken(session, col(User.email) == email, exclude):
        raise _conflict("An account with this email exists.", "email")


async def _taken(
    session: AsyncSession, condition: ColumnElement[bool], exclude: uuid.UUID | None
) -> bool:
    query = select(User.id).where(condition)
    if exclude:
        query = query.where(col(User.id) != exclude)
    return (await session.execute(query)).first() is not None


async def create_user(deps: AuthDeps, uow: UnitOfWork, data: UserCreate) -> User:
    email = normalize_email(data.email)
    check_password_strength(data.password, username=data.username, email=email, field="password")
    # Hashed before the first query: no connection is held while the hash waits for a thread.
    password_hash = await deps.passwords.hash(data.password)
    await _ensure_unique(uow.session, username=data.username, email=email, exclude=None)
    user = User(
        username=data.username,
        username_key=data.username.lower(),
        email=email,
        password_hash=password_hash,
    )
    uow.session.add(user)
    uow.publish(
        contract.UserRegistered(
            user_id=user.id, username=user.username, email=user.email, email_verified=False
        ),
        subject=str(user.id),
    )
    await _send_email_link(deps, uow, user, user.email, TokenPurpose.VERIFY)
    await uow.commit_unique(_conflict("This username or email is taken.", "unique"))
    return user


async def hold_version(session: AsyncSession, user: User, precondition: Precondition) -> None:
    """Lock the account's row, then 412 unless If-Match names the account as it is now."""
    if precondition.tags is None:
        return
    await lock(session, user)
    precondition.check(await account_of(session, user))


async def update_user(
    uow: UnitOfWork, user: User, data: UserUpdate, precondition: Precondition
) -> User:
    """The username; the email changes only through request_email_change and its link."""
    await hold_account(uow.session, user.id)
    await hold_version(uow.session, user, precondition)
    username = data.username
    if not username:
        return user
    await _ensure_unique(uow.session, username=username, email=None, exclude=user.id)
    user.username, user.username_key = username, username.lower()
    user.updated_at = utcnow()
    uow.session.add(user)
    await _announce_update(uow, user)
    await uow.commit_unique(_conflict("This username or email is taken.", "unique"))
    return user


async def _announce_update(uow: UnitOfWork, user: User) -> None:
    """The account's new name or address, and its profile's, which carries both."""
    uow.publish(
        contract.UserUpdated(
            user_id=user.id,
            username=user.username,
            email=user.email,
            email_verified=user.email_verified_at is not None,
        ),
        subject=str(user.id),
    )
    participant = await get_participant(uow.session, user.id)
    if participant:
        uow.publish(participant_event(contract.ParticipantUpdated, user, participant))


async def delete_user(
    deps: AuthDeps, uow: UnitOfWork, user: User, password: str, precondition: Precondition
) -> None:
    await hold_version(uow.session, user, precondition)
    if not await deps.passwords.verify(password, user.password_hash):
        raise wrong_password()
    # Held before its rows go, as every change of them holds it first (no deadlock); of
    # two deletions at once, the second finds nothing to delete (401).
    await hold_account(uow.session, user.id)
    # Its API tokens are refused until each would have expired, by id, at every service.
    await revoke_all_api_tokens(uow, user.id)
    for owned in (Participant, PasswordResetToken, RefreshToken, ApiToken):
        await uow.session.execute(delete(owned).where(col(owned.user_id) == user.id))
    await uow.session.delete(user)
    uow.publish(contract.UserDeleted(user_id=user.id), subject=str(user.id))
    # No min_version: every token of the account dies, whatever its `ver`.
    record_revocation(
        uow,
        scope="user",
        key=str(user.id),
        user_id=user.id,
        expires_at=last_access_expiry(deps.issuer),
    )
    await uow.commit()


# --- passwords ----------------------------------------------------------------------------


async def change_password(
    deps: AuthDeps,
    uow: UnitOfWork,
    user: User,
    current: str,
    new: str,
    address: str | None = None,
) -> None:
    if not await deps.passwords.verify(current, user.password_hash):
        raise wrong_password()
    check_password_strength(new, username=user.username, email=user.email)
    # Hashed before the account is held: no other change of it waits for the hash.
    password_hash = await deps.passwords.hash(new)
    await hold_account(uow.session, user.id)
    await _set_password(deps, uow, user, password_hash, how="changed", address=address)
    await uow.commit()


async def _set_password(
    deps: AuthDeps,
    uow: UnitOfWork,
    user: User,
    password_hash: str,
    *,
    how: str,
    address: str | None,
) -> None:
    """The new password's hash, in the held account, and every session of it ended."""
    await end_every_session(deps, uow, user)
    user.password_hash = password_hash
    user.updated_at = utcnow()
    uow.session.add(user)
    uow.publish(
        contract.PasswordChanged(user_id=user.id, how=how, address=address), subject=str(user.id)
    )


async def end_every_session(deps: AuthDeps, uow: UnitOfWork, user: User) -> None:
    """Every refresh token of the held account, and every access token issued before now,
    die at every service (personal API tokens live on: each is revoked on its own).

    The token version goes one up from the row as it stands, not from ``user``, which was
    read before the hold: two endings at the same instant (a password change and a
    log-out everywhere) each raise it, so neither spares a session the other made room
    for. The version is read back after the write: a transaction sees its own write, where
    a plain read on MariaDB would answer from the snapshot of the transaction's first."""
    await uow.session.execute(
        update(User)
        .where(col(User.id) == user.id)
        .values(token_version=col(User.token_version) + 1)
        .execution_options(synchronize_session=False)
    )
    version = await uow.session.execute(
        select(col(User.token_version)).where(col(User.id) == user.id)
    )
    user.token_version = version.scalar_one()
    await end_sessions(uow, deps.issuer, user.id, token_version=user.token_version)


async def upgrade_password_hash(session: AsyncSession, user: User, rehashed: str) -> None:
    """The hash a log-in just checked, made again at the configured parameters; staged in
    the log-in's unit of work, and only over that same hash, so a password changed in
    the meantime is never put back. Not a change of the account: no event, no new tag."""
    await session.execute(
        update(User)
        .where(col(User.id) == user.id, col(User.password_hash) == user.password_hash)
        .values(password_hash=rehashed)
    )


def _email_cap(deps: AuthDeps, kind: str, per_hour: int) -> PerAddressCap:
    """A per-address hourly cap on emails of one kind, counted where log-ins are."""
    return PerAddressCap(deps.throttle.counter, kind, per_hour)


async def request_password_reset(
    deps: AuthDeps, uow: UnitOfWork, email: str, client_ip: str
) -> None:
    """Make a single-use link for a known email; do nothing visible for an unknown one,
    nor past the hourly cap of the asking address or of the recipient."""
    email = normalize_email(email)
    settings = deps.settings
    per_hour = settings.password_reset_per_address_per_hour
    if not await _email_cap(deps, "reset-from", per_hour).allow(client_ip):
        return
    user = (
        await uow.session.execute(select(User).where(col(User.email) == email))
    ).scalar_one_or_none()
    if user is None or not await _email_cap(deps, "reset-to", per_hour).allow(email):
        return
    if not await account_held(uow.session, user.id):
        return  # deleted meanwhile: as for an unknown email
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(minutes=settings.password_reset_minutes)
    uow.session.add(
        PasswordResetToken(user_id=user.id, token_hash=_token_hash(token), expires_at=expires_at)
    )
    base = settings.public_url.rstrip("/")
    uow.publish(
        contract.PasswordResetRequested(
            user_id=user.id,
            email=user.email,
            reset_url=f"{base}{settings.password_reset_path}?token={token}",
            expires_at=expires_at,
        ),
        subject=str(user.id),
    )
    await uow.commit()


async def confirm_password_reset(
    deps: AuthDeps, uow: UnitOfWork, token: str, new_password: str, address: str | None = None
) -> None:
    row = (
        await uow.session.execute(
            select(PasswordResetToken).where(
                col(PasswordResetToken.token_hash) == _token_hash(token)
            )
        )
    ).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise _bad_reset_link()
    user = await uow.session.get(User, row.user_id)
    if user is None:
        raise _bad_reset_link()
    check_password_strength(new_password, username=user.username, email=user.email)
    password_hash = await deps.passwords.hash(new_password)
    # Held before the link is claimed, in the order a deletion takes them (no deadlock).
    if not await account_held(uow.session, user.id):
        await uow.rollback()
        raise _bad_reset_link()
    # Single use even under a race: only the request that flips used_at goes on.
    claimed = await uow.session.execute(
        update(PasswordResetToken)
        .where(col(PasswordResetToken.id) == row.id, col(PasswordResetToken.used_at).is_(None))
        .values(used_at=utcnow())
    )
    if rows_matched(claimed) != 1:
        await uow.rollback()
        raise _bad_reset_link()
    # Every other outstanding link of this user dies with this one.
    await _retire_reset_links(uow.session, user.id)
    await _set_password(deps, uow, user, password_hash, how="reset", address=address)
    if user.email_verified_at is None:
        # The link reached the account's address: that proves it as well as a
        # verification link would (and recovers an address someone signed up with first).
        user.email_verified_at = utcnow()
        uow.session.add(user)
        await _announce_update(uow, user)
    await uow.commit()


async def _retire_reset_links(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(PasswordResetToken)
        .where(
            col(PasswordResetToken.user_id) == user_id, col(PasswordResetToken.used_at).is_(None)
        )
        .values(used_at=utcnow())
    )


# --- email ownership ----------------------------------------------------------------------


async def _email_links_left(deps: AuthDeps, session: AsyncSession, email: str) -> bool:
    """Whether the hourly cap of links to this address (whoever asked) is not reached."""
    since = utcnow() - timedelta(hours=1)
    sent = (
        await session.execute(
            select(func.count())
            .select_from(EmailVerificationToken)
            .where(
                col(EmailVerificationToken.email) == email,
                col(EmailVerificationToken.created_at) > since,
            )
        )
    ).scalar_one()
    return int(sent) < deps.settings.email_verify_per_address_per_hour


async def _retire_email_links(
    session: AsyncSession, user_id: uuid.UUID, purpose: TokenPurpose | None = None
) -> None:
    query = update(EmailVerificationToken).where(
        col(EmailVerificationToken.user_id) == user_id,
        col(EmailVerificationToken.used_at).is_(None),
    )
    if purpose is not None:
        query = query.where(col(EmailVerificationToken.purpose) == purpose)
    await session.execute(query.values(used_at=utcnow()))


async def _send_email_link(
    deps: AuthDeps, uow: UnitOfWork, user: User, email: str, purpose: TokenPurpose
) -> bool:
    """A single-use link bound to ``email``, published for notify to send; False when the
    address had its hourly share of links already."""
    if not await _email_links_left(deps, uow.session, email):
        return False
    settings = deps.settings
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(minutes=settings.email_verify_minutes)
    uow.session.add(
        EmailVerificationToken(
            user_id=user.id,
            email=email,
            purpose=purpose,
            token_hash=_token_hash(token),
            expires_at=expires_at,
        )
    )
    url = f"{settings.public_url.rstrip('/')}{settings.email_verify_path}?token={token}"
    payload: contract.EmailVerificationRequested | contract.EmailChangeRequested
    if purpose == TokenPurpose.VERIFY:
        payload = contract.EmailVerificationRequested(
            user_id=user.id, email=email, verify_url=url, expires_at=expires_at
        )
    else:
        payload = contract.EmailChangeRequested(
            user_id=user.id,
            old_email=user.email,
            new_email=email,
            confirm_url=url,
            expires_at=expires_at,
        )
    uow.publish(payload, subject=str(user.id))
    return True


async def resend_verification(deps: AuthDeps, uow: UnitOfWork, user: User) -> None:
    """A fresh link to the account's address, unless it is verified or had its share."""
    if user.email_verified_at is not None:
        return
    await hold_account(uow.session, user.id)
    await _retire_email_links(uow.session, user.id, TokenPurpose.VERIFY)
    if await _send_email_link(deps, uow, user, user.email, TokenPurpose.VERIFY):
        await uow.commit()
    else:
        await uow.rollback()


async def request_email_change(
    deps: AuthDeps, uow: UnitOfWork, user: User, new_email: str, password: str
) -> None:
    """Needs the password; the link goes to the new address, a notice to the old one, and
    nothing changes until the link is followed."""
    if not await deps.passwords.verify(password, user.password_hash):
        raise wrong_password()
    email = normalize_email(new_email)
    if email == user.email:
        raise invalid_field(
            "new_email", "Same email", "This is already your address.", type="same-email"
        )
    # Per account too, not only per recipient: one account must not mail strangers at will.
    per_hour = deps.settings.email_verify_per_address_per_hour
    if not await _email_cap(deps, "change-by", per_hour).allow(str(user.id)):
        raise _email_link_throttled()
    await hold_account(uow.session, user.id)
    await _ensure_unique(uow.session, username=None, email=email, exclude=user.id)
    # Only the latest request stays open.
    await _retire_email_links(uow.session, user.id, TokenPurpose.CHANGE)
    if not await _send_email_link(deps, uow, user, email, TokenPurpose.CHANGE):
        await uow.rollback()
        raise _email_link_throttled()
    await uow.commit()


async def pending_email(session: AsyncSession, user: User) -> str | None:
    """The address of the open change request, if any."""
    return (
        await session.execute(
            select(EmailVerificationToken.email)
            .where(
                col(EmailVerificationToken.user_id) == user.id,
                col(EmailVerificationToken.purpose) == TokenPurpose.CHANGE,
                col(EmailVerificationToken.used_at).is_(None),
                col(EmailVerificationToken.expires_at) > utcnow(),
            )
            .order_by(col(EmailVerificationToken.created_at).desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def verify_email(uow: UnitOfWork, token: str) -> User:
    """Follow a link: the address it was sent to is verified, and for a change request it
    becomes the account's address (if still free)."""
    link, user = await _open_email_link(uow.session, token)
    changing = link.purpose == TokenPurpose.CHANGE
    if changing:
        await _ensure_unique(uow.session, username=None, email=link.email, exclude=user.id)
    # Single use even under a race: only the request that flips used_at goes on.
    claimed = await uow.session.execute(
        update(EmailVerificationToken)
        .where(
            col(EmailVerificationToken.id) == link.id,
            col(EmailVerificationToken.used_at).is_(None),
        )
        .values(used_at=utcnow())
    )
    if rows_matched(claimed) != 1:
        await uow.rollback()
        raise _bad_email_link()
    if changing:
        uow.publish(
            contract.EmailChanged(user_id=user.id, old_email=user.email, new_email=link.email),
            subject=str(user.id),
        )
        user.email = link.email
        # Every other link (and every reset link, which went to the old address) dies.
        await _retire_email_links(uow.session, user.id)
        await _retire_reset_links(uow.session, user.id)
    elif user.email_verified_at is not None:
        await uow.commit()
        return user
    user.email_verified_at = user.updated_at = utcnow()
    uow.session.add(user)
    await _announce_update(uow, user)
    await uow.commit_unique(_conflict("An account with this email exists.", "unique"))
    return user


async def _open_email_link(
    session: AsyncSession, token: str
) -> tuple[EmailVerificationToken, User]:
    """The unused, unexpired link and its account; 400 for anything else."""
    link = (
        await session.execute(
            select(EmailVerificationToken).where(
                col(EmailVerificationToken.token_hash) == _token_hash(token)
            )
        )
    ).scalar_one_or_none()
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        raise _bad_email_link()
    # The account first, as its deletion holds it before its links go; gone, so is the link.
    if not await account_held(session, link.user_id):
        raise _bad_email_link()
    user = await session.get(User, link.user_id)
    # A sign-up link is bound to the address it verifies: after a change it is worthless.
    if user is None or (link.purpose == TokenPurpose.VERIFY and link.email != user.email):
        raise _bad_email_link()
    return link, user


async def delete_expired_links(session: AsyncSession, now: datetime) -> None:
    await session.execute(
        delete(PasswordResetToken).where(col(PasswordResetToken.expires_at) < now)
    )
    await session.execute(
        delete(EmailVerificationToken).where(col(EmailVerificationToken.expires_at) < now)
    )

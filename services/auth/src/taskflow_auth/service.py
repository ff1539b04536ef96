"""Auth domain logic: accounts, token pairs and their families, resets, participants.

Views call these functions; each one that changes state writes its events to the
outbox and commits once, so a state change and its events land together.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import phonenumbers
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.problems import ProblemError, invalid_field
from taskflow_chassis.security import InvalidToken, JwtVerifier, TokenClaims
from taskflow_contracts import auth as contract

from taskflow_auth import events, revocations
from taskflow_auth.config import AuthSettings
from taskflow_auth.keys import KeyStore
from taskflow_auth.models import (
    EmailVerificationToken,
    Participant,
    PasswordResetToken,
    RefreshToken,
    RevokedAccessToken,
    TokenPurpose,
    TokenRevocation,
    User,
    utcnow,
)
from taskflow_auth.schemas import (
    LoginRequest,
    ParticipantCreate,
    ParticipantUpdate,
    TokenPair,
    UserCreate,
    UserUpdate,
)
from taskflow_auth.throttle import LoginThrottle, LoginThrottled, PerAddressCap
from taskflow_auth.tokens import TokenIssuer

COMMON_PASSWORDS = frozenset(
    {
        "password", "password1", "password123", "12345678", "123456789", "1234567890",
        "qwertyui", "qwerty123", "iloveyou", "11111111", "00000000", "abcdefgh",
        "abc12345", "letmein1", "welcome1", "admin123", "passw0rd", "sunshine",
        "football", "baseball", "trustno1", "superman", "princess", "starwars",
    }
)  # fmt: skip


@dataclass
class AuthContext:
    """The auth service's own adapters, built once by app.py."""

    settings: AuthSettings
    keys: KeyStore
    issuer: TokenIssuer
    verifier: JwtVerifier
    hasher: PasswordHash
    throttle: LoginThrottle
    # Argon2 runs here, never on the event loop; few threads, since each hash holds
    # its memory cost and a core while it runs.
    hashing: ThreadPoolExecutor
    # Verified against when the user is unknown, so both failures cost the same time.
    dummy_hash: str = ""

    @classmethod
    def password_hasher(cls, settings: AuthSettings) -> PasswordHash:
        return PasswordHash(
            (
                Argon2Hasher(
                    time_cost=settings.password_hash_time_cost,
                    memory_cost=settings.password_hash_memory_kib,
                    parallelism=settings.password_hash_parallelism,
                ),
            )
        )


class Unauthorized(ProblemError):
    def __init__(self, detail: str = "Wrong username or password.") -> None:
        super().__init__(
            401,
            "Authentication failed",
            detail,
            type="authentication-failed",
            headers={"WWW-Authenticate": "Bearer"},
        )


def conflict(detail: str, field: str) -> ProblemError:
    return ProblemError(409, "Conflict", detail, type="conflict", field=field)


def weak_password(detail: str, field: str) -> ProblemError:
    return invalid_field(field, "Weak password", detail, type="weak-password")


def check_password_strength(
    password: str, *, username: str, email: str, field: str = "new_password"
) -> None:
    lowered = password.lower()
    if len(password) < 8:
        raise weak_password("Use at least 8 characters.", field)
    if lowered in COMMON_PASSWORDS or len(set(password)) < 4:
        raise weak_password("This password is too common or too simple.", field)
    if username.lower() in lowered or email.split("@")[0].lower() == lowered:
        raise weak_password("The password must not contain the username or email.", field)


async def hash_password(ctx: AuthContext, password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(ctx.hashing, ctx.hasher.hash, password)


async def verify_password(ctx: AuthContext, password: str, password_hash: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(
        ctx.hashing, ctx.hasher.verify, password, password_hash
    )


# --- accounts -----------------------------------------------------------------------------


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_participant(session: AsyncSession, user_id: uuid.UUID) -> Participant | None:
    return await session.get(Participant, user_id)


async def _ensure_unique(
    session: AsyncSession, *, username: str | None, email: str | None, exclude: uuid.UUID | None
) -> None:
    if username is not None:
        query = select(User.id).where(User.username_key == username.lower())
        if exclude:
            query = query.where(User.id != exclude)
        if (await session.execute(query)).first():
            raise conflict("This username is taken.", "username")
    if email is not None:
        query = select(User.id).where(User.email == email)
        if exclude:
            query = query.where(User.id != exclude)
        if (await session.execute(query)).first():
            raise conflict("An account with this email exists.", "email")


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def create_user(ctx: AuthContext, session: AsyncSession, data: UserCreate) -> User:
    email = normalize_email(data.email)
    check_password_strength(data.password, username=data.username, email=email, field="password")
    await _ensure_unique(session, username=data.username, email=email, exclude=None)
    user = User(
        username=data.username,
        username_key=data.username.lower(),
        email=email,
        password_hash=await hash_password(ctx, data.password),
    )
    session.add(user)
    await events.publish(
        session,
        contract.UserRegistered(
            user_id=user.id, username=user.username, email=user.email, email_verified=False
        ),
        subject=str(user.id),
    )
    await _send_email_link(ctx, session, user, user.email, TokenPurpose.VERIFY)
    await _commit_unique(session, "This username or email is taken.")
    return user


async def _commit_unique(session: AsyncSession, detail: str) -> None:
    """Commit; a unique index that a concurrent request won answers 409, not 500."""
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise conflict(detail, "unique") from exc


async def update_user(session: AsyncSession, user: User, data: UserUpdate) -> User:
    """The username; the email changes only through request_email_change and its link."""
    username = data.username
    if not username:
        return user
    await _ensure_unique(session, username=username, email=None, exclude=user.id)
    user.username, user.username_key = username, username.lower()
    user.updated_at = utcnow()
    session.add(user)
    await _publish_user_updated(session, user)
    await _commit_unique(session, "This username or email is taken.")
    return user


async def _publish_user_updated(session: AsyncSession, user: User) -> None:
    await events.publish(
        session,
        contract.UserUpdated(
            user_id=user.id,
            username=user.username,
            email=user.email,
            email_verified=user.email_verified_at is not None,
        ),
        subject=str(user.id),
    )
    participant = await get_participant(session, user.id)
    if participant:
        await events.publish(
            session, _participant_event(contract.ParticipantUpdated, user, participant)
        )


async def delete_user(ctx: AuthContext, session: AsyncSession, user: User, password: str) -> None:
    if not await verify_password(ctx, password, user.password_hash):
        raise ProblemError(
            403, "Wrong password", "The current password is wrong.", type="wrong-password"
        )
    for table in (Participant, PasswordResetToken, RefreshToken):
        await session.execute(delete(table).where(table.user_id == user.id))  # type: ignore[arg-type]
    await session.delete(user)
    await events.publish(session, contract.UserDeleted(user_id=user.id), subject=str(user.id))
    await revocations.record(
        session,
        scope="user",
        key=str(user.id),
        user_id=user.id,
        expires_at=_last_access_expiry(ctx),
    )
    await session.commit()


async def change_password(
    ctx: AuthContext, session: AsyncSession, user: User, current: str, new: str, claims: TokenClaims
) -> None:
    if not await verify_password(ctx, current, user.password_hash):
        raise ProblemError(
            403, "Wrong password", "The current password is wrong.", type="wrong-password"
        )
    check_password_strength(new, username=user.username, email=user.email)
    await _set_password(ctx, session, user, new)
    await session.commit()


async def _set_password(ctx: AuthContext, session: AsyncSession, user: User, new: str) -> None:
    """New hash; every refresh token and every access token issued before now die."""
    now = utcnow()
    user.password_hash = await hash_password(ctx, new)
    user.token_version += 1
    user.updated_at = now
    session.add(user)
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))  # type: ignore[union-attr]
        .values(revoked_at=now)
    )
    await revocations.record(
        session,
        scope="user",
        key=str(user.id),
        user_id=user.id,
        min_version=user.token_version,
        expires_at=_last_access_expiry(ctx),
    )


# --- tokens -------------------------------------------------------------------------------


async def login(
    ctx: AuthContext, session: AsyncSession, data: LoginRequest, client_ip: str
) -> TokenPair:
    lowered = data.login.strip().lower()
    user = (
        await session.execute(
            select(User).where(or_(User.username_key == lowered, User.email == lowered))
        )
    ).scalar_one_or_none()
    # One counter per account, whether it is named by username or by email.
    account = f"user:{user.id}" if user else f"name:{lowered}"
    try:
        attempt = await ctx.throttle.begin(account, client_ip)
    except LoginThrottled as throttled:
        raise ProblemError(
            429,
            "Too many login attempts",
            f"Try again in {throttled.retry_after} seconds.",
            type="login-throttled",
            headers={"Retry-After": str(throttled.retry_after)},
        ) from None
    password_ok = await verify_password(
        ctx, data.password, user.password_hash if user else ctx.dummy_hash
    )
    if user is None or not password_ok:
        await ctx.throttle.failed(attempt)
        raise Unauthorized()
    await ctx.throttle.succeeded(attempt)
    pair = _issue_pair(ctx, session, user, family_id=uuid.uuid4())
    await session.commit()
    return pair


def _issue_pair(
    ctx: AuthContext, session: AsyncSession, user: User, *, family_id: uuid.UUID
) -> TokenPair:
    # `fam`: a revoked family's access tokens die with it, at every service.
    access = ctx.issuer.access_token(
        user.id, extra={"ver": user.token_version, "fam": str(family_id)}
    )
    refresh = ctx.issuer.refresh_token(user.id, family_id=family_id)
    session.add(
        RefreshToken(
            jti=refresh.jti, family_id=family_id, user_id=user.id, expires_at=refresh.expires_at
        )
    )
    return TokenPair(
        access=access.token,
        refresh=refresh.token,
        expires_in=int(ctx.settings.access_token_minutes * 60),
    )


async def _verified(ctx: AuthContext, token: str, expected_type: str) -> TokenClaims:
    try:
        return await ctx.verifier.verify(token, expected_type=expected_type)
    except InvalidToken as exc:
        raise Unauthorized("The token is invalid or expired.") from exc


async def refresh(ctx: AuthContext, session: AsyncSession, token: str) -> TokenPair:
    claims = await _verified(ctx, token, "refresh")
    # The use itself is one guarded UPDATE, so of copies arriving together exactly one
    # flips used_at (the row lock makes the others wait, then match nothing); reading
    # first and writing after would let two pass the read.
    claimed = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.jti == claims.jti,  # type: ignore[arg-type]
            RefreshToken.used_at.is_(None),  # type: ignore[union-attr]
            RefreshToken.revoked_at.is_(None),  # type: ignore[union-attr]
        )
        .values(used_at=utcnow())
    )
    row = (
        await session.execute(
            select(
                RefreshToken.family_id,
                RefreshToken.user_id,
                RefreshToken.used_at,
                RefreshToken.revoked_at,
            ).where(RefreshToken.jti == claims.jti)  # type: ignore[arg-type]
        )
    ).first()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        if row is not None and row.used_at is not None and row.revoked_at is None:
            # A used token came back (a copy, or a loser of the race): end its session.
            await _revoke_family(ctx, session, row.family_id)
            await session.commit()
            raise Unauthorized("The refresh token was already used; its session has been revoked.")
        raise Unauthorized("The refresh token is invalid or revoked.")
    user = await session.get(User, row.user_id) if row is not None else None
    if user is None:
        raise Unauthorized("The refresh token is invalid or revoked.")
    # A token issued while its session was being ended (log-out, password change, reset,
    # reuse) escapes that revoking UPDATE, which saw only the rows committed before it; but
    # its family then holds a revoked token, so the family is ended here instead.
    ended = (
        await session.execute(
            select(RefreshToken.jti)
            .where(
                RefreshToken.family_id == row.family_id,  # type: ignore[arg-type]
                RefreshToken.revoked_at.is_not(None),  # type: ignore[union-attr]
            )
            .limit(1)
        )
    ).first()
    if ended is not None:
        await _revoke_family(ctx, session, row.family_id)
        await session.commit()
        raise Unauthorized("The refresh token is invalid or revoked.")
    pair = _issue_pair(ctx, session, user, family_id=row.family_id)
    await session.commit()
    return pair


async def _revoke_family(ctx: AuthContext, session: AsyncSession, family_id: uuid.UUID) -> None:
    """Its refresh tokens here; its access tokens (``fam``) at every service."""
    user_id = (
        await session.execute(
            select(RefreshToken.user_id).where(RefreshToken.family_id == family_id).limit(1)  # type: ignore[arg-type]
        )
    ).scalar_one_or_none()
    revoked = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(revoked_at=utcnow())
    )
    if user_id is not None and revoked.rowcount:  # type: ignore[attr-defined]
        await revocations.record(
            session,
            scope="family",
            key=str(family_id),
            user_id=user_id,
            expires_at=_last_access_expiry(ctx),
        )


def _last_access_expiry(ctx: AuthContext) -> datetime:
    """When every access token issued until now has expired: a revocation matters until then."""
    return utcnow() + timedelta(minutes=ctx.settings.access_token_minutes)


async def revoke(
    ctx: AuthContext,
    session: AsyncSession,
    user_id: uuid.UUID,
    refresh_token: str,
    access: TokenClaims,
) -> None:
    """Log out: the refresh token's family and the access token in use both die."""
    try:
        claims = await ctx.verifier.verify(refresh_token, expected_type="refresh")
    except InvalidToken:
        claims = None
    if claims is not None and claims.user_id == user_id:
        row = await session.get(RefreshToken, claims.jti)
        if row is not None:
            await _revoke_family(ctx, session, row.family_id)
    await revoke_access_token(session, access)
    await session.commit()


async def revoke_access_token(session: AsyncSession, claims: TokenClaims) -> None:
    if await session.get(RevokedAccessToken, claims.jti) is None:
        expires_at = datetime.fromtimestamp(claims.exp, UTC)
        session.add(RevokedAccessToken(jti=claims.jti, expires_at=expires_at))
        await revocations.record(
            session, scope="token", key=claims.jti, user_id=claims.user_id, expires_at=expires_at
        )


async def check_not_revoked(session: AsyncSession, claims: TokenClaims) -> None:
    """InvalidToken for a revoked jti or family, a deleted user, or a token from before a
    password change."""
    if await session.get(RevokedAccessToken, claims.jti) is not None:
        raise InvalidToken("token revoked")
    family = claims.raw.get("fam")
    if family is not None and await revocations.family_revoked(session, str(family)):
        raise InvalidToken("token's session revoked")
    version = (
        await session.execute(select(User.token_version).where(User.id == claims.user_id))  # type: ignore[call-overload]
    ).scalar_one_or_none()
    if version is None:
        raise InvalidToken("user no longer exists")
    if claims.raw.get("ver") != version:
        raise InvalidToken("token issued before the last password change")


async def purge_expired(session: AsyncSession) -> None:
    now = utcnow()
    await session.execute(delete(RevokedAccessToken).where(RevokedAccessToken.expires_at < now))  # type: ignore[arg-type]
    await session.execute(delete(TokenRevocation).where(TokenRevocation.expires_at < now))  # type: ignore[arg-type]
    await session.execute(delete(RefreshToken).where(RefreshToken.expires_at < now))  # type: ignore[arg-type]
    await session.execute(delete(PasswordResetToken).where(PasswordResetToken.expires_at < now))  # type: ignore[arg-type]
    await session.execute(
        delete(EmailVerificationToken).where(EmailVerificationToken.expires_at < now)  # type: ignore[arg-type]
    )
    await session.commit()


# --- password reset -----------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def email_cap(ctx: AuthContext, kind: str, per_hour: int) -> PerAddressCap:
    """A per-address hourly cap on emails of one kind, counted where log-ins are."""
    return PerAddressCap(ctx.throttle.counter, kind, per_hour)


async def request_password_reset(
    ctx: AuthContext, session: AsyncSession, email: str, client_ip: str
) -> None:
    """Make a single-use link for a known email; do nothing visible for an unknown one,
    nor past the hourly cap of the asking address or of the recipient."""
    email = normalize_email(email)
    per_hour = ctx.settings.password_reset_per_address_per_hour
    if not await email_cap(ctx, "reset-from", per_hour).allow(client_ip):
        return
    user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
    if user is None or not await email_cap(ctx, "reset-to", per_hour).allow(email):
        return
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(minutes=ctx.settings.password_reset_minutes)
    session.add(
        PasswordResetToken(user_id=user.id, token_hash=_token_hash(token), expires_at=expires_at)
    )
    base = ctx.settings.public_url.rstrip("/")
    await events.publish(
        session,
        contract.PasswordResetRequested(
            user_id=user.id,
            email=user.email,
            reset_url=f"{base}{ctx.settings.password_reset_path}?token={token}",
            expires_at=expires_at,
        ),
        subject=str(user.id),
    )
    await session.commit()


async def confirm_password_reset(
    ctx: AuthContext, session: AsyncSession, token: str, new_password: str
) -> None:
    bad = ProblemError(
        400,
        "Invalid reset token",
        "The reset link is invalid, used or expired.",
        type="invalid-reset-token",
    )
    row = (
        await session.execute(
            select(PasswordResetToken).where(PasswordResetToken.token_hash == _token_hash(token))
        )
    ).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise bad
    user = await session.get(User, row.user_id)
    if user is None:
        raise bad
    check_password_strength(new_password, username=user.username, email=user.email)
    # Single use even under a race: only the request that flips used_at goes on.
    claimed = await session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == row.id, PasswordResetToken.used_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(used_at=utcnow())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise bad
    # Every other outstanding link of this user dies with this one.
    await session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(used_at=utcnow())
    )
    await _set_password(ctx, session, user, new_password)
    if user.email_verified_at is None:
        # The link reached the account's address: that proves it as well as a
        # verification link would (and recovers an address someone signed up with first).
        user.email_verified_at = utcnow()
        session.add(user)
        await _publish_user_updated(session, user)
    await session.commit()


# --- email ownership ----------------------------------------------------------------------


class EmailLinkThrottled(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            429,
            "Too many emails to this address",
            "Several links went to this address in the last hour; try again later.",
            type="email-throttled",
            headers={"Retry-After": "3600"},
        )


def _bad_email_link() -> ProblemError:
    return ProblemError(
        400,
        "Invalid verification link",
        "The verification link is invalid, used, expired or replaced by a newer one.",
        type="invalid-email-token",
    )


async def _email_links_left(ctx: AuthContext, session: AsyncSession, email: str) -> bool:
    """Whether the hourly cap of links to this address (whoever asked) is not reached."""
    since = utcnow() - timedelta(hours=1)
    sent = (
        await session.execute(
            select(func.count())
            .select_from(EmailVerificationToken)
            .where(EmailVerificationToken.email == email, EmailVerificationToken.created_at > since)  # type: ignore[arg-type,operator]
        )
    ).scalar_one()
    return int(sent) < ctx.settings.email_verify_per_address_per_hour


async def _retire_email_links(
    session: AsyncSession, user_id: uuid.UUID, purpose: TokenPurpose | None = None
) -> None:
    query = update(EmailVerificationToken).where(
        EmailVerificationToken.user_id == user_id,  # type: ignore[arg-type]
        EmailVerificationToken.used_at.is_(None),  # type: ignore[union-attr]
    )
    if purpose is not None:
        query = query.where(EmailVerificationToken.purpose == purpose)  # type: ignore[arg-type]
    await session.execute(query.values(used_at=utcnow()))


async def _send_email_link(
    ctx: AuthContext, session: AsyncSession, user: User, email: str, purpose: TokenPurpose
) -> bool:
    """A single-use link bound to ``email``, published for notify to send; False when the
    address had its hourly share of links already."""
    if not await _email_links_left(ctx, session, email):
        return False
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(minutes=ctx.settings.email_verify_minutes)
    session.add(
        EmailVerificationToken(
            user_id=user.id,
            email=email,
            purpose=purpose,
            token_hash=_token_hash(token),
            expires_at=expires_at,
        )
    )
    url = f"{ctx.settings.public_url.rstrip('/')}{ctx.settings.email_verify_path}?token={token}"
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
    await events.publish(session, payload, subject=str(user.id))
    return True


async def resend_verification(ctx: AuthContext, session: AsyncSession, user: User) -> None:
    """A fresh link to the account's address, unless it is verified or had its share."""
    if user.email_verified_at is not None:
        return
    await _retire_email_links(session, user.id, TokenPurpose.VERIFY)
    if await _send_email_link(ctx, session, user, user.email, TokenPurpose.VERIFY):
        await session.commit()
    else:
        await session.rollback()


async def request_email_change(
    ctx: AuthContext, session: AsyncSession, user: User, new_email: str, password: str
) -> None:
    """Needs the password; the link goes to the new address, a notice to the old one, and
    nothing changes until the link is followed."""
    if not await verify_password(ctx, password, user.password_hash):
        raise ProblemError(
            403, "Wrong password", "The current password is wrong.", type="wrong-password"
        )
    email = normalize_email(new_email)
    if email == user.email:
        raise invalid_field(
            "new_email", "Same email", "This is already your address.", type="same-email"
        )
    # Per account too, not only per recipient: one account must not mail strangers at will.
    per_hour = ctx.settings.email_verify_per_address_per_hour
    if not await email_cap(ctx, "change-by", per_hour).allow(str(user.id)):
        raise EmailLinkThrottled()
    await _ensure_unique(session, username=None, email=email, exclude=user.id)
    # Only the latest request stays open.
    await _retire_email_links(session, user.id, TokenPurpose.CHANGE)
    if not await _send_email_link(ctx, session, user, email, TokenPurpose.CHANGE):
        await session.rollback()
        raise EmailLinkThrottled()
    await session.commit()


async def pending_email(session: AsyncSession, user: User) -> str | None:
    """The address of the open change request, if any."""
    return (
        await session.execute(
            select(EmailVerificationToken.email)  # type: ignore[call-overload]
            .where(
                EmailVerificationToken.user_id == user.id,
                EmailVerificationToken.purpose == TokenPurpose.CHANGE,
                EmailVerificationToken.used_at.is_(None),  # type: ignore[union-attr]
                EmailVerificationToken.expires_at > utcnow(),
            )
            .order_by(EmailVerificationToken.created_at.desc())  # type: ignore[attr-defined]
            .limit(1)
        )
    ).scalar_one_or_none()


async def verify_email(session: AsyncSession, token: str) -> User:
    """Follow a link: the address it was sent to is verified, and for a change request it
    becomes the account's address (if still free)."""
    row = (
        await session.execute(
            select(EmailVerificationToken).where(
                EmailVerificationToken.token_hash == _token_hash(token)  # type: ignore[arg-type]
            )
        )
    ).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise _bad_email_link()
    user = await session.get(User, row.user_id)
    # A sign-up link is bound to the address it verifies: after a change it is worthless.
    if user is None or (row.purpose == TokenPurpose.VERIFY and row.email != user.email):
        raise _bad_email_link()
    if row.purpose == TokenPurpose.CHANGE:
        await _ensure_unique(session, username=None, email=row.email, exclude=user.id)
    # Single use even under a race: only the request that flips used_at goes on.
    claimed = await session.execute(
        update(EmailVerificationToken)
        .where(EmailVerificationToken.id == row.id, EmailVerificationToken.used_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(used_at=utcnow())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise _bad_email_link()
    now = utcnow()
    if row.purpose == TokenPurpose.CHANGE:
        user.email = row.email
        # Every other link (and every reset link, which went to the old address) dies.
        await _retire_email_links(session, user.id)
        await session.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))  # type: ignore[arg-type,union-attr]
            .values(used_at=now)
        )
    elif user.email_verified_at is not None:
        await session.commit()
        return user
    user.email_verified_at = now
    user.updated_at = now
    session.add(user)
    await _publish_user_updated(session, user)
    await _commit_unique(session, "An account with this email exists.")
    return user


# --- participants -------------------------------------------------------------------------


def _phone_problem(detail: str) -> ProblemError:
    return invalid_field(
        "phone_number", "Invalid phone number", detail, type="invalid-phone-number"
    )


def parse_phone_number(raw: str, region: str | None) -> str:
    """The number in E.164, or a 422 naming ``phone_number``."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        hint = (
            ""
            if region or raw.startswith("+")
            else " Give it in international form (+...) or pass region."
        )
        raise _phone_problem(f"Not a phone number: {exc._msg}.{hint}") from exc
    if not phonenumbers.is_valid_number(number):
        raise _phone_problem("This phone number is not valid.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


async def _ensure_phone_free(session: AsyncSession, phone: str, user_id: uuid.UUID) -> None:
    taken = await session.execute(
        select(Participant.user_id).where(
            Participant.phone_number == phone, Participant.user_id != user_id
        )
    )
    if taken.first():
        raise conflict("This phone number is registered to another participant.", "phone_number")


def _participant_event(
    kind: type[contract.ParticipantRegistered] | type[contract.ParticipantUpdated],
    user: User,
    participant: Participant,
) -> contract.ParticipantRegistered | contract.ParticipantUpdated:
    return kind(
        user_id=user.id,
        username=user.username,
        email=user.email,
        display_name=participant.display_name,
        phone_number=participant.phone_number,
    )


async def register_participant(
    session: AsyncSession, user: User, data: ParticipantCreate
) -> Participant:
    phone = parse_phone_number(data.phone_number, data.region)
    if await get_participant(session, user.id) is not None:
        raise conflict("You are already registered as a participant.", "user_id")
    await _ensure_phone_free(session, phone, user.id)
    participant = Participant(
        user_id=user.id, display_name=data.display_name, phone_number=phone, region=data.region
    )
    session.add(participant)
    await events.publish(
        session,
        _participant_event(contract.ParticipantRegistered, user, participant),
        subject=str(user.id),
    )
    await _commit_unique(session, "Already registered, or this phone number is taken.")
    return participant


async def update_participant(
    session: AsyncSession, user: User, participant: Participant, data: ParticipantUpdate
) -> Participant:
    changes = data.model_dump(exclude_unset=True)
    if "phone_number" in changes or "region" in changes:
        if changes.get("phone_number") is None and "phone_number" in changes:
            raise _phone_problem("The phone number cannot be removed.")
        region = changes.get("region", participant.region)
        phone = parse_phone_number(changes.get("phone_number") or participant.phone_number, region)
        await _ensure_phone_free(session, phone, user.id)
        participant.phone_number, participant.region = phone, region
    if "display_name" in changes:
        participant.display_name = changes["display_name"]
    participant.updated_at = utcnow()
    session.add(participant)
    await events.publish(
        session,
        _participant_event(contract.ParticipantUpdated, user, participant),
        subject=str(user.id),
    )
    await _commit_unique(session, "This phone number is taken.")
    return participant

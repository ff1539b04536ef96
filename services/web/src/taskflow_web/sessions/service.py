"""Sessions kept in web's own database: signed in with a new id, refreshed under a lock,
ended. An anonymous session (for the CSRF token of the login and sign-up forms) is kept
nowhere until it holds a message for the next page: a visit without a cookie writes no row.

Every write runs in a unit of work of its own: a page's session changes are committed
whatever the page does next (a redirect, an error from the API)."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from taskflow_chassis.db import Database
from taskflow_chassis.revocation import RevocationList
from taskflow_chassis.security import InvalidToken, held_token_claims
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

from taskflow_web.sessions import rules
from taskflow_web.sessions.adapters import TokenCipher
from taskflow_web.sessions.models import FLASH_LENGTH, WebSession

SESSION_ENDED = "Your session has ended. Please sign in again."


@dataclass(frozen=True)
class Tokens:
    """An access and refresh token pair as auth answers it."""

    access: str
    refresh: str
    expires_in: int


@dataclass(frozen=True)
class Session:
    """A loaded session, tokens decrypted; ``raw_id`` is set only where the cookie must be
    (re)written (a new or rotated session)."""

    id_hash: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    user_id: uuid.UUID | None = None
    username: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    access_expires_at: datetime | None = None
    flash: str | None = None
    raw_id: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None and self.access_token is not None


class SessionStore:
    def __init__(
        self,
        database: Database,
        publisher: Publisher,
        cipher: TokenCipher,
        *,
        idle: timedelta,
        longest: timedelta,
        clock: Callable[[], datetime],
        revocations: RevocationList,
    ) -> None:
        self.database, self.publisher, self.cipher = database, publisher, cipher
        self.idle, self.longest, self.clock = idle, longest, clock
        # Auth's revocations as every service keeps them (taskflow_chassis.revocation).
        self.revocations = revocations
        # One lock per session being refreshed, gone when no request holds it: two pages of
        # one browser never both spend the same (rotating) refresh token.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def _unit(self) -> AsyncIterator[UnitOfWork]:
        async with self.database.session() as session:
            yield UnitOfWork(session, self.publisher)

    def _session(self, row: WebSession, raw_id: str | None = None) -> Session:
        def token(stored: str | None) -> str | None:
            return self.cipher.decrypt(stored) if stored else None

        access, refresh = token(row.access_token), token(row.refresh_token)
        signed_in = access is not None and refresh is not None
        return Session(
            id_hash=row.id_hash,
            csrf_token=row.csrf_token,
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_seen_at=row.last_seen_at,
            user_id=row.user_id if signed_in else None,
            username=row.username if signed_in else None,
            access_token=access if signed_in else None,
            refresh_token=refresh if signed_in else None,
            access_expires_at=row.access_expires_at if signed_in else None,
            flash=row.flash,
            raw_id=raw_id,
        )

    def _new_row(self, *, flash: str | None = None) -> tuple[str, WebSession]:
        now = self.clock()
        raw_id = rules.new_secret()
        row = WebSession(
            id_hash=rules.hash_session_id(raw_id),
            csrf_token=rules.new_secret(),
            flash=flash,
            created_at=now,
            last_seen_at=now,
            expires_at=rules.expiry(now, now, self.idle, self.longest),
        )
        return raw_id, row

    def _set_tokens(self, row: WebSession, tokens: Tokens) -> None:
        row.access_token = self.cipher.encrypt(tokens.access)
        row.refresh_token = self.cipher.encrypt(tokens.refresh)
        row.access_expires_at = self.clock() + timedelta(seconds=tokens.expires_in)

    def _anonymous(self, raw_id: str, *, new: bool) -> Session:
        """The anonymous session a cookie's id names, kept nowhere: its CSRF token is
        derived from the id under web's key (only web can compute it, the same on every
        replica), so a bot fetching the sign-in page in a loop fills no table."""
        now = self.clock()
        return Session(
            id_hash=rules.hash_session_id(raw_id),
            csrf_token=self.cipher.mac("anonymous-csrf", raw_id),
            created_at=now,
            expires_at=rules.expiry(now, now, self.idle, self.longest),
            last_seen_at=now,
            raw_id=raw_id if new else None,
        )

    async def create(self) -> Session:
        """A new anonymous session (its id goes into the cookie; no row yet)."""
        return self._anonymous(rules.new_secret(), new=True)

    async def load(self, raw_id: str) -> Session | None:
        """The session a cookie names, or None (a forged or garbled id, or an expired
        session: then deleted). A well-formed id without a row is an anonymous session. A
        session in use is kept alive: its idle end moves (at most once a minute). A session
        whose access token auth revoked comes signed out, with a message for the sign-in
        page: a page may be served from answers kept per person without asking the API."""
        if not rules.well_formed_id(raw_id):
            return None
        id_hash = rules.hash_session_id(raw_id)
        now = self.clock()
        async with self._unit() as uow:
            row = await uow.session.get(WebSession, id_hash)
            if row is None:
                return self._anonymous(raw_id, new=False)
            if row.expires_at <= now:
                await uow.session.delete(row)
                await uow.commit()
                return None
            if rules.needs_touch(now, row.last_seen_at):
                row.last_seen_at = now
                row.expires_at = rules.expiry(now, row.created_at, self.idle, self.longest)
                await uow.commit()
            session = self._session(row)
        if self._revoked(session):
            return await self.sign_out(session)
        return session

    def _revoked(self, session: Session) -> bool:
        """Whether auth revoked the session's access token (a log-out, a password change
        or reset, a deleted account, a reused refresh token), by the list every service
        checks, in memory. Until auth's list is loaded, only the revocations heard since
        web started count, as at every service: an access token lives minutes, and once
        it runs out its refresh asks auth."""
        if session.access_token is None:
            return False
        try:
            claims = held_token_claims(session.access_token)
        except InvalidToken:
            return False  # not auth's token: the API refuses it, then its refresh is asked
        return self.revocations.is_revoked(claims)

    async def sign_in(
        self, previous: Session | None, user_id: uuid.UUID, username: str, tokens: Tokens
    ) -> Session:
        """The signed-in session under a NEW id (an id planted before sign-in is worth
        nothing after it); the previous row goes."""
        raw_id, row = self._new_row()
        row.user_id, row.username = user_id, username
        self._set_tokens(row, tokens)
        async with self._unit() as uow:
            if previous is not None:
                await uow.session.execute(
                    delete(WebSession).where(WebSession.id_hash == previous.id_hash)  # type: ignore[arg-type]
                )
            uow.session.add(row)
            await uow.commit()
        return self._session(row, raw_id)

    async def end(self, session: Session) -> None:
        async with self._unit() as uow:
            await uow.session.execute(
                delete(WebSession).where(WebSession.id_hash == session.id_hash)  # type: ignore[arg-type]
            )
            await uow.commit()

    async def set_flash(self, session: Session, message: str | None) -> None:
        """The message for the next page; an anonymous session kept nowhere becomes a row
        (with the CSRF token it already has) to hold it."""
        if message is not None:
            message = rules.shortened(message, FLASH_LENGTH)
        change = (
            update(WebSession)
            .where(WebSession.id_hash == session.id_hash)  # type: ignore[arg-type]
            .values(flash=message)
        )
        async with self._unit() as uow:
            changed = await uow.session.execute(change)
            if getattr(changed, "rowcount", 0) or message is None:
                await uow.commit()
                return
            now = self.clock()
            uow.session.add(
                WebSession(
                    id_hash=session.id_hash,
                    csrf_token=session.csrf_token,
                    flash=message,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=rules.expiry(now, now, self.idle, self.longest),
                )
            )
            try:
                await uow.commit()
            except IntegrityError:  # the same browser's other request made the row first
                await uow.rollback()
                await uow.session.execute(change)
                await uow.commit()

    async def refresh(
        self,
        session: Session,
        exchange: Callable[[str], Awaitable[Tokens | None]],
    ) -> Session | None:
        """New tokens for ``session``: ``exchange`` trades the refresh token for a new pair
        (None: refused, the session is signed out with a message). Under the session's lock
        and row lock: a request that waited finds the pair another one stored, and uses it
        instead of spending the used refresh token again (auth would end the family)."""
        lock = self._locks.get(session.id_hash)
        if lock is None:
            lock = self._locks.setdefault(session.id_hash, asyncio.Lock())
        async with lock, self._unit() as uow:
            row = (
                await uow.session.execute(
                    select(WebSession)
                    .where(WebSession.id_hash == session.id_hash)  # type: ignore[arg-type]
                    .with_for_update()
                )
            ).scalar_one_or_none()
            current = self._session(row) if row is not None else None
            if row is None or current is None or not current.signed_in:
                return None
            if current.refresh_token != session.refresh_token:
                return current
            assert current.refresh_token is not None
            tokens = await exchange(current.refresh_token)
            if tokens is None:
                self._sign_out_row(row, SESSION_ENDED)
                await uow.commit()
                return None
            self._set_tokens(row, tokens)
            await uow.commit()
            return self._session(row)

    @staticmethod
    def _sign_out_row(row: WebSession, flash: str | None) -> None:
        row.user_id = row.username = row.access_token = row.refresh_token = None
        row.access_expires_at = None
        row.flash = flash

    async def sign_out(self, session: Session, flash: str | None = SESSION_ENDED) -> Session:
        """The session made anonymous, with a message for the sign-in page (the API refused
        its tokens)."""
        async with self._unit() as uow:
            row = await uow.session.get(WebSession, session.id_hash)
            if row is not None:
                self._sign_out_row(row, flash)
                await uow.commit()
        return replace(
            session,
            user_id=None,
            username=None,
            access_token=None,
            refresh_token=None,
            access_expires_at=None,
            flash=flash,
        )

    async def purge_expired(self) -> int:
        async with self._unit() as uow:
            result = await uow.session.execute(
                delete(WebSession).where(WebSession.expires_at <= self.clock())  # type: ignore[arg-type]
            )
            await uow.commit()
        return int(getattr(result, "rowcount", 0) or 0)

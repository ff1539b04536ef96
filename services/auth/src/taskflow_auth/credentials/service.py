"""Passwords: Argon2id hashing on threads of its own, a bounded wait for them, and the
problems a failed proof answers; and the account's row, held by the changes that refer
to it (401 once it is gone)."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Uuid, column, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.db import dialect_of_session, rows_matched
from taskflow_chassis.problems import ProblemError

from taskflow_auth.config import AuthSettings

T = TypeVar("T")


def password_hasher(settings: AuthSettings) -> PasswordHash:
    """Argon2id at the configured parameters; pwdlib's ``verify_and_update`` answers a new
    hash for one made with any others."""
    return PasswordHash(
        (
            Argon2Hasher(
                time_cost=settings.password_hash_time_cost,
                memory_cost=settings.password_hash_memory_kib,
                parallelism=settings.password_hash_parallelism,
            ),
        )
    )


class PasswordsBusy(ProblemError):
    """Every password thread stayed taken for longer than the wait limit: 503, with the
    limit as Retry-After, rather than one more request piling up."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            503,
            "Too busy",
            f"Too many passwords are being checked right now; try again in {retry_after} s.",
            type="passwords-busy",
            headers={"Retry-After": str(retry_after)},
        )


class Passwords:
    """Hashes and checks passwords on a few threads of their own, never on the event loop
    (Argon2 lets go of the GIL while it works). Each hash holds a core and its memory
    cost, so at most ``threads`` run at once; the others wait their turn without blocking
    the loop, every other route goes on, and one that waits past ``wait_seconds`` answers
    503 (PasswordsBusy)."""

    def __init__(
        self, hasher: PasswordHash, threads: int, wait_seconds: float, dummy_hash: str
    ) -> None:
        self._hasher = hasher
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="argon2")
        self._turns = asyncio.Semaphore(threads)
        self._wait_seconds = wait_seconds
        self._dummy_hash = dummy_hash
        self._waiting = 0

    @classmethod
    async def start(cls, settings: AuthSettings) -> Passwords:
        hasher = password_hasher(settings)
        dummy_hash = await asyncio.to_thread(hasher.hash, "not-a-real-password")
        return cls(
            hasher, settings.password_hash_threads, settings.password_hash_wait_seconds, dummy_hash
        )

    @property
    def waiting(self) -> int:
        """Hashes and checks waiting for a thread right now."""
        return self._waiting

    async def _take_turn(self) -> None:
        self._waiting += 1
        try:
            async with asyncio.timeout(self._wait_seconds):
                await self._turns.acquire()
        except TimeoutError:
            raise PasswordsBusy(math.ceil(self._wait_seconds)) from None
        finally:
            self._waiting -= 1

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """One thread's turn, held for the block (what every hash and check waits for)."""
        await self._take_turn()
        try:
            yield
        finally:
            self._turns.release()

    async def _run(self, work: Callable[..., T], *args: str) -> T:
        await self._take_turn()
        job = asyncio.get_running_loop().run_in_executor(self._threads, work, *args)
        # Given back when the thread is done, even if the request was cancelled first.
        job.add_done_callback(lambda _: self._turns.release())
        return await asyncio.shield(job)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password: str, password_hash: str) -> bool:
        """Whether ``password`` matches the signed-in account's ``password_hash``."""
        return await self._run(self._hasher.verify, password, password_hash)

    async def verify_and_update(
        self, password: str, password_hash: str | None
    ) -> tuple[bool, str | None]:
        """Whether ``password`` matches ``password_hash``, and when it does and the hash was
        made with other parameters, a new one made with the configured ones (in the same
        turn). Without a hash (no such account) a dummy hash is checked all the same, on
        the same threads after the same wait, so both failures take the same time."""
        matches, updated = await self._run(
            self._hasher.verify_and_update, password, password_hash or self._dummy_hash
        )
        if password_hash is None:
            return False, None
        return matches, updated

    def close(self) -> None:
        self._threads.shutdown(wait=False)


def authentication_failed(detail: str = "Wrong username or password.") -> ProblemError:
    return ProblemError(
        401,
        "Authentication failed",
        detail,
        type="authentication-failed",
        headers={"WWW-Authenticate": "Bearer"},
    )


def wrong_password() -> ProblemError:
    """The signed-in account's current password, asked again before a sensitive change."""
    return ProblemError(
        403, "Wrong password", "The current password is wrong.", type="wrong-password"
    )


# --- the account's row: held by every change that refers to it -------------------------
# A change of an account's sessions, tokens, links or profile first holds the account's
# row, so that it and the account's deletion (which holds it too) queue one behind the
# other, in the same order everywhere (no deadlock), and the one that comes second sees
# what the first left: a change after the deletion finds no account and writes nothing.


def account_gone() -> ProblemError:
    return authentication_failed("The account no longer exists.")


async def account_held(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Lock the account's row until the unit of work ends; False when it is gone.

    ``SELECT ... FOR UPDATE`` on PostgreSQL and MariaDB (no new row version on each
    log-in and refresh). SQLite ignores that clause: there a write that changes nothing
    takes the database's one write lock, and tells whether it matched the row.
    """
    # The accounts' table by name (users/ imports credentials/, not the other way round).
    users = table("users", column("id", Uuid()))
    if dialect_of_session(session) == "sqlite":
        held = await session.execute(
            update(users).where(users.c.id == user_id).values(id=users.c.id)
        )
        return rows_matched(held) == 1
    found = await session.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())
    return found.first() is not None


async def hold_account(session: AsyncSession, user_id: uuid.UUID) -> None:
    """``account_held``, answering 401 as for any request of a deleted account."""
    if not await account_held(session, user_id):
        raise account_gone()

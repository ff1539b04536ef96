"""Passwords: Argon2id hashing off the event loop, and the problems a failed proof answers."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from taskflow_chassis.problems import ProblemError

from taskflow_auth.config import AuthSettings


class Passwords:
    """Hashes and checks passwords on a few threads of their own: each hash holds its
    memory cost and a core while it runs, so few run at once, never on the event loop."""

    def __init__(self, hasher: PasswordHash, threads: int, dummy_hash: str) -> None:
        self._hasher = hasher
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="argon2")
        self._dummy_hash = dummy_hash

    @classmethod
    async def start(cls, settings: AuthSettings) -> Passwords:
        hasher = PasswordHash(
            (
                Argon2Hasher(
                    time_cost=settings.password_hash_time_cost,
                    memory_cost=settings.password_hash_memory_kib,
                    parallelism=settings.password_hash_parallelism,
                ),
            )
        )
        dummy_hash = await asyncio.to_thread(hasher.hash, "not-a-real-password")
        return cls(hasher, settings.password_hash_threads, dummy_hash)

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, self._hasher.hash, password
        )

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Whether ``password`` matches ``password_hash``. Without one (no such account) a
        dummy hash is checked all the same, so both failures take the same time."""
        matches = await asyncio.get_running_loop().run_in_executor(
            self._threads, self._hasher.verify, password, password_hash or self._dummy_hash
        )
        return matches and password_hash is not None

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

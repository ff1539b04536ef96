"""Password hashing: Argon2id at OWASP's parameters, older hashes made again at the next
log-in, and hashing on threads of its own behind a bounded wait, so that a burst of
log-ins queues while the other routes of the same process go on."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlmodel import col, select, update
from taskflow_auth.config import AuthSettings
from taskflow_auth.credentials.service import Passwords
from taskflow_auth.users.models import User
from taskflow_auth.users.service import upgrade_password_hash
from taskflow_chassis.testing import check_problem

PASSWORD = "correct-horse-battery"
LOGIN = "/api/v1/auth/jwt/create"
ME = "/api/v1/auth/users/me"
OWASP = (19_456, 2, 1)  # m (KiB), t, p
# What auth made before: pwdlib's defaults (64 MiB, three passes, four lanes).
OLD_HASHER = PasswordHash((Argon2Hasher(time_cost=3, memory_cost=65_536, parallelism=4),))


def parameters(encoded: str) -> tuple[int, int, int]:
    """(m, t, p) of an encoded Argon2id hash."""
    match = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[^$]+\$[^$]+", encoded)
    assert match, encoded
    m, t, p = (int(group) for group in match.groups())
    return m, t, p


async def stored_hash(app: FastAPI, username: str = "alice") -> str:
    async with app.state.database.session() as session:
        query = select(User.password_hash).where(col(User.username_key) == username)
        return str((await session.execute(query)).scalar_one())


async def store_hash(app: FastAPI, password_hash: str, username: str = "alice") -> None:
    async with app.state.database.session() as session:
        await session.execute(
            update(User)
            .where(col(User.username_key) == username)
            .values(password_hash=password_hash)
        )
        await session.commit()


def passwords_of(app: FastAPI) -> Passwords:
    passwords: Passwords = app.state.auth_deps.passwords
    return passwords


@pytest.fixture
def setting_changes() -> dict[str, Any]:
    """Changes to the test settings; a test parametrizes it to have others."""
    return {}


@pytest.fixture
def settings(settings: AuthSettings, setting_changes: dict[str, Any]) -> AuthSettings:
    return settings.model_copy(update=setting_changes)


def test_the_defaults_are_owasps(tmp_path: Path) -> None:
    settings = AuthSettings(data_dir=tmp_path)
    assert (
        settings.password_hash_memory_kib,
        settings.password_hash_time_cost,
        settings.password_hash_parallelism,
    ) == OWASP
    assert settings.password_hash_threads >= 1
    assert settings.password_hash_wait_seconds == 5


async def test_new_hashes_carry_owasps_parameters(
    client: httpx.AsyncClient, api: Any, app: FastAPI
) -> None:
    headers = await api.signed_in()
    signed_up = await stored_hash(app)
    assert parameters(signed_up) == OWASP
    changed = await client.post(
        "/api/v1/auth/users/set_password",
        json={"current_password": PASSWORD, "new_password": "another-horse-staple"},
        headers=headers,
    )
    assert changed.status_code == 204, changed.text
    new = await stored_hash(app)
    assert new != signed_up and parameters(new) == OWASP


async def test_an_older_hash_is_made_again_at_the_next_log_in(
    client: httpx.AsyncClient, api: Any, app: FastAPI
) -> None:
    await api.sign_up()
    old = OLD_HASHER.hash(PASSWORD)
    await store_hash(app, old)

    wrong = await client.post(LOGIN, json={"username": "alice", "password": "not-the-password"})
    assert wrong.status_code == 401
    assert await stored_hash(app) == old  # a wrong password changes nothing

    await api.log_in()
    upgraded = await stored_hash(app)
    assert upgraded != old and parameters(upgraded) == OWASP
    assert OLD_HASHER.verify(PASSWORD, upgraded)  # the same password, in the new hash

    await api.log_in()  # a hash at the current parameters stays as it is
    assert await stored_hash(app) == upgraded


async def test_an_upgrade_never_puts_back_a_password_changed_meanwhile(
    api: Any, app: FastAPI
) -> None:
    await api.sign_up()
    async with app.state.database.session() as session:
        user = (await session.execute(select(User))).scalar_one()
        session.expunge(user)
    checked = user.password_hash
    await store_hash(app, "changed-meanwhile")
    async with app.state.database.session() as session:
        await upgrade_password_hash(session, user, OLD_HASHER.hash(PASSWORD))
        await session.commit()
    assert checked != "changed-meanwhile"
    assert await stored_hash(app) == "changed-meanwhile"


@pytest.mark.parametrize(
    "setting_changes",
    [
        {
            "password_hash_threads": 1,
            "password_hash_time_cost": 10,  # each hash long enough for a queue to stand
            "password_hash_wait_seconds": 300,
            "login_failures_per_account_address": 1000,
            "login_failures_per_address": 1000,
        }
    ],
    ids=["one-thread"],
)
async def test_other_routes_are_served_while_log_ins_queue(
    client: httpx.AsyncClient, api: Any, app: FastAPI
) -> None:
    """Twenty log-ins at once on one password thread. While every one of them waits for
    it (the test holds it), and again once they hash one after the other, the signed-in
    account's own page answers: queued log-ins hold neither the event loop nor a
    database connection. Unknown names queue like the others (their dummy check goes
    the same way, so a failure takes as long either way)."""
    headers = await api.signed_in()
    passwords = passwords_of(app)
    names = ["alice" if i % 2 else f"ghost{i}" for i in range(20)]
    async with passwords.turn():
        log_ins = [
            asyncio.create_task(client.post(LOGIN, json={"username": name, "password": PASSWORD}))
            for name in names
        ]
        async with asyncio.timeout(60):
            while passwords.waiting < len(names):  # noqa: ASYNC110 - the queue has no event
                await asyncio.sleep(0.01)
            me = await client.get(ME, headers=headers)
        assert me.status_code == 200, me.text
        assert not any(task.done() for task in log_ins)

    me = await client.get(ME, headers=headers)  # the thread now works through the queue
    assert me.status_code == 200, me.text
    assert passwords.waiting > 0
    statuses = [response.status_code for response in await asyncio.gather(*log_ins)]
    assert statuses == [200 if name == "alice" else 401 for name in names]


@pytest.mark.parametrize(
    "setting_changes",
    [{"password_hash_threads": 1, "password_hash_wait_seconds": 0.2}],
    ids=["one-thread-short-wait"],
)
async def test_past_the_wait_limit_a_log_in_answers_503(
    client: httpx.AsyncClient, api: Any, app: FastAPI
) -> None:
    """The only thread stays taken: log-ins (known name or not) and sign-ups give up after
    the wait limit with a 503 and Retry-After, and such attempts count for nobody's
    throttling."""
    await api.sign_up()
    passwords = passwords_of(app)
    async with passwords.turn():
        answers = [
            await client.post(LOGIN, json={"username": name, "password": PASSWORD})
            for name in ["alice"] * 6 + ["nobody"]
        ]
        answers.append(
            await client.post(
                "/api/v1/auth/users",
                json={"username": "bob", "email": "bob@example.com", "password": PASSWORD},
            )
        )
    for answer in answers:
        assert check_problem(answer, 503)["type"].endswith("passwords-busy")
        assert answer.headers["Retry-After"] == "1"
    assert passwords.waiting == 0
    # Six busy attempts, one more than the account's five from this address: given back.
    await api.log_in()

"""Sessions in web's own database (SQLite and PostgreSQL): created, loaded, expired,
rotated at sign-in, ended, signed out once auth revoked their tokens; tokens encrypted at
rest; one refresh per session at a time."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from taskflow_chassis.db import Database
from taskflow_chassis.migrations import upgrade_to_head
from taskflow_chassis.revocation import RevocationList
from taskflow_chassis.serve import migrations_dir
from taskflow_chassis.testing import fresh_database
from taskflow_chassis.unit_of_work import Publisher
from taskflow_web import app as web_app
from taskflow_web.sessions import rules
from taskflow_web.sessions.adapters import TokenCipher
from taskflow_web.sessions.models import WebSession
from taskflow_web.sessions.service import SESSION_ENDED, SessionStore, Tokens

PAIR = Tokens("access-1", "refresh-1", 900)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database(request.param, tmp_path, "taskflow_web_test") as url:
        made = Database(url)
        await upgrade_to_head(made, migrations_dir(web_app.__file__), "alembic_version_web")
        yield made
        await made.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database: Database, clock: Clock, tmp_path: Path) -> SessionStore:
    cipher = TokenCipher.load_or_create(data_dir=tmp_path / "web")
    return SessionStore(
        database,
        Publisher("web"),
        cipher,
        idle=timedelta(hours=1),
        longest=timedelta(days=1),
        clock=clock,
        revocations=RevocationList(),
    )


async def test_create_and_load(store: SessionStore) -> None:
    created = await store.create()
    assert created.raw_id and not created.signed_in
    assert created.id_hash == rules.hash_session_id(created.raw_id)
    loaded = await store.load(created.raw_id)
    assert loaded is not None and loaded.csrf_token == created.csrf_token
    assert loaded.raw_id is None  # nothing to write back into the cookie
    assert await store.load("an-id-nobody-was-given") is None  # not one web makes
    async with store.database.session() as session:
        assert await session.get(WebSession, created.id_hash) is None  # kept nowhere yet
    await store.set_flash(created, "An email is on its way.")
    kept = await store.load(created.raw_id)
    assert kept is not None and kept.flash == "An email is on its way."
    assert kept.csrf_token == created.csrf_token  # the open form still posts


async def test_a_session_expires_when_idle_and_at_its_longest(
    store: SessionStore, clock: Clock
) -> None:
    idle = await store.sign_in(None, uuid.uuid4(), "ada", PAIR)
    assert idle.raw_id
    clock.now += timedelta(minutes=59)
    assert await store.load(idle.raw_id) is not None  # seen: its idle end moves
    clock.now += timedelta(minutes=59)
    assert await store.load(idle.raw_id) is not None
    clock.now += timedelta(hours=1, minutes=1)
    assert await store.load(idle.raw_id) is None
    async with store.database.session() as session:
        assert await session.get(WebSession, idle.id_hash) is None  # and gone

    busy = await store.sign_in(None, uuid.uuid4(), "ada", PAIR)
    assert busy.raw_id
    for _ in range(24):  # in use all day, still ended a day after it began
        clock.now += timedelta(minutes=59)
        assert await store.load(busy.raw_id) is not None
    clock.now += timedelta(minutes=59)
    assert await store.load(busy.raw_id) is None


async def test_sign_in_rotates_the_id_and_encrypts_the_tokens(store: SessionStore) -> None:
    anonymous = await store.create()
    assert anonymous.raw_id
    user = uuid.uuid4()
    signed = await store.sign_in(anonymous, user, "ada", PAIR)
    assert signed.raw_id and signed.raw_id != anonymous.raw_id
    assert signed.csrf_token != anonymous.csrf_token
    planted = await store.load(anonymous.raw_id)  # the planted id is worth nothing
    assert planted is not None and not planted.signed_in
    assert planted.csrf_token != signed.csrf_token
    loaded = await store.load(signed.raw_id)
    assert loaded is not None and loaded.signed_in and loaded.user_id == user
    assert loaded.access_token == "access-1" and loaded.refresh_token == "refresh-1"
    async with store.database.session() as session:
        row = await session.get(WebSession, signed.id_hash)
        assert row is not None and row.access_token and row.refresh_token
        assert "access-1" not in row.access_token and "refresh-1" not in row.refresh_token


async def test_tokens_under_another_key_are_signed_out(store: SessionStore, tmp_path: Path) -> None:
    signed = await store.sign_in(None, uuid.uuid4(), "ada", PAIR)
    assert signed.raw_id
    store.cipher = TokenCipher.load_or_create(data_dir=tmp_path / "other")
    loaded = await store.load(signed.raw_id)
    assert loaded is not None and not loaded.signed_in


async def test_sign_out_and_end(store: SessionStore) -> None:
    signed = await store.sign_in(None, uuid.uuid4(), "ada", PAIR)
    assert signed.raw_id
    out = await store.sign_out(signed)
    assert not out.signed_in and out.flash == SESSION_ENDED
    loaded = await store.load(signed.raw_id)
    assert loaded is not None and not loaded.signed_in and loaded.flash == SESSION_ENDED
    await store.end(signed)
    ended = await store.load(signed.raw_id)
    assert ended is not None and not ended.signed_in and ended.flash is None


def _access_token(user_id: uuid.UUID, *, version: int, family: str) -> str:
    """An access token as auth issues one (its ``ver`` and ``fam``); web never checks its
    signature, so any key signs it here."""
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "jti": uuid.uuid4().hex,
        "type": "access",
        "iat": now,
        "exp": now + 900,
        "iss": "taskflow-auth",
        "aud": "taskflow",
        "ver": version,
        "fam": family,
    }
    return jwt.encode(claims, "a-key-of-this-test-and-nothing-else", algorithm="HS256")


async def test_a_session_whose_tokens_auth_revoked_loads_signed_out(store: SessionStore) -> None:
    """README: "a password change or reset revokes the user's tokens". Pages kept per
    person may ask the API nothing, so loading the session checks its access token
    against the revocations every service keeps: a log-out (the token, its family), a
    password change or reset (the tokens below the new version), a deleted account (all)."""
    user = uuid.uuid4()

    async def signed_in(version: int, family: str) -> tuple[str, str]:
        access = _access_token(user, version=version, family=family)
        signed = await store.sign_in(None, user, "ada", Tokens(access, "refresh", 900))
        assert signed.raw_id
        return signed.raw_id, jwt.decode(access, options={"verify_signature": False})["jti"]

    def revoked(scope: str, key: str, min_version: int | None = None) -> None:
        until = time.time() + 900
        store.revocations.add(
            {"scope": scope, "key": key, "min_version": min_version, "expires_at": until}
        )

    logged_out, jti = await signed_in(1, "family-1")
    family_ended, _ = await signed_in(1, "family-2")
    before_the_change, _ = await signed_in(1, "family-3")
    after_the_change, _ = await signed_in(2, "family-4")
    revoked("token", jti)
    revoked("family", "family-2")
    revoked("user", str(user), min_version=2)
    for raw_id in (logged_out, family_ended, before_the_change):
        loaded = await store.load(raw_id)
        assert loaded is not None and not loaded.signed_in and loaded.flash == SESSION_ENDED
        again = await store.load(raw_id)  # signed out in the database, not just this once
        assert again is not None and not again.signed_in and again.access_token is None
    kept = await store.load(after_the_change)
    assert kept is not None and kept.signed_in
    revoked("user", str(user))  # the account deleted
    deleted = await store.load(after_the_change)
    assert deleted is not None and not deleted.signed_in


async def test_one_refresh_at_a_time(store: SessionStore) -> None:
    """Two pages of one browser find the access token expiring at once: the refresh token
    (which auth rotates) is spent once, and both pages get the new pair."""
    signed = await store.sign_in(None, uuid.uuid4(), "ada", PAIR)
    spent: list[str] = []

    async def exchange(refresh: str) -> Tokens:
        spent.append(refresh)
        await asyncio.sleep(0.05)
        return Tokens(f"access-{len(spent) + 1}", f"refresh-{len(spent) + 1}", 900)

    first, second = await asyncio.gather(
        store.refresh(signed, exchange), store.refresh(signed, exchange)
    )
    assert spent == ["refresh-1"]
    assert first is not None and second is not None
    assert first.refresh_token == second.refresh_token == "refresh-2"


async def test_a_refused_refresh_signs_out(store: SessionStore) -> None:
    signed = await store.sign_in(None, uuid.uuid4(), "ada", PAIR)
    assert signed.raw_id

    async def refused(_: str) -> None:
        return None

    assert await store.refresh(signed, refused) is None
    loaded = await store.load(signed.raw_id)
    assert loaded is not None and not loaded.signed_in and loaded.flash == SESSION_ENDED


def test_rules() -> None:
    allowed = frozenset({"https://taskflow.example"})
    assert rules.same_origin("https://taskflow.example", None, "web:8000", allowed)
    assert rules.same_origin("http://web:8000", None, "web:8000", allowed)
    assert not rules.same_origin("https://evil.example", None, "web:8000", allowed)
    assert not rules.same_origin("null", None, "web:8000", allowed)
    # A form posted without scripts under Referrer-Policy no-referrer: Origin null.
    assert rules.same_origin("null", "same-origin", "web:8000", allowed)
    assert not rules.same_origin("null", "cross-site", "web:8000", allowed)
    assert rules.same_origin(None, "same-origin", "web:8000", allowed)
    assert not rules.same_origin(None, "same-site", "web:8000", allowed)
    assert rules.same_origin(None, None, "web:8000", allowed)  # judged by the token alone
    assert rules.csrf_matches("abc", "abc") and not rules.csrf_matches("abc", "abd")
    assert not rules.csrf_matches("abc", None) and not rules.csrf_matches("abc", "")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert rules.needs_refresh(now, now + timedelta(seconds=30), 30)
    assert not rules.needs_refresh(now, now + timedelta(seconds=31), 30)
    assert not rules.needs_refresh(now, None, 30)


def test_the_development_key_is_made_once_and_kept(tmp_path: Path) -> None:
    first = TokenCipher.load_or_create(data_dir=tmp_path)
    second = TokenCipher.load_or_create(data_dir=tmp_path)
    assert second.decrypt(first.encrypt("token")) == "token"
    key = tmp_path / "keys" / "token-key"
    assert key.stat().st_mode & 0o777 == 0o600
    configured: Callable[[], TokenCipher] = lambda: TokenCipher.load_or_create(  # noqa: E731
        data_dir=tmp_path / "none", require_configured=True
    )
    with pytest.raises(SystemExit):
        configured()
    with pytest.raises(SystemExit):
        TokenCipher.load_or_create(data_dir=tmp_path, key="change-me")


async def test_expired_sessions_are_purged(store: SessionStore, clock: Clock) -> None:
    old = await store.sign_in(None, uuid.uuid4(), "ada", PAIR)
    clock.now += timedelta(minutes=30)
    kept = await store.sign_in(None, uuid.uuid4(), "bob", PAIR)
    clock.now += timedelta(minutes=31)
    assert await store.purge_expired() == 1
    async with store.database.session() as session:
        assert await session.get(WebSession, old.id_hash) is None
        assert await session.get(WebSession, kept.id_hash) is not None


async def test_a_long_message_is_kept_shortened(store: SessionStore) -> None:
    """A message naming what people typed (a 200-character title and the API's reason)
    can outrun the column (500): PostgreSQL refused it and the page failed."""
    signed = await store.sign_in(None, uuid.uuid4(), "ada", PAIR)
    assert signed.raw_id
    await store.set_flash(signed, "“" + "t" * 200 + "” was not moved. " + "r" * 400)
    anonymous = await store.create()
    await store.set_flash(anonymous, "m" * 600)
    for raw_id in (signed.raw_id, anonymous.raw_id):
        assert raw_id
        loaded = await store.load(raw_id)
        assert loaded is not None and loaded.flash is not None
        assert len(loaded.flash) == 500 and loaded.flash.endswith("…")

"""The live stream (GET /api/v1/notifications/stream): each user's events as they are
written, resumable with Last-Event-ID, for the caller alone, on SQLite and PostgreSQL.

httpx's ASGI transport reads an answer whole, so ``Listener`` drives the app as a server
would: the request, then the answer's chunks as they come, then the client's going away.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import uuid
import warnings
from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from taskflow_chassis.events import new_event
from taskflow_chassis.revocation import TOKENS_REVOKED
from taskflow_chassis.testing import get_scope, statements_sent
from taskflow_contracts import auth, work
from taskflow_notify.live import service as live_service
from taskflow_notify.live.rules import HEARTBEAT, frame, parse_cursor
from taskflow_notify.live.service import Stream

WAIT = 10.0


class Listener:
    """One client of the stream: ``event()`` answers the next event (comments and the retry
    hint skipped) as {"id", "event", "data"}; leaving the block disconnects."""

    def __init__(self, app: FastAPI, token: str, last_event_id: str | None = None) -> None:
        headers = [(b"authorization", f"Bearer {token}".encode())]
        if last_event_id is not None:
            headers.append((b"last-event-id", last_event_id.encode()))
        self.scope = get_scope("/api/v1/notifications/stream", headers)
        self.app = app
        self.sent: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()
        self.asked = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.text = ""
        self.ended = False
        self.comments = 0
        self.task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        if not self.asked:
            self.asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: MutableMapping[str, Any]) -> None:
        await self.sent.put(message)

    async def __aenter__(self) -> Listener:
        self.task = asyncio.create_task(self.app(self.scope, self._receive, self._send))
        start = await asyncio.wait_for(self.sent.get(), WAIT)
        assert start["type"] == "http.response.start"
        self.status = start["status"]
        self.headers = {k.decode(): v.decode() for k, v in start["headers"]}
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.gone.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, WAIT)

    async def _more(self, seconds: float) -> bool:
        """The next chunk into ``text``; False once the answer ended."""
        if self.ended:
            return False
        message = await asyncio.wait_for(self.sent.get(), seconds)
        self.text += message.get("body", b"").decode()
        self.ended = not message.get("more_body", False)
        return True

    async def body(self) -> str:
        while await self._more(WAIT):
            pass
        return self.text

    async def event(self, within: float = WAIT) -> dict[str, Any]:
        """The next event within ``within`` seconds (heartbeats do not count as one)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            while "\n\n" not in self.text:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise TimeoutError
                if not await self._more(left):
                    raise EOFError("the stream ended")
            block, self.text = self.text.split("\n\n", 1)
            fields: dict[str, str] = {}
            for line in block.split("\n"):
                if line.startswith(":"):
                    self.comments += 1
                    continue
                name, _, value = line.partition(": ")
                fields[name] = value
            if "event" in fields:
                return {
                    "id": fields.get("id"),
                    "event": fields["event"],
                    "data": json.loads(fields["data"]),
                }

    async def quiet(self, seconds: float = 0.6) -> list[dict[str, Any]]:
        """The events that arrive within ``seconds`` (none, where nothing should)."""
        found: list[dict[str, Any]] = []
        try:
            while True:
                found.append(await self.event(seconds))
        except TimeoutError:
            return found


@pytest.fixture
async def live(world: Any) -> Any:
    settings = world.app.state.settings
    settings.live_poll_seconds = 0.05
    settings.live_heartbeat_seconds = 0.3
    return world


def token(world: Any, person: dict[str, Any], **claims: Any) -> str:
    return str(world.tokens.access_token(person["id"], **claims))


async def team_of_three(world: Any) -> tuple[uuid.UUID, dict[str, Any], dict[str, Any]]:
    team_id = uuid.uuid4()
    lead = await world.person("lead", team_id=team_id)
    dev = await world.person("dev", team_id=team_id)
    return team_id, lead, dev


def assigned(team_id: uuid.UUID, assignee: uuid.UUID, by: uuid.UUID) -> work.TaskAssigned:
    return work.TaskAssigned(
        task_id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        team_id=team_id,
        title="Write the launch post",
        due_at=None,
        assignee_id=assignee,
        assigned_by=by,
    )


def commented(task: work.TaskAssigned, author: uuid.UUID, excerpt: str) -> work.CommentCreated:
    return work.CommentCreated(
        comment_id=uuid.uuid4(),
        task_id=task.task_id,
        project_id=task.project_id,
        team_id=task.team_id,
        author_id=author,
        excerpt=excerpt,
    )


async def test_a_notification_written_while_a_client_listens_arrives(live: Any) -> None:
    team_id, lead, dev = await team_of_three(live)
    async with Listener(live.app, token(live, dev)) as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-store"
        hello = await stream.event()
        assert hello["event"] == "unread" and hello["data"] == {"unread_count": 0}
        task = assigned(team_id, dev["id"], lead["id"])
        await live.event(task)
        note = await stream.event()
        change = await stream.event()
    assert note["event"] == "notification"
    [item] = await live.feed(dev)
    assert note["data"] == {**item, "unread_count": 1}
    assert note["data"]["actor"]["username"] == "lead"
    assert change["event"] == "task.changed"
    assert change["data"]["change"] == "assigned" and change["data"]["task_id"] == str(task.task_id)
    # Each id is a cursor: the user's events numbered one after another.
    assert int(change["id"]) == int(note["id"]) + 1 > int(hello["id"])


async def test_last_event_id_resumes_with_nothing_lost_or_repeated(live: Any) -> None:
    team_id, lead, dev = await team_of_three(live)
    task = assigned(team_id, dev["id"], lead["id"])
    async with Listener(live.app, token(live, dev)) as stream:
        await stream.event()
        await live.event(task)
        seen = [await stream.event(), await stream.event()]
    # Away: a comment (a notification and a change) and a second assignment.
    await live.event(commented(task, lead["id"], "First draft is up"))
    await live.event(assigned(team_id, dev["id"], lead["id"]))
    async with Listener(live.app, token(live, dev), last_event_id=seen[-1]["id"]) as stream:
        missed = [await stream.event() for _ in range(4)]
        assert await stream.quiet() == []  # nothing repeated, nothing more
    ids = [int(e["id"]) for e in seen + missed]
    assert ids == list(range(ids[0], ids[0] + 6))
    assert [e["event"] for e in missed] == [
        "notification",
        "task.changed",
        "notification",
        "task.changed",
    ]
    assert missed[0]["data"]["body"] == "First draft is up"
    assert missed[1]["data"]["change"] == "commented"
    assert missed[2]["data"]["unread_count"] == 3


async def test_a_stream_gets_only_its_own_user_s_events(live: Any) -> None:
    team_id, lead, dev = await team_of_three(live)
    outsider = await live.person("outsider")
    async with Listener(live.app, token(live, outsider)) as theirs:
        await theirs.event()
        await live.event(assigned(team_id, dev["id"], lead["id"]))
        # Then something of the outsider's own: the first event they get after the greeting.
        await live.event(
            auth.PasswordResetRequested(
                user_id=outsider["id"],
                email=outsider["email"],
                reset_url="https://taskflow.example/reset-password?token=t",
                expires_at=live.app.state.clock() + timedelta(hours=1),
            )
        )
        first = await theirs.event()
    assert first["event"] == "notification" and first["data"]["kind"] == "password_reset"


async def test_task_changes_reach_the_team_s_members_only(live: Any) -> None:
    team_id, lead, dev = await team_of_three(live)
    outsider = await live.person("outsider")
    task = assigned(team_id, dev["id"], lead["id"])
    updated = work.TaskUpdated(
        task_id=task.task_id,
        project_id=task.project_id,
        team_id=team_id,
        title=task.title,
        description=None,
        status="review",
        priority="medium",
        due_at=None,
        estimate_hours=None,
        labels=[],
        assignee_ids=[dev["id"]],
        changed=["status"],
        updated_by=dev["id"],
    )
    async with (
        Listener(live.app, token(live, lead)) as leads,
        Listener(live.app, token(live, outsider)) as outsiders,
    ):
        await leads.event()
        await outsiders.event()
        await live.event(updated)
        change = await leads.event()
        assert await outsiders.quiet() == []
    assert change["event"] == "task.changed"
    assert change["data"]["change"] == "updated"
    assert change["data"]["project_id"] == str(task.project_id)
    assert change["data"]["team_id"] == str(team_id)
    actor = {"id": str(dev["id"]), "username": "dev", "display_name": "Dev"}
    assert change["data"]["actor"] == actor
    assert change["data"]["at"]


async def test_marking_read_tells_every_stream_of_the_user(live: Any) -> None:
    team_id, lead, dev = await team_of_three(live)
    await live.event(assigned(team_id, dev["id"], lead["id"]))
    await live.event(assigned(team_id, dev["id"], lead["id"]))
    first, second = await live.feed(dev)
    async with (
        Listener(live.app, token(live, dev)) as tab,
        Listener(live.app, token(live, dev)) as other_tab,
    ):
        assert (await tab.event())["data"] == {"unread_count": 2}
        await other_tab.event()
        response = await live.client.post(
            f"/api/v1/notifications/{first['id']}/read", headers=dev["headers"]
        )
        assert response.status_code == 200
        for stream in (tab, other_tab):
            unread = await stream.event()
            assert unread["event"] == "unread" and unread["data"] == {"unread_count": 1}
        response = await live.client.post("/api/v1/notifications/read-all", headers=dev["headers"])
        assert response.json() == {"marked": 1}
        assert (await tab.event())["data"] == {"unread_count": 0}
        assert (await other_tab.event())["data"] == {"unread_count": 0}
    # Marking a read notification read again changes nothing and says nothing.
    response = await live.client.post(
        f"/api/v1/notifications/{first['id']}/read", headers=dev["headers"]
    )
    assert response.status_code == 200
    async with Listener(live.app, token(live, dev)) as tab:
        assert (await tab.event())["data"] == {"unread_count": 0}
        assert await tab.quiet() == []
    assert second["id"] != first["id"]


async def test_a_cursor_older_than_the_retention_gets_reset(live: Any) -> None:
    team_id, lead, dev = await team_of_three(live)
    async with Listener(live.app, token(live, dev)) as stream:
        start = await stream.event()
    await live.event(assigned(team_id, dev["id"], lead["id"]))
    live.app.state.clock.now += timedelta(hours=live.app.state.settings.live_retention_hours + 1)
    # The assignment: a notification and a change to dev, a change to lead.
    assert await live.app.state.live_prune.run_once(live.app.state.clock()) == 3
    await live.event(assigned(team_id, dev["id"], lead["id"]))
    async with Listener(live.app, token(live, dev), last_event_id=start["id"]) as stream:
        reset = await stream.event()
        assert await stream.quiet() == []
    assert reset["event"] == "reset"
    assert reset["data"] == {"reason": "cursor-expired", "unread_count": 2}
    newest = int(reset["id"])
    assert newest == int(start["id"]) + 4
    # The reset's id resumes as any other; a cursor the service never gave resets too.
    async with Listener(live.app, token(live, dev), last_event_id=str(newest)) as stream:
        assert await stream.quiet() == []
    for strange in (str(newest + 10), "abc", "-1"):
        async with Listener(live.app, token(live, dev), last_event_id=strange) as stream:
            reset = await stream.event()
        assert reset["event"] == "reset" and reset["data"]["reason"] == "cursor-unknown"
        assert reset["id"] == str(newest)


async def test_a_heartbeat_keeps_a_quiet_stream_open(live: Any) -> None:
    _, _, dev = await team_of_three(live)
    async with Listener(live.app, token(live, dev)) as stream:
        await stream.event()
        await stream.quiet(1.0)
        assert stream.comments >= 2


async def test_revoked_and_expired_tokens_are_refused_and_end_an_open_stream(live: Any) -> None:
    _, _, dev = await team_of_three(live)

    async def revoke(access: str) -> None:
        jti = jwt.decode(access, options={"verify_signature": False})["jti"]
        expires_at = (live.app.state.clock() + timedelta(minutes=15)).isoformat()
        data = {"scope": "token", "key": jti, "user_id": str(dev["id"]), "expires_at": expires_at}
        await live.bus.publish(new_event(TOKENS_REVOKED, source="/taskflow/auth", data=data))
        await live.bus.drain()

    held = token(live, dev)
    async with Listener(live.app, held) as stream:
        await stream.event()
        await revoke(held)
        await stream.body()  # the stream ends at its next poll
    async with Listener(live.app, held) as refused:
        body = json.loads(await refused.body())
    assert refused.status == 401 and refused.headers["content-type"] == "application/problem+json"
    assert body["type"].endswith("unauthenticated")

    expired = token(live, dev, ttl_seconds=-5)
    async with Listener(live.app, expired) as refused:
        await refused.body()
    assert refused.status == 401

    async with Listener(live.app, token(live, dev, ttl_seconds=2)) as stream:
        await stream.event()
        await asyncio.wait_for(stream.body(), 5)  # ends when the token does


def test_the_wire_format() -> None:
    assert frame("unread", {"unread_count": 2}, 7) == (
        'id: 7\nevent: unread\ndata: {"unread_count":2}\n\n'
    )
    assert frame("notification", {"body": "two\nlines"}).count("\n") == 3
    assert parse_cursor(None) is None and parse_cursor(" ") is None
    assert parse_cursor("42") == 42
    for bad in ("-1", "4.2", "x", "9" * 19, "٣"):
        with pytest.raises(ValueError):
            parse_cursor(bad)


async def test_clients_gone_mid_read_give_the_reads_connections_back(live: Any) -> None:
    """Clients go while their streams read (a poll with no pause, so most reads are under
    way): each read ends and its connection returns to the pool. A read cancelled with
    its stream left the connection to the garbage collector, which warned."""
    _, _, dev = await team_of_three(live)
    live.app.state.settings.live_poll_seconds = 0
    pool = live.app.state.database.autocommit_engine.pool
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(40):
            async with Listener(live.app, token(live, dev)) as stream:
                await stream.event()
                await asyncio.sleep(0.01)
        for _ in range(100):
            if pool.checkedout() == 0:
                break
            await asyncio.sleep(0.05)
        gc.collect()
    assert pool.checkedout() == 0
    assert [str(w.message)[:80] for w in caught if "non-checked-in" in str(w.message)] == []


async def test_a_read_that_fails_after_its_client_left_is_not_an_unretrieved_error(
    live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database fails in the very read a departed client's stream was waiting for: the
    read was shielded from the departure, so no one awaits its error. It is said in the
    stream's own log, not by asyncio as 'Task exception was never retrieved'."""
    team_id, lead, dev = await team_of_three(live)
    live.app.state.settings.live_poll_seconds = 0
    reading, failing = asyncio.Event(), asyncio.Event()
    poll = Stream._poll

    async def failing_poll(stream: Stream) -> Any:
        if failing.is_set():
            reading.set()
            await asyncio.sleep(0.2)  # the client leaves meanwhile
            raise OperationalError("SELECT", {}, ConnectionResetError("the database went"))
        return await poll(stream)

    monkeypatch.setattr(Stream, "_poll", failing_poll)
    unretrieved: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context["message"]))
    try:
        async with Listener(live.app, token(live, dev)) as stream:
            await stream.event()
            failing.set()
            await live.event(assigned(team_id, dev["id"], lead["id"]))  # so the stream reads
            await asyncio.wait_for(reading.wait(), 5)
        await asyncio.sleep(0.4)  # the read has failed by now
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert unretrieved == []


async def listening(
    world: Any, streams: contextlib.AsyncExitStack, people: list[dict[str, Any]]
) -> list[Listener]:
    """A stream for each of ``people``, open until ``streams`` closes, past its greeting."""
    listeners = [
        await streams.enter_async_context(Listener(world.app, token(world, person)))
        for person in people
    ]
    for listener in listeners:
        await listener.event()
    return listeners


async def test_idle_streams_cost_one_read_a_poll_not_one_each(live: Any) -> None:
    """Ten open streams, nothing happening: the database is read once a poll interval
    for all of them (their users' newest numbers), not once a stream."""
    team_id, lead, _ = await team_of_three(live)
    people = [await live.person(f"member{n}", team_id=team_id) for n in range(10)]
    async with contextlib.AsyncExitStack() as streams:
        listeners = await listening(live, streams, people)
        await asyncio.sleep(0.3)  # every stream past its first read
        with statements_sent(live.app.state.database) as statements:
            await asyncio.sleep(1.0)
        polls = 1.0 / live.app.state.settings.live_poll_seconds
        assert 1 <= len(statements) <= polls + 10, statements[:3]
        # And a write still reaches its user's stream (the team's others: the change only).
        await live.event(assigned(team_id, people[3]["id"], lead["id"]))
        assert (await listeners[3].event())["event"] == "notification"
        assert [e["event"] for e in await listeners[4].quiet(0.3)] == ["task.changed"]


async def test_a_failed_read_of_the_numbers_ends_no_stream_and_they_catch_up(
    live: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The watch's reads fail for a while (a stale pooled connection, the database away):
    the open streams stay open with their heartbeats, and get what was written meanwhile
    once a read succeeds. Said once, not once a read or a stream."""
    team_id, lead, dev = await team_of_three(live)
    newest_of = live_service.newest_of
    failing = asyncio.Event()

    async def flaky(*args: Any) -> dict[uuid.UUID, int]:
        numbers = await newest_of(*args)
        # Failed as it ends: a read begun before the failures and answered after the write
        # below (a loaded machine) would otherwise tell the streams of it.
        if failing.is_set():
            raise OperationalError("SELECT", {}, ConnectionResetError("the database went"))
        return numbers

    monkeypatch.setattr(live_service, "newest_of", flaky)
    async with (
        Listener(live.app, token(live, dev)) as first,
        Listener(live.app, token(live, dev)) as second,
    ):
        await first.event()
        await second.event()
        failing.set()
        await live.event(assigned(team_id, dev["id"], lead["id"]))
        comments = first.comments
        assert await first.quiet(0.8) == []  # open, told nothing new while reads fail
        assert first.comments > comments and not first.ended
        failing.clear()
        assert (await first.event())["event"] == "notification"
        assert (await second.event())["event"] == "notification"
    told = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(told) == 1 and told[0].exc_info is not None


async def test_a_read_of_the_numbers_that_hangs_holds_no_stream(
    live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch's read waits on a lock (a migration's ALTER TABLE): each stream still
    sends its heartbeats, and ends when its token does."""
    _, _, dev = await team_of_three(live)
    released = asyncio.Event()
    newest_of = live_service.newest_of

    async def stuck(*args: Any) -> dict[uuid.UUID, int]:
        await released.wait()
        return await newest_of(*args)

    async with Listener(live.app, token(live, dev, ttl_seconds=2)) as stream:
        await stream.event()
        monkeypatch.setattr(live_service, "newest_of", stuck)
        try:
            rest = await asyncio.wait_for(stream.body(), 6)  # ends when the token does
        finally:
            released.set()
    assert rest.count(HEARTBEAT) >= 2


async def test_the_watch_starts_again_after_its_last_stream_left(live: Any) -> None:
    team_id, lead, dev = await team_of_three(live)
    watch = live.app.state.live_watch
    async with Listener(live.app, token(live, dev)) as stream:
        await stream.event()
    for _ in range(100):  # its loop ends with no stream to watch for
        if watch._task is None or watch._task.done():
            break
        await asyncio.sleep(0.02)
    async with Listener(live.app, token(live, dev)) as stream:
        await stream.event()
        await live.event(assigned(team_id, dev["id"], lead["id"]))
        assert (await stream.event())["event"] == "notification"


async def test_a_client_leaving_ends_no_other_stream_s_wait(live: Any) -> None:
    """Streams wait for the watch's readings together: one client going (its stream
    cancelled mid-wait) must not cancel the others'."""
    team_id, lead, dev = await team_of_three(live)
    live.app.state.settings.live_poll_seconds = 0.5  # the streams are mostly waiting
    async with Listener(live.app, token(live, dev)) as staying:
        await staying.event()
        for _ in range(3):
            async with Listener(live.app, token(live, lead)) as leaving:
                await leaving.event()
                await asyncio.sleep(0.6)
        await live.event(assigned(team_id, dev["id"], lead["id"]))
        assert (await staying.event())["event"] == "notification"


async def test_the_watch_reads_every_user_past_one_statement_s_share(
    live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_service, "WATCH_CHUNK", 2)
    team_id, lead, _ = await team_of_three(live)
    people = [await live.person(f"member{n}", team_id=team_id) for n in range(5)]
    async with contextlib.AsyncExitStack() as streams:
        listeners = await listening(live, streams, people)
        await live.event(assigned(team_id, people[-1]["id"], lead["id"]))
        assert (await listeners[-1].event())["event"] == "notification"


async def test_shutdown_waits_for_a_departed_client_s_read_to_give_its_connection_back(
    live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client leaves while its stream reads: the read goes on (shielded), and notify's
    shutdown waits for it before the database closes, so its connection goes back to the
    pool, not to the garbage collector."""
    _, _, dev = await team_of_three(live)
    reading = asyncio.Event()

    async def slow_poll(stream: Stream) -> Any:
        async with stream.database.read_sessionmaker() as session:
            await session.execute(text("SELECT 1"))  # a connection held from here
            reading.set()
            await asyncio.sleep(0.3)
        return [], None

    monkeypatch.setattr(Stream, "_poll", slow_poll)
    pool = live.app.state.database.autocommit_engine.pool
    async with Listener(live.app, token(live, dev)) as stream:
        await stream.event()
        await asyncio.wait_for(reading.wait(), 5)
    assert pool.checkedout() >= 1  # the client has gone; its stream's read has not
    await live.app.state.live_watch.stop()
    assert pool.checkedout() == 0


async def test_shutdown_waits_for_the_watch_s_read_under_way_rather_than_cancel_it(
    live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notify stops while the streams' shared watch reads: the read is not cancelled
    halfway (a statement cancelled mid-way can give its connection back after the
    database closed, or to the garbage collector); shutdown waits for it to end."""
    _, _, dev = await team_of_three(live)
    reading, release = asyncio.Event(), asyncio.Event()
    cancelled: list[bool] = []
    newest_of = live_service.newest_of

    async def held_newest_of(session: Any, users: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        await session.execute(text("SELECT 1"))  # a connection held from here
        reading.set()
        try:
            await release.wait()  # stands for a statement still running
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return await newest_of(session, users)

    pool = live.app.state.database.autocommit_engine.pool
    async with Listener(live.app, token(live, dev)) as stream:
        await stream.event()
        monkeypatch.setattr(live_service, "newest_of", held_newest_of)
        await asyncio.wait_for(reading.wait(), 5)
        stopping = asyncio.ensure_future(live.app.state.live_watch.stop())
        await asyncio.sleep(0.2)
        assert not stopping.done()  # waiting for the read
        release.set()
        await asyncio.wait_for(stopping, 5)
    assert not cancelled
    assert pool.checkedout() == 0

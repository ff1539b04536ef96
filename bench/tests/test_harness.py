"""The bench harness's own parts: wrk's command line and figures, tokens kept fresh over a
long run, CPU per request and per event, the ports and the clean-up of a run's stack.

wrk and ``request.lua`` run for real against a small HTTP server here; Redis is the
machine's (skipped where missing, failed when CI is set).
"""

from __future__ import annotations

import base64
import http.server
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from taskflow_chassis.testing import in_ci, require_postgres, require_redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the bench's modules

from accounts import TokenKeeper, refresh_due, token_window
from logins import SteadyLogins
from measure import Result, per_unit, postgres_group
from run import parse_options
from stack import delete_redis_keys, new_stack
from taskflow_embedded.local import SERVICES
from wrk_runner import Request, Wrk, failed, failure, parse

WRK_OUT = """Running 10s test @ http://127.0.0.1:8203/
BENCH_STATUS 200:4000 429:9 503:2
BENCH_SOCKET_ERRORS connect:0 read:0 write:0 timeout:0
BENCH_FAILURES 11
BENCH_LATENCY_US 1500 2500 9000 12000
BENCH_REQUESTS 4011 10000000
"""


# --- numbers wrk takes as integers ------------------------------------------------------


def test_duration_option_gives_wrk_whole_seconds() -> None:
    options = parse_options(["--duration", "10", "--connections", "16"])
    command = Wrk("wrk", options.connections).command("http://127.0.0.1:1/x", options.duration)
    assert "-d10s" in command
    assert "-c16" in command
    assert "-t2" in command
    assert command[command.index("--timeout") + 1] == "10s"


def test_fractions_of_a_second_are_rounded_up_and_threads_never_outnumber_connections() -> None:
    command = Wrk("wrk", 1).command("http://127.0.0.1:1/x", 2.5)
    assert "-d3s" in command
    assert "-t1" in command
    assert "-c1" in command


def test_quick_keeps_whole_seconds() -> None:
    options = parse_options(["--quick"])
    assert isinstance(options.duration, int)
    assert f"-d{options.duration}s" in Wrk("wrk", 16).command("http://h/", options.duration)


# --- non-2xx answers by status -----------------------------------------------------------


def test_failures_are_counted_by_status() -> None:
    result = parse(WRK_OUT, "get one task", 1000)
    assert result.errors == 11
    assert result.statuses == {"429": 9, "503": 2}
    assert failure(result) == "11 non-2xx answers or socket errors: 429 x 9, 503 x 2"


def test_a_run_without_a_single_answer_is_a_failure_not_a_result() -> None:
    out = WRK_OUT.replace("BENCH_REQUESTS 4011", "BENCH_REQUESTS 0").replace(" 429:9 503:2", "")
    result = parse(out.replace("BENCH_FAILURES 11", "BENCH_FAILURES 0"), "the board", 1000)
    assert result.errors == 0 and result.requests == 0
    assert failed(result) == "no answer within the run (every request took longer)"
    assert failed(parse(WRK_OUT, "get one task", 1000)) == failure(parse(WRK_OUT, "x", 1))
    healthy = WRK_OUT.replace(" 429:9 503:2", "").replace("BENCH_FAILURES 11", "BENCH_FAILURES 0")
    assert failed(parse(healthy, "get one task", 1000)) is None


def test_socket_errors_are_counted_by_kind() -> None:
    out = WRK_OUT.replace(" 429:9 503:2", "").replace("timeout:0", "timeout:3")
    result = parse(out.replace("BENCH_FAILURES 11", "BENCH_FAILURES 3"), "log in", 1000)
    assert result.statuses == {"timeout": 3}
    assert failure(result) == "3 non-2xx answers or socket errors: timeout x 3"


# --- CPU per request and per event ------------------------------------------------------


def test_cpu_per_request_and_per_event_sum_the_stack_apart_from_the_load() -> None:
    result = parse(WRK_OUT, "create a task with an assignee", 1000)
    seconds = {"work": 2.0, "postgres": 1.0, "notify": 0.5, "wrk": 3.0, "postgres (others)": 4.0}
    result.cost(seconds, events=500)
    assert result.cpu_ms_per_request["stack"] == round(3500 / 4011, 3)
    assert result.cpu_ms_per_request["wrk"] == round(3000 / 4011, 3)
    assert result.cpu_ms_per_event == {
        k: v * 1000 / 500 for k, v in {"stack": 3.5, **seconds}.items()
    }


def test_no_events_no_cost_per_event() -> None:
    assert per_unit({"work": 1.0}, 0) == {}
    result = Result("get one task", 1000, 1.0, 1, 1, 1, 1, 100, 0)
    result.cost({"work": 1.0}, events=0, requests=400)
    assert result.cpu_ms_per_request == {"stack": 2.5, "work": 2.5}
    assert result.cpu_ms_per_event == {}


def test_postgres_processes_of_the_stack_apart_from_other_databases() -> None:
    ours = "postgres: 15/main: postgres tfbench_abc123_work 127.0.0.1(46064) idle"
    theirs = "postgres: 15/main: postgres tfsys_999999_work 127.0.0.1(46070) idle"
    assert postgres_group(ours, "tfbench_abc123") == "postgres"
    assert postgres_group(theirs, "tfbench_abc123") == "postgres (others)"
    assert postgres_group("postgres: 15/main: walwriter", "tfbench_abc123") == "postgres"
    vacuum = "postgres: 15/main: autovacuum worker tfsys_1_work"
    assert postgres_group(vacuum, "tfbench_abc123") == "postgres (others)"


# --- tokens over a run longer than their life -------------------------------------------


def jwt(issued: float, minutes: int) -> str:
    """A token shaped as auth's (only its times matter to the keeper)."""

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"sub": "bench", "iat": int(issued), "exp": int(issued) + minutes * 60}
    return f"{part({'alg': 'EdDSA'})}.{part(claims)}.signature"


def test_token_window_and_when_a_new_one_is_due() -> None:
    token = jwt(1_000_000, 15)
    assert token_window(token) == (1_000_000, 1_000_900)
    assert not refresh_due(token, 1_000_000 + 599)
    assert refresh_due(token, 1_000_000 + 600)  # a third of its life left


def test_a_run_of_an_hour_always_has_a_token_with_five_minutes_left(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    keeper = TokenKeeper(tmp_path / "token", lambda: jwt(now[0], 15), clock=lambda: now[0])
    for _ in range(3600):
        token = keeper.token()
        assert token_window(token)[1] - now[0] >= 5 * 60
        assert (tmp_path / "token").read_text() == token + "\n"
        now[0] += 1
    # One log-in per 10 minutes of the hour: a new token when a third of its life is left.
    assert keeper.minted == 6


def test_the_keeper_thread_rewrites_the_file_while_a_scenario_runs(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    keeper = TokenKeeper(
        tmp_path / "token", lambda: jwt(now[0], 15), clock=lambda: now[0], check_seconds=0.01
    )
    with keeper:
        first = (tmp_path / "token").read_text()
        now[0] += 11 * 60
        for _ in range(500):
            if (tmp_path / "token").read_text() != first:
                break
            threading.Event().wait(0.01)
    assert (tmp_path / "token").read_text() != first
    assert keeper.minted == 2


# --- request.lua under a real wrk -------------------------------------------------------


@pytest.fixture
def server() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """An HTTP server that answers 503 for task "c", 200 otherwise, and notes each
    request's path and Authorization."""
    seen: list[tuple[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization", "")))
            self.send_response(503 if self.path.endswith("/c") else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()


def test_request_lua_spreads_ids_follows_the_token_file_and_counts_statuses(
    tmp_path: Path, server: tuple[str, list[tuple[str, str]]]
) -> None:
    executable = shutil.which("wrk")
    if not executable:
        if in_ci():
            pytest.fail("wrk is missing, and CI is set")
        pytest.skip("wrk is not installed")
    base, seen = server
    (tmp_path / "ids").write_text("a\nb\nc\n")
    token = tmp_path / "token"
    token.write_text("first\n")
    request = Request(f"{base}/api/v1/tasks/{{id}}", token_file=token, ids=tmp_path / "ids")
    rotate = threading.Timer(1.5, lambda: token.write_text("second\n"))
    rotate.start()
    out = Wrk(executable, 2).run(request, 3)
    rotate.join()
    result = parse(out, "get one task", 3)
    paths = Counter(path for path, _ in seen)
    assert set(paths) == {"/api/v1/tasks/a", "/api/v1/tasks/b", "/api/v1/tasks/c"}
    assert {auth for _, auth in seen} == {"Bearer first", "Bearer second"}
    # The answers still on their way when wrk stops are not counted.
    assert 0 <= len(seen) - result.requests <= 2
    assert 0 <= paths["/api/v1/tasks/c"] - result.statuses["503"] <= 2
    assert list(result.statuses) == ["503"]
    assert result.errors == result.statuses["503"]


# --- log-ins at a steady rate beside a scenario -----------------------------------------


@pytest.fixture
def slow_login() -> Iterator[tuple[str, list[float]]]:
    """A log-in that takes 0.3 s to answer: 200, but 429 to every fourth request."""
    arrivals: list[float] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            arrivals.append(time.monotonic())
            refused = len(arrivals) % 4 == 0
            time.sleep(0.3)
            self.send_response(429 if refused else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/login", arrivals
    finally:
        httpd.shutdown()


def test_log_ins_keep_their_rate_however_slow_the_answers_and_count_refusals(
    slow_login: tuple[str, list[float]],
) -> None:
    url, arrivals = slow_login
    with SteadyLogins(url, '{"username": "bench"}', rate=20) as logins:
        # Counted on the sender's own clock: on a busy machine its thread may start late.
        deadline = time.monotonic() + 60
        while logins.sent < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(arrivals) == logins.sent >= 40
    # On schedule (2 s for 40), not one after another (12 s at 0.3 s each).
    assert logins.seconds < 6
    result = logins.result("log in at 20/s", 1000)
    assert result.requests == len(arrivals)
    assert result.statuses == {"429": len(arrivals) // 4}
    assert result.errors == len(arrivals) // 4
    assert result.p50_ms >= 300
    # The rate is of the log-ins that succeeded: three in four.
    succeeded = len(arrivals) - len(arrivals) // 4
    assert result.requests_per_second == round(succeeded / logins.seconds, 1)


# --- the run's stack: its ports and what it leaves behind -------------------------------


def test_ports_from_options_else_free_ones(tmp_path: Path) -> None:
    chosen = new_stack(tmp_path, port=9100, services_port=9200, smtp_port=9300)
    assert (chosen.gateway_port, chosen.internal_gateway_port, chosen.smtp_port) == (
        9100,
        9101,
        9300,
    )
    assert [chosen.port(s) for s in SERVICES] == list(range(9200, 9200 + len(SERVICES)))
    free = new_stack(tmp_path)
    ports = [free.gateway_port, free.internal_gateway_port, free.smtp_port]
    ports += [free.port(s) for s in SERVICES]
    assert len(set(ports)) == len(ports)
    assert free.rabbitmq_vhost == free.name  # its queues and exchanges go with its vhost


def test_the_run_s_redis_keys_are_deleted_and_no_one_else_s() -> None:
    import redis

    url = require_redis()
    name = f"tfbench_{uuid.uuid4().hex[:6]}"
    client = redis.Redis.from_url(url)
    ours = [f"{name}:auth:login:ip:127.0.0.1", f"{name}.notify", f"_kombu.binding.{name}.notify",
            f"_kombu.binding_permanent.{name}.notify"]  # fmt: skip
    theirs = f"{name}x.notify"
    try:
        for key in [*ours, theirs]:
            client.set(key, "1")
        assert delete_redis_keys(url, name) == len(ours)
        assert client.exists(*ours) == 0
        assert client.exists(theirs) == 1
    finally:
        client.delete(*ours, theirs)
        client.close()


def _micro_summary(script: str, *options: str) -> str:
    """The last line a micro-benchmark of bench/ printed, run on the local PostgreSQL."""
    require_postgres()
    path = Path(__file__).resolve().parents[1] / script
    done = subprocess.run(
        [sys.executable, str(path), *options],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_create_micro_runs_and_counts_one_statement_a_create() -> None:
    """``create_micro.py`` as bench/README.md shows it, a few creates: on PostgreSQL a
    create with an assignee is one statement (its access check in it), the relay's passes
    a few more for the run."""
    summary = _micro_summary("create_micro.py", "--creates", "40", "--in-flight", "4")
    assert summary.startswith("40 creates, 4 in flight:"), summary
    statements = float(summary.split("ms of this process's CPU a create, ")[1].split()[0])
    assert 1 <= statements < 2, summary


def test_live_micro_runs_and_idle_streams_read_once_a_poll() -> None:
    """``live_micro.py`` as bench/README.md shows it, fewer streams: fifty idle streams
    send about two statements a second (the watch's read every 0.5 s, a prune now and
    then), where each stream reading its own rows sent about a hundred."""
    summary = _micro_summary("live_micro.py", "--streams", "50", "--seconds", "3")
    assert summary.startswith("50 idle streams for"), summary
    statements = float(summary.split("CPU a second, ")[1].split()[0])
    assert statements < 10, summary

"""``make bench``: TaskFlow's hot paths measured on the local distributed runtime.

Starts the processes of ``make up`` with production settings (wrk talks to each
service's own port, as Traefik would; web's pages call the API through the gateway
emulator's internal entry point, as in ``make up``), seeds tasks in bulk straight
into work's database at each size, runs every scenario with wrk for a fixed
duration and concurrency, fails loudly on any non-2xx answer, and writes
``bench/results/<time>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import replace

import measure
import seed
from accounts import TokenKeeper, log_in, make_accounts
from measure import loop_seconds, settle
from report import RESULTS, report
from scenarios import BULK_SIZES, Bench, Options
from stack import memory_mb, new_stack, running, use_production_settings
from wrk_runner import Wrk, ensure_wrk

FULL_SIZES = (1_000, 100_000, 1_000_000)


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 tasks, 5 s runs")
    parser.add_argument("--sizes", default=",".join(map(str, FULL_SIZES)))
    parser.add_argument("--duration", type=int, default=10, help="seconds a scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--write-rates",
        default="20,50,100",
        help="write → notification: assignments per second, each rate for --write-seconds",
    )
    parser.add_argument("--write-seconds", type=float, default=10)
    parser.add_argument("--relay-events", type=int, default=20_000)
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=300,
        help="wait at most this long for an idle machine before each scenario",
    )
    parser.add_argument("--workers", default="auth=2,teams=1,work=2,notify=2,web=2",
                        help="uvicorn worker processes per service")  # fmt: skip
    parser.add_argument(
        "--profile",
        choices=["flamegraph", "raw"],
        help="record each scenario's workers with py-spy into bench/results/",
    )
    for option, what in (
        ("--port", "the gateway's (its internal entry point: the next)"),
        ("--services-port", "the first service's (the others: the next ones)"),
        ("--smtp-port", "the SMTP sink's"),
    ):
        parser.add_argument(option, type=int, default=0, help=f"{what} port; free ports by default")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated words: run only the scenarios whose names contain one",
    )
    args = parser.parse_args(argv)
    measure.SETTLE_LIMIT_SECONDS[0] = args.settle_seconds
    options = Options(
        sizes=[int(s) for s in args.sizes.split(",")],
        duration=args.duration,
        connections=args.connections,
        write_rates=[float(r) for r in args.write_rates.split(",")],
        write_seconds=args.write_seconds,
        relay_events=args.relay_events,
        workers={
            name: int(count)
            for name, count in (part.split("=") for part in args.workers.split(","))
        },
        profile=args.profile,
        only=[word for word in args.only.split(",") if word],
        port=args.port,
        services_port=args.services_port,
        smtp_port=args.smtp_port,
    )
    if args.quick:
        return replace(options, sizes=[1_000], duration=5, write_seconds=3, relay_events=5_000)
    return options


def measure_size(bench: Bench, seeded: seed.Seeded, size: int, *, first: bool) -> None:
    """Grow the data to ``size`` tasks and run the scenarios of that size (all of them
    at the first size; the reads at every size)."""
    started = time.monotonic()
    asyncio.run(seed.grow(bench.stack.database_url("work"), seeded, size))
    bench.size = size
    print(f"seeded {seeded.counts} in {time.monotonic() - started:.0f} s", flush=True)
    bench.http_scenarios(seeded)
    if not first:
        return
    bench.login_scenarios()
    for rate in bench.options.write_rates:
        writes = int(rate * bench.options.write_seconds)
        asyncio.run(bench.write_to_notification(writes, rate))
    asyncio.run(bench.relay_burst(bench.options.relay_events))
    # Last: each changes hundreds of tasks a second, whose events notify handles after it.
    for tasks in BULK_SIZES:
        asyncio.run(bench.bulk_changes(tasks))


def main() -> None:
    options = parse_options()
    stack = new_stack(RESULTS / "stack", options.port, options.services_port, options.smtp_port)
    wrk = Wrk(ensure_wrk(), options.connections)
    use_production_settings(options.workers)
    speed = {"before": loop_seconds()}
    print(f"machine speed: {speed['before']} s for the loop", flush=True)
    with running(stack):
        accounts = asyncio.run(make_accounts(stack))
        idle = memory_mb(stack, "VmRSS")
        tokens = TokenKeeper(stack.data_dir / "access-token", lambda: log_in(stack, "bench"))
        bench = Bench(options, stack, wrk, accounts, tokens, RESULTS)
        seeded = seed.Seeded(
            uuid.UUID(accounts.user_id), uuid.UUID(accounts.team_id), uuid.UUID(accounts.project_id)
        )
        with tokens:
            for size in options.sizes:
                measure_size(bench, seeded, size, first=size == options.sizes[0])
        peak = memory_mb(stack, "VmHWM")
        settle()
        speed["after"] = loop_seconds()
        print(f"report: {report(bench.results, options, speed, {'idle': idle, 'peak': peak})}")


if __name__ == "__main__":
    began = time.monotonic()
    main()
    print(f"bench finished in {time.monotonic() - began:.0f} s")

"""Log-ins at a steady rate beside another scenario: issue 20 judges reads while 15 log-ins
a second run, not while log-ins take every cycle they can get (wrk would send them as fast
as auth answers)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType

import httpx
from measure import Result, percentiles


@dataclass
class SteadyLogins:
    """A thread of its own that posts one log-in every ``1 / rate`` seconds, on schedule
    (a slow answer does not delay the next one), until the ``with`` block ends."""

    url: str
    body: str
    rate: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)  # what was not a 200, by status
    seconds: float = 0.0
    sent: int = 0  # log-ins sent so far
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> SteadyLogins:
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    async def _run(self) -> None:
        headers = {"Content-Type": "application/json"}
        async with httpx.AsyncClient(timeout=30) as client:

            async def log_in() -> None:
                started = time.perf_counter()
                try:
                    answer = await client.post(self.url, content=self.body, headers=headers)
                except httpx.HTTPError as exc:
                    self.statuses[type(exc).__name__] += 1
                    return
                if answer.status_code == 200:
                    self.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    self.statuses[str(answer.status_code)] += 1

            started, pending = time.monotonic(), []
            while not self._stop.is_set():
                await asyncio.sleep(max(0.0, started + self.sent / self.rate - time.monotonic()))
                pending.append(asyncio.create_task(log_in()))
                self.sent += 1
            self.seconds = time.monotonic() - started
            await asyncio.gather(*pending)

    def result(self, scenario: str, tasks: int) -> Result:
        done = sorted(self.latencies_ms)
        errors = sum(self.statuses.values())
        result = Result(
            scenario,
            tasks,
            round(len(done) / self.seconds, 1) if self.seconds else 0.0,
            *percentiles(done),
            len(done) + errors,
            errors,
        )
        result.statuses = dict(self.statuses)
        result.extra["target_rate"] = self.rate
        return result

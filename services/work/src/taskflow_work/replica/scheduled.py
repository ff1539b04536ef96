"""The background loop that keeps the replica from drifting from teams.

Woken right after the commit of an event that left a team needing a resync (and
every ``replica_retry_seconds``), it resyncs those teams at once; every
``replica_reconcile_seconds`` it also compares every team's membership sequence
with teams' (a page of ids at a time) and resyncs the teams behind, so a removal
whose event never came (delayed, parked, lost) is undone within one period, with
no event at all. Teams unreachable or no key: a warning, and the next pass tries
again; meanwhile a team needing a resync keeps reading through to teams.

At its first pass, then every ``people_seconds`` (an hour), it also fills people's
names from teams (``ReplicaSync.fill_people``): the people work knew before it kept
names get them, and a rename whose event was lost here is caught up.
"""

from __future__ import annotations

import logging
import time

from taskflow_chassis.pump import CommitWokenLoop

from taskflow_work.replica.adapters import TeamsUnavailable
from taskflow_work.replica.service import (
    RESYNC_FLAG,
    PeopleReport,
    ReconcileReport,
    ReplicaSync,
    teams_needing_resync,
)

logger = logging.getLogger("taskflow.work.replica")


class ReplicaReconciler(CommitWokenLoop):
    flag = RESYNC_FLAG
    name = "replica-reconciler"

    def __init__(
        self,
        sync: ReplicaSync,
        *,
        reconcile_seconds: float,
        retry_seconds: float,
        batch_size: int = 50,
        people_seconds: float = 3600.0,
    ) -> None:
        super().__init__(
            sync.database, interval=min(retry_seconds, reconcile_seconds), batch_size=batch_size
        )
        self.sync = sync
        self.reconcile_seconds = reconcile_seconds
        self.people_seconds = people_seconds
        self._last_pass: float | None = None
        self._people_due: float | None = None  # None: at the first pass
        self._failing: str | None = None

    async def run_once(self) -> int:
        done = await self.resync_marked()
        now = time.monotonic()
        if self._last_pass is None or now - self._last_pass >= self.reconcile_seconds:
            self._last_pass = now
            await self.reconcile()
        if self._people_due is None or now >= self._people_due:
            # A failed pass is tried again a reconcile period later, not at every sweep.
            self._people_due = now + self.reconcile_seconds
            if await self.fill_people() is not None:
                self._people_due = now + self.people_seconds
        return done

    async def resync_marked(self) -> int:
        """Resync the teams marked as needing it (up to a batch): how many succeeded."""
        done = 0
        for team_id in await teams_needing_resync(self.database, self.batch_size):
            try:
                result = await self.sync.resync_team(team_id)
            except TeamsUnavailable as exc:
                self._failed(str(exc))
                return 0  # no busy loop: the next sweep tries again
            except Exception:  # one team's failure must not keep the others waiting
                logger.exception("resync of team %s failed; retrying on the next pass", team_id)
                continue
            self._recovered()
            done += result.outcome != "behind"
        return done

    async def reconcile(self) -> ReconcileReport | None:
        """One pass over every team: resync those whose seq is behind teams'."""
        try:
            report = await self.sync.reconcile()
        except TeamsUnavailable as exc:
            self._failed(str(exc))
            return None
        if report.failures:
            self._failed(report.failures[0][1])
        else:
            self._recovered()
        return report

    async def fill_people(self) -> PeopleReport | None:
        """One pass over the names teams holds (None: teams could not answer)."""
        try:
            return await self.sync.fill_people()
        except TeamsUnavailable as exc:
            self._failed(str(exc))
            return None

    def _failed(self, reason: str) -> None:
        if reason != self._failing:
            logger.warning("replica reconcile with teams failed (retrying): %s", reason)
        self._failing = reason

    def _recovered(self) -> None:
        if self._failing is not None:
            logger.info("replica reconcile with teams works again")
        self._failing = None

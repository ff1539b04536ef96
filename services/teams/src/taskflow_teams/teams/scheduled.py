"""The purge: a team deleted RESTORABLE_FOR ago (and not restored) is erased, and
TeamPurged says so (consumers erase what they hold of it then, not at the deletion)."""

from __future__ import annotations

import logging

from taskflow_chassis.periodic import SoftDeletePurge
from taskflow_chassis.types import table_of

from taskflow_teams.teams.models import RESTORABLE_FOR, Team
from taskflow_teams.teams.service import purge_team

logger = logging.getLogger("taskflow.teams.scheduled")

PURGE = SoftDeletePurge(
    "teams-purge-deleted", table_of(Team), RESTORABLE_FOR, purge_team, noun="team", logger=logger
)
start, stop = PURGE.start, PURGE.stop
purge_deleted_teams = PURGE.run  # one pass at a given time (tests run it)

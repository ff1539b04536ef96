"""The purge: a project deleted RESTORABLE_FOR ago (and not restored) is erased with its
tasks, comments and activity, and ProjectPurged says so."""

from __future__ import annotations

import logging

from taskflow_chassis.periodic import SoftDeletePurge
from taskflow_chassis.types import table_of

from taskflow_work.projects.models import RESTORABLE_FOR, Project
from taskflow_work.projects.service import purge_project

logger = logging.getLogger("taskflow.work.scheduled")

PURGE = SoftDeletePurge(
    "work-purge-deleted-projects",
    table_of(Project),
    RESTORABLE_FOR,
    purge_project,
    noun="project",
    logger=logger,
)
start, stop = PURGE.start, PURGE.stop
purge_deleted_projects = PURGE.run  # one pass at a given time (tests run it)

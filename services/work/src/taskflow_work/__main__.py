"""Run the work service on its own (the distributed runtime): ``python -m taskflow_work``.

``python -m taskflow_work replica status|rebuild [--team ID]`` looks at and rebuilds
the replica of teams' memberships (taskflow_work.replica.commands).
"""

from functools import partial

from taskflow_chassis.cli import run_service

from taskflow_work.app import create_app, replica_departures
from taskflow_work.config import WorkSettings
from taskflow_work.replica.commands import replica_command

if __name__ == "__main__":
    run_service(
        create_app,
        WorkSettings(),
        commands={"replica": partial(replica_command, departures=replica_departures())},
    )

"""Run the teams service on its own (the distributed runtime): ``python -m taskflow_teams``.

``python -m taskflow_teams dlq ...`` lists, replays or purges its parked events.
"""

from taskflow_chassis.cli import run_service

from taskflow_teams.app import create_app
from taskflow_teams.config import TeamsSettings

if __name__ == "__main__":
    run_service(create_app, TeamsSettings())

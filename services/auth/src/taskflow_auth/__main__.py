"""Run the auth service on its own (the distributed runtime): ``python -m taskflow_auth``.

``python -m taskflow_auth dlq ...`` lists, replays or purges its parked events.
"""

from taskflow_chassis.cli import run_service

from taskflow_auth.app import create_app
from taskflow_auth.config import AuthSettings

if __name__ == "__main__":
    run_service(create_app, AuthSettings())

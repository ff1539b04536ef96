"""Run the teams service on its own (the distributed runtime): ``python -m taskflow_teams``."""

from taskflow_chassis.serve import serve

from taskflow_teams.app import create_app
from taskflow_teams.config import get_settings

if __name__ == "__main__":
    serve(create_app, get_settings())

"""Run the web service on its own (the distributed runtime): ``python -m taskflow_web``."""

from taskflow_chassis.cli import run_service

from taskflow_web.app import create_app
from taskflow_web.config import WebSettings

if __name__ == "__main__":
    run_service(create_app, WebSettings())

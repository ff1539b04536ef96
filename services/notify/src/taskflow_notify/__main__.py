"""Run the notify service on its own (the distributed runtime): ``python -m taskflow_notify``."""

from taskflow_chassis.serve import serve

from taskflow_notify.app import create_app
from taskflow_notify.config import get_settings

if __name__ == "__main__":
    serve(create_app, get_settings())

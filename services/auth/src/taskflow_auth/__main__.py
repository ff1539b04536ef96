"""Run the auth service on its own (the distributed runtime): ``python -m taskflow_auth``."""

from taskflow_chassis.serve import serve

from taskflow_auth.app import create_app
from taskflow_auth.config import get_settings

if __name__ == "__main__":
    serve(create_app, get_settings())

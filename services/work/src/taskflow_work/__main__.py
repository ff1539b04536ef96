"""Run the work service on its own (the distributed runtime): ``python -m taskflow_work``."""

from taskflow_chassis.serve import serve

from taskflow_work.app import create_app
from taskflow_work.config import get_settings

if __name__ == "__main__":
    serve(create_app, get_settings())

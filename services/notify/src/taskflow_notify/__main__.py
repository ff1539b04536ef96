"""Run the notify service on its own (the distributed runtime): ``python -m taskflow_notify``.

``python -m taskflow_notify emails list|retry ...`` looks at the email log and retries
failed emails; ``dlq`` (from the chassis) lists, replays and purges parked events.
"""

from taskflow_chassis.cli import run_service

from taskflow_notify.app import create_app
from taskflow_notify.config import NotifySettings
from taskflow_notify.email.commands import emails_command

if __name__ == "__main__":
    run_service(create_app, NotifySettings(), commands={"emails": emails_command})

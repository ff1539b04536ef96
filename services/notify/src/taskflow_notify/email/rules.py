"""What a failed send means, and when to try again: pure rules, no database."""

from __future__ import annotations

import random
import smtplib

from taskflow_notify.config import NotifySettings


def is_permanent(exc: BaseException) -> bool:
    """A 5xx refusal of this email's sender, recipient or content: sending it again cannot
    help. Anything else (4xx, a lost connection, a timeout, an authentication or TLS
    problem that an operator can mend) is worth another attempt."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        # One (code, message) per refused recipient; raised only when all were refused.
        codes = [entry[0] for entry in exc.recipients.values()]
        return bool(codes) and all(500 <= int(code) < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return 500 <= int(exc.smtp_code) < 600
    return False


def is_about_this_email(exc: BaseException) -> bool:
    """The server refused this email's sender, recipient or content (4xx or 5xx), rather
    than failing everyone's (refused or dropped connections, timeouts, TLS, log-in)."""
    return isinstance(
        exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPSenderRefused | smtplib.SMTPDataError
    )


def retry_delay(attempts: int, settings: NotifySettings) -> float:
    """Seconds before attempt ``attempts + 1``: floor * 2^(attempts - 1), capped at the
    maximum, with jitter over its upper half that never goes below the floor."""
    floor = settings.email_retry_floor_seconds
    ceiling = max(floor, settings.email_retry_max_seconds)
    delay = min(ceiling, floor * 2.0 ** min(max(attempts - 1, 0), 60))
    return random.uniform(max(floor, delay / 2), delay)  # noqa: S311 - jitter, not a secret

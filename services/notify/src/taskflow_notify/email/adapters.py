"""Email backends chosen by URL: ``smtp://``, ``console://``, ``file:///dir``.

Each sends one MIME ``Message`` (the standard library's). The message id is derived from
the email row's id, so a resend after a crash is recognisably the same message.
"""

from __future__ import annotations

import smtplib
import ssl
import sys
import tempfile
from email.message import Message
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from taskflow_notify.email.rules import is_about_this_email


class EmailBackend(Protocol):
    def send(self, message: Message) -> None: ...


class SmtpBackend:
    """``smtp://user:password@host:port?tls=starttls`` (or ``tls=ssl``, or none)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.tls = parse_qs(parts.query).get("tls", [""])[0].lower()
        self.port = parts.port or (465 if self.tls == "ssl" else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self._context: ssl.SSLContext | None = None
        # Kept open between messages: a job per email need not pay connect, EHLO and QUIT.
        self._smtp: smtplib.SMTP | None = None

    @property
    def context(self) -> ssl.SSLContext:
        # Loading the system's CA certificates took half of each send: load them once.
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context

    def send(self, message: Message) -> None:
        """Send over the connection kept from the last message, or over a new one when
        there is none or the server has closed it meanwhile (servers close idle ones, and
        some after so many messages); a refusal of this message's sender, recipient or
        content keeps the connection (smtplib has reset the transaction) and propagates;
        any other failure drops the connection and propagates."""
        kept = self._smtp
        if kept is not None:
            try:
                self._send(kept, message)
                return
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                # Closed while idle (asking NOOP first would cost a round trip per
                # email): once more on a new connection, as a retry of the job would.
                self.close()
        self._send(self._connect(), message)

    def _send(self, smtp: smtplib.SMTP, message: Message) -> None:
        try:
            smtp.send_message(message)
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            self.close()
            raise
        except BaseException as exc:
            if not is_about_this_email(exc):
                self.close()
            raise

    def _connect(self) -> smtplib.SMTP:
        context = self.context if self.tls else None
        smtp: smtplib.SMTP
        if self.tls == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.tls == "starttls":
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


class ConsoleBackend:
    def send(self, message: Message) -> None:
        sys.stdout.write(message.as_string() + "\n" + "-" * 72 + "\n")
        sys.stdout.flush()


class FileBackend:
    """One ``.eml`` file a message, named after its Message-ID, written whole then renamed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: Message) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = (
            str(message["Message-ID"] or "message")
            .strip("<>")
            .replace("/", "_")
            .replace("@", "_at_")
        )
        with tempfile.NamedTemporaryFile(
            "wb", dir=self.directory, delete=False, suffix=".tmp"
        ) as handle:
            handle.write(bytes(message))
        Path(handle.name).replace(self.directory / f"{name}.eml")


def create_backend(url: str) -> EmailBackend:
    parts = urlsplit(url)
    if parts.scheme in {"smtp", "smtps"}:
        if parts.scheme == "smtps" and "tls=" not in parts.query:
            url = url + ("&" if parts.query else "?") + "tls=ssl"
        return SmtpBackend(url)
    if parts.scheme == "console":
        return ConsoleBackend()
    if parts.scheme == "file":
        return FileBackend(Path(unquote(parts.path)))
    raise ValueError(f"unknown EMAIL_URL {url!r}: use smtp://host:port, console:// or file:///dir")

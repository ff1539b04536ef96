"""``make up``'s SMTP sink, started as the local stack starts it: what a client sent is
what a reader of the maildir finds."""

from __future__ import annotations

import email
import email.policy
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from taskflow_chassis.ports import free_port
from taskflow_embedded.local import LocalStack


def _connect(port: int, seconds: float = 20) -> smtplib.SMTP:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return smtplib.SMTP("127.0.0.1", port, timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_each_message_is_filed_as_sent_with_its_envelope_on_top(tmp_path: Path) -> None:
    stack = LocalStack(data_dir=tmp_path / "var", smtp_port=free_port())
    command, _ = stack.commands()["smtp"]
    for part in ("tmp", "new", "cur"):
        (stack.mail_dir / part).mkdir(parents=True, exist_ok=True)
    sink = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        sent = []
        with _connect(stack.smtp_port) as client:
            for n in range(2):
                message = EmailMessage()
                message["From"] = "TaskFlow <no-reply@taskflow.local>"
                message["To"] = f"zoë{n}@example.com"
                message["Subject"] = f'Zoë assigned you "Fix the ünïcode bug {n}"'
                # A line that starts with a dot travels dot-stuffed: it comes back whole.
                message.set_content(f"Hello,\n.hidden line {n}\n\nThe end.\n")
                message.add_alternative(f"<p>Hello <b>{n}</b></p>", subtype="html")
                client.send_message(message, to_addrs=[f"zoe{n}@example.com"])
                sent.append(message)
        files = sorted((stack.mail_dir / "new").iterdir(), key=lambda p: p.stat().st_mtime_ns)
        assert len(files) == len(sent)
        for n, (path, original) in enumerate(zip(files, sent, strict=True)):
            raw = path.read_bytes()
            assert b"\r\n" not in raw  # a maildir file's lines end as the system's do
            filed = email.message_from_bytes(raw, policy=email.policy.default)
            assert filed["X-MailFrom"] == "no-reply@taskflow.local"
            assert filed["X-RcptTo"] == f"zoe{n}@example.com"
            assert filed["X-Peer"].startswith("('127.0.0.1'")
            assert filed["Subject"] == original["Subject"]
            assert filed["To"] == original["To"]
            plain = filed.get_body(("plain",))
            html = filed.get_body(("html",))
            assert plain is not None and html is not None
            assert plain.get_content() == f"Hello,\n.hidden line {n}\n\nThe end.\n"
            assert html.get_content().strip() == f"<p>Hello <b>{n}</b></p>"
    finally:
        sink.terminate()
        _, errors = sink.communicate(timeout=10)
    assert b"Traceback" not in errors, errors.decode()


def test_the_sink_is_started_with_its_maildir(tmp_path: Path) -> None:
    stack = LocalStack(data_dir=tmp_path / "var", smtp_port=2626)
    command, _ = stack.commands()["smtp"]
    assert command[:3] == [sys.executable, "-m", "aiosmtpd"]
    assert command[-3:] == ["-c", "taskflow_embedded.mail_sink.RawMaildir", str(stack.mail_dir)]

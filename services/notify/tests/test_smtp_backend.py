"""The SMTP backend keeps one connection between messages and replaces a dropped one."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from taskflow_chassis.ports import free_port
from taskflow_notify.email.adapters import SmtpBackend


class Peers:
    """Records which client connection (its address) delivered each message."""

    def __init__(self) -> None:
        self.delivered: list[tuple[Any, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.delivered.append((session.peer, envelope.rcpt_tos[0]))
        return "250 OK"


def message(to: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "TaskFlow <no-reply@taskflow.local>", to, "Hi"
    mail.set_content("Hello")
    return mail


def test_messages_share_a_connection_and_a_dropped_one_is_replaced() -> None:
    port, peers = free_port(), Peers()
    server = Controller(peers, hostname="127.0.0.1", port=port)
    server.start()
    backend = SmtpBackend(f"smtp://127.0.0.1:{port}")
    try:
        for n in range(3):
            backend.send(message(f"user{n}@example.com"))
        assert [to for _, to in peers.delivered] == [f"user{n}@example.com" for n in range(3)]
        assert len({peer for peer, _ in peers.delivered}) == 1
        server.stop()  # the server goes away, and with it the kept connection
        server = Controller(peers, hostname="127.0.0.1", port=port)
        server.start()
        backend.send(message("after@example.com"))
        assert peers.delivered[-1][1] == "after@example.com"
        assert len({peer for peer, _ in peers.delivered}) == 2
    finally:
        backend.close()
        server.stop()

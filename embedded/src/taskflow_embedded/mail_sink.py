"""The local stack's SMTP sink: an aiosmtpd handler that files each message in a maildir
as it came over the wire, with the envelope's trace headers on top.

aiosmtpd's own ``Mailbox`` handler parses each message into ``email.message.Message``
and serialises it again to file it: at a hundred emails a second that was 2.4 to 2.8 ms
of CPU an email, more than the Celery worker that sent it. The bytes a client sent are
already a message; filing them as they are keeps what a reader of the maildir sees (the
same headers and body, CRLFs as LFs like any maildir file) at a fraction of the cost.

``python -m aiosmtpd -n -l HOST:PORT -c taskflow_embedded.mail_sink.RawMaildir DIR``.
"""

from __future__ import annotations

import mailbox
import os
from argparse import ArgumentParser
from typing import Any


class RawMaildir:
    def __init__(self, mail_dir: str | os.PathLike[str]) -> None:
        self.mailbox = mailbox.Maildir(mail_dir, create=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or b""
        trace = (
            f"X-Peer: {session.peer}\n"
            f"X-MailFrom: {envelope.mail_from}\n"
            f"X-RcptTo: {', '.join(envelope.rcpt_tos)}\n"
        ).encode("utf-8", "surrogateescape")
        self.mailbox.add(trace + content.replace(b"\r\n", b"\n"))
        return "250 OK"

    @classmethod
    def from_cli(cls, parser: ArgumentParser, *args: str) -> RawMaildir:
        if len(args) != 1:
            parser.error("RawMaildir takes one argument: the maildir's folder")
        return cls(args[0])

"""``python -m taskflow_notify emails``: look at the email log, and retry failed emails.

``emails list [--status failed] [--limit N]`` prints one email a line: id, recipient,
subject, attempts, last error. ``emails retry --id ID [--id ID ...]`` or
``emails retry --all-failed`` makes failed emails pending again, due now, with their
attempts and retry horizon started afresh; the running service's dispatcher queues
them within seconds. Only failed emails are retried: a sent one is never sent again.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any, TextIO, cast

from sqlalchemy import CursorResult, and_, select, update
from sqlalchemy.pool import NullPool
from sqlmodel import col
from taskflow_chassis.db import Database
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

from taskflow_notify.config import NotifySettings
from taskflow_notify.email.models import EmailMessage, EmailStatus


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m taskflow_notify emails", description="The email log: list, retry."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list emails, newest first")
    listing.add_argument(
        "--status",
        choices=[str(status) for status in EmailStatus],
        default=None,
        help="only emails in this status (default: all)",
    )
    listing.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    retry = commands.add_parser("retry", help="make failed emails pending again")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--id",
        dest="ids",
        metavar="ID",
        action="append",
        type=uuid.UUID,
        help="a failed email (repeatable)",
    )
    which.add_argument("--all-failed", action="store_true", help="every failed email")
    return parser


async def emails_command(
    settings: NotifySettings, argv: list[str], out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse's --help or a usage error
        return int(exit_.code or 0)
    database = Database(settings.resolved_database_url(), poolclass=NullPool)
    try:
        if args.command == "list":
            return await _list(database, args.status, args.limit, out)
        return await _retry(database, args.ids, out)
    finally:
        await database.dispose()


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


async def _list(database: Database, status: str | None, limit: int, out: TextIO) -> int:
    query = select(EmailMessage).order_by(col(EmailMessage.created_at).desc()).limit(limit)
    if status:
        query = query.where(col(EmailMessage.status) == status)
    async with database.read_sessionmaker() as session:
        rows = (await session.execute(query)).scalars().all()
    print("id\tstatus\tto\tsubject\tattempts\tlast_error", file=out)
    for row in rows:
        fields = [str(row.id), row.status, row.to_address, _one_line(row.subject)]
        fields += [str(row.attempts), _one_line(row.last_error)]
        print("\t".join(fields), file=out)
    return 0


async def _retry(database: Database, ids: list[uuid.UUID] | None, out: TextIO) -> int:
    chosen = col(EmailMessage.status) == EmailStatus.FAILED
    statuses: dict[uuid.UUID, str] = {}
    async with database.session() as session:
        uow = UnitOfWork(session, Publisher("notify"))
        if ids:
            found = await session.execute(
                select(col(EmailMessage.id), col(EmailMessage.status)).where(
                    col(EmailMessage.id).in_(ids)
                )
            )
            statuses = {email_id: status for email_id, status in found.all()}
            chosen = and_(chosen, col(EmailMessage.id).in_(ids))
        result = await session.execute(
            update(EmailMessage)
            .where(chosen)
            .values(
                status=EmailStatus.PENDING,
                attempts=0,
                first_attempt_at=None,
                next_attempt_at=None,
                queued_at=None,
                sending_at=None,
            ),
            execution_options={"synchronize_session": False},
        )
        await uow.commit()
    refused = 0
    for email_id in ids or []:
        status = statuses.get(email_id)
        if status is None:
            print(f"no email {email_id}", file=out)
            refused += 1
        elif status != EmailStatus.FAILED:
            print(f"email {email_id} is {status}, not failed: left alone", file=out)
            refused += 1
        else:
            print(f"retrying {email_id}", file=out)
    count = cast(CursorResult[Any], result).rowcount
    print(f"{count} failed email(s) pending again; the notify service sends them", file=out)
    return 1 if refused else 0

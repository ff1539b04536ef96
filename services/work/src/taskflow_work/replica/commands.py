"""``python -m taskflow_work replica``: see and rebuild work's replica of teams.

``replica status`` prints the replica's counts and the teams waiting for a resync.
``replica rebuild`` resyncs every team (or ``--team ID``) from teams' internal API,
teams being the source of truth: after events were lost or parked, a restore of
work's database, or a wiped replica; without ``--team`` it also fills people's names
from teams (the people work knew before it kept names get them). An answer older
than the replica (a removal applied while teams answered) is not applied and the
team is asked again later; ``--restore`` applies teams' answers even then, for a
restore of teams' own database, whose numbers went back. It prints one line per team
it changed, and how many people it named. It needs the service's settings: the database URL,
``WORK_TEAMS_URL`` and the internal API key (``WORK_INTERNAL_API_KEY`` or
``TASKFLOW_INTERNAL_API_KEY``). Safe while the service runs: each team is
replaced in one transaction that holds its replica row.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import TextIO

import httpx
from sqlalchemy import func, select
from sqlalchemy.pool import NullPool
from sqlmodel import col
from taskflow_chassis.db import Database
from taskflow_chassis.unit_of_work import Publisher

from taskflow_work.config import WorkSettings
from taskflow_work.replica.adapters import TeamsApi, TeamsUnavailable
from taskflow_work.replica.models import MemberReplica, Person, TeamReplica
from taskflow_work.replica.service import Departures, ReplicaSync


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m taskflow_work replica",
        description="Work's replica of teams' memberships: status, rebuild.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="counts, and the teams waiting for a resync")
    rebuild = commands.add_parser(
        "rebuild", help="resync every team (or one) and people's names from teams"
    )
    rebuild.add_argument("--team", type=uuid.UUID, default=None, help="only this team")
    rebuild.add_argument(
        "--restore",
        action="store_true",
        help="teams' database was restored and its numbers went back: apply its answers "
        "even where they are older than the replica's",
    )
    return parser


async def replica_command(
    settings: WorkSettings,
    argv: list[str],
    out: TextIO | None = None,
    teams_transport: httpx.AsyncBaseTransport | None = None,
    *,
    departures: Departures,
) -> int:
    """``departures``: what a member the rebuild drops leaves behind (app.py supplies it)."""
    out = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse's --help or a usage error
        return int(exit_.code or 0)
    database = Database(settings.resolved_database_url(), poolclass=NullPool)
    try:
        if args.command == "status":
            return await _status(database, out)
        async with httpx.AsyncClient(
            base_url=settings.teams_url,
            transport=teams_transport,
            timeout=settings.teams_timeout_seconds,
        ) as client:
            sync = ReplicaSync(
                database,
                TeamsApi(client, settings.internal_api_key),
                departures,
                Publisher(settings.service_name),
            )
            return await _rebuild(sync, args.team, out, restore=args.restore)
    finally:
        await database.dispose()


async def _status(database: Database, out: TextIO) -> int:
    async with database.read_sessionmaker() as session:
        teams = (await session.execute(select(func.count()).select_from(TeamReplica))).scalar_one()
        people = (await session.execute(select(func.count()).select_from(Person))).scalar_one()
        members = (
            await session.execute(
                select(col(MemberReplica.from_event), func.count()).group_by(
                    col(MemberReplica.from_event)
                )
            )
        ).all()
        waiting = (
            await session.execute(
                select(
                    col(TeamReplica.team_id),
                    col(TeamReplica.name),
                    col(TeamReplica.membership_seq),
                )
                .where(col(TeamReplica.resync_needed).is_(True))
                .order_by(col(TeamReplica.updated_at))
            )
        ).all()
    by_origin = {bool(origin): count for origin, count in members}
    print(f"teams\t{teams}", file=out)
    print(f"members from events\t{by_origin.get(True, 0)}", file=out)
    print(f"members read through\t{by_origin.get(False, 0)}", file=out)
    print(f"teams needing resync\t{len(waiting)}", file=out)
    for team_id, name, seq in waiting:
        print(f"  {team_id}\t{name}\tseq {seq}", file=out)
    print(f"people named\t{people}", file=out)
    return 0


async def _rebuild(
    sync: ReplicaSync,
    team_id: uuid.UUID | None,
    out: TextIO,
    *,
    restore: bool = False,
) -> int:
    try:
        report = await sync.reconcile(
            everything=True,
            force=restore,
            only=None if team_id is None else [team_id],
        )
    except TeamsUnavailable as exc:
        print(f"teams could not answer: {exc}", file=out)
        return 1
    changed = [result for result in report.results if result.altered]
    for result in changed:
        print(result.describe(), file=out)
    for failed, reason in report.failures:
        print(f"team {failed}: not rebuilt: {reason}", file=out)
    print(
        f"{report.compared} team(s) compared, {len(changed)} changed,"
        f" {len(report.failures)} failed",
        file=out,
    )
    unfinished = bool(report.failures)
    if team_id is None:
        try:
            print((await sync.fill_people()).describe(), file=out)
        except TeamsUnavailable as exc:
            print(f"people's names not filled: teams could not answer: {exc}", file=out)
            unfinished = True
    return 1 if unfinished else 0

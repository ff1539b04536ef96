"""Reading tasks: the columns a task is shown from, and pages of tasks by filter and sort."""

from __future__ import annotations

import functools
import json
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Insert,
    Integer,
    Label,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    column,
    exists,
    func,
    literal,
    or_,
    select,
    table,
    true,
    tuple_,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Delete, Update
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.util import ClauseAdapter
from taskflow_chassis.bound import BoundWrite
from taskflow_chassis.pagination import PageParams, cursor_values, fetch_page, keyset_statement
from taskflow_chassis.types import table_of

from taskflow_work.replica.models import MemberReplica, Person
from taskflow_work.replica.queries import (
    Names,
    listed_people_column,
    load_names,
    names_of,
    people_column,
    person_column,
    ref,
)
from taskflow_work.tasks.models import Priority, Status, Task, TaskAssignee, due_key
from taskflow_work.tasks.schemas import TaskRead, TaskSort

# Plain tables: a read of rows stays a Core statement, cheaper to run than an ORM one.
_tasks = table_of(Task)
_assignees = table_of(TaskAssignee)
_members = table_of(MemberReplica)
_people = table_of(Person)


class TaskRow(NamedTuple):
    """The columns a task is shown from, named as the attributes of Task: a page of
    tasks is only shown, so plain rows spare the ORM's objects."""

    id: uuid.UUID
    project_id: uuid.UUID
    team_id: uuid.UUID
    title: str
    description: str | None
    status: str
    priority: str
    due_at: datetime | None
    estimate_hours: float | None
    labels_json: str
    assignee_ids_json: str
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime
    # The names of the creator and the assignees (replica.queries), read with the task.
    creator_entry: str | None
    assignee_entries: str | None


NAME_FIELDS = ("creator_entry", "assignee_entries")


def _task_column(attribute: str) -> ColumnElement[Any] | Label[Any]:
    [column] = sa_inspect(Task).column_attrs[attribute].columns
    return column.label(attribute) if column.name != attribute else column


TASK_COLUMNS = (
    *(_task_column(name) for name in TaskRow._fields if name not in NAME_FIELDS),
    person_column(_tasks.c.created_by, "creator_entry"),
    people_column(_assignees, _tasks.c.id, _assignees.c.task_id, "assignee_entries"),
)


def assignees_of(task: Task | TaskRow) -> list[uuid.UUID]:
    return [uuid.UUID(user_id) for user_id in json.loads(task.assignee_ids_json)]


def task_read(task: Task | TaskRow, names: Names | None = None) -> TaskRead:
    """A task as the API shows it, from a row of its columns (names included) or with
    ``names`` (replica.queries.load_names: a row just written has none read with it)."""
    if names is None and isinstance(task, TaskRow):
        names = names_of(task.creator_entry, task.assignee_entries)
    names = names or {}
    assignee_ids = assignees_of(task)
    return TaskRead(
        id=task.id,
        project_id=task.project_id,
        team_id=task.team_id,
        title=task.title,
        description=task.description,
        status=Status(task.status),
        priority=Priority(task.priority),
        due_at=task.due_at,
        estimate_hours=task.estimate_hours,
        labels=json.loads(task.labels_json),
        assignee_ids=assignee_ids,
        assignees=[ref(names, user_id) for user_id in assignee_ids],
        created_by=task.created_by,
        created_at=task.created_at,
        creator=ref(names, task.created_by),
        updated_at=task.updated_at,
    )


def task_row(values: Sequence[Any]) -> TaskRow:
    """The task of a row that starts with ``TASK_COLUMNS``."""
    return TaskRow._make(values[: len(TaskRow._fields)])


@dataclass(frozen=True)
class TaskScope:
    """Whose tasks a page may show: those of ``team_ids``; or, with ``member_id``, those of
    the teams where that user's membership came from teams' events (and the team is not
    waiting for a resync), so the page's own statement checks membership."""

    team_ids: Sequence[uuid.UUID] = ()
    member_id: uuid.UUID | None = None


@dataclass(frozen=True)
class TaskFilters:
    """What a page of tasks is chosen by. The values of one filter are OR'ed (a task in
    any of ``statuses``), different filters AND'ed; an empty tuple does not filter."""

    project_id: uuid.UUID | None = None
    assignees: tuple[uuid.UUID, ...] = ()
    statuses: tuple[Status, ...] = ()
    priorities: tuple[Priority, ...] = ()
    labels: tuple[str, ...] = ()  # a task with any of them
    due_before: datetime | None = None
    due_after: datetime | None = None
    q: str | None = None
    sort: TaskSort = TaskSort.CREATED_AT_DESC


class _TextPosition(FunctionElement[int]):
    """Where ``needle`` first starts in ``text`` (1-based, 0 if nowhere), case-sensitive
    on every database: ``strpos`` on PostgreSQL, ``instr`` elsewhere (on MySQL/MariaDB
    with a binary needle, or its collation would ignore case)."""

    type = Integer()
    name = "text_position"
    inherit_cache = True


@compiles(_TextPosition)
def _instr(element: _TextPosition, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_TextPosition, "postgresql")
def _strpos(element: _TextPosition, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


@compiles(_TextPosition, "mysql")
def _binary_instr(element: _TextPosition, compiler: SQLCompiler, **kw: Any) -> str:
    text, needle = element.clauses
    return (
        f"instr({compiler.process(text, **kw)}, CAST({compiler.process(needle, **kw)} AS BINARY))"
    )


def _label_needles(label: str) -> tuple[str, str]:
    """A task's labels are stored as ``json.dumps(list)``: ``["a", "b"]``. A label is an
    element when its JSON string starts the text after ``[`` or follows ``, `` (inside
    a string every ``"`` is escaped, so neither can match within another label)."""
    token = json.dumps(label)
    return "[" + token, ", " + token


def _has_label(index: int) -> ColumnElement[bool]:
    labels = _tasks.c.labels
    first, later = (
        bindparam(f"label_{index}_first", type_=String),
        bindparam(f"label_{index}_later", type_=String),
    )
    return or_(_TextPosition(labels, first) == 1, _TextPosition(labels, later) > 0)


def _sort_key(sort: TaskSort) -> tuple[ColumnElement[Any], bool]:
    if sort in (TaskSort.DUE_AT, TaskSort.DUE_AT_DESC):
        descending = sort == TaskSort.DUE_AT_DESC
        return due_key(_tasks.c.due_at, descending), descending
    if sort in (TaskSort.PRIORITY, TaskSort.PRIORITY_DESC):
        return _tasks.c.priority_rank, sort == TaskSort.PRIORITY_DESC
    return _tasks.c.created_at, sort == TaskSort.CREATED_AT_DESC


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _one_or_many(values: dict[str, Any], one: str, many: str, chosen: Sequence[Any]) -> None:
    """One value binds ``one`` (``=``, the usual case, as it always was); more bind ``many``
    (``IN``)."""
    distinct = list(dict.fromkeys(chosen))
    if len(distinct) == 1:
        values[one] = distinct[0]
    elif distinct:
        values[many] = distinct


def _bound_values(scope: TaskScope, filters: TaskFilters) -> dict[str, Any]:
    """The scope and the filters given, as the values of their bound parameters."""
    values: dict[str, Any] = {}
    if scope.member_id is not None:
        values["member_id"] = scope.member_id
    elif len(scope.team_ids) == 1:  # the usual case: = rather than IN
        values["team_id"] = scope.team_ids[0]
    else:
        values["team_ids"] = list(scope.team_ids)
    _one_or_many(values, "assignee", "assignees", filters.assignees)
    _one_or_many(values, "status", "statuses", [str(s) for s in filters.statuses])
    _one_or_many(values, "priority", "priorities", [str(p) for p in filters.priorities])
    for index, label in enumerate(dict.fromkeys(filters.labels)):
        values[f"label_{index}_first"], values[f"label_{index}_later"] = _label_needles(label)
    for name in ("project_id", "due_before", "due_after"):
        if getattr(filters, name):
            values[name] = getattr(filters, name)
    if filters.q:
        values["pattern"] = _like_pattern(filters.q)
    return values


# The projects table by name (projects/ imports tasks/, not the other way round).
_PROJECTS = table(
    "projects",
    column("id", _tasks.c.project_id.type),
    column("team_id", _tasks.c.team_id.type),
    column("deleted_at"),
)
_DELETED_PROJECT_IDS = select(_PROJECTS.c.id).where(_PROJECTS.c.deleted_at.is_not(None))
# A project's tasks are all of its team (a project never changes team).
_PROJECT_TEAM = (
    select(_PROJECTS.c.team_id)
    .where(_PROJECTS.c.id == bindparam("project_id", type_=_tasks.c.project_id.type))
    .scalar_subquery()
)


def _scoped(bound: frozenset[str]) -> Select[Any]:
    """The tasks the scope lets the caller see. Within one project the scope is checked once,
    on the project's team, never row by row: a condition on each task's team beside its
    project made PostgreSQL's plan for a statement it had prepared reckon with some fifty
    of a project's tasks (team and project taken as unrelated), so it read and sorted all
    of a large project's tasks where an index gives the page in order (10 s a page on a
    project of 500,000 tasks, after five runs of the statement on a connection)."""
    if "project_id" in bound:
        return select(*TASK_COLUMNS).where(_project_in_scope(bound))
    if "member_id" in bound:
        return select(*TASK_COLUMNS).join(
            _members,
            and_(
                _members.c.team_id == _tasks.c.team_id,
                _members.c.user_id == bindparam("member_id"),
                _members.c.from_event.is_(True),
                _members.c.resync_needed.is_(False),
            ),
        )
    if "team_id" in bound:
        return select(*TASK_COLUMNS).where(_tasks.c.team_id == bindparam("team_id"))
    return select(*TASK_COLUMNS).where(_tasks.c.team_id.in_(bindparam("team_ids", expanding=True)))


def _project_in_scope(bound: frozenset[str]) -> ColumnElement[bool]:
    """The project's team is one of the scope's: a condition on no row of tasks."""
    if "member_id" in bound:
        return exists().where(
            _members.c.team_id == _PROJECT_TEAM,
            _members.c.user_id == bindparam("member_id"),
            _members.c.from_event.is_(True),
            _members.c.resync_needed.is_(False),
        )
    if "team_id" in bound:
        return _PROJECT_TEAM == bindparam("team_id")  # noqa: SIM300 - a subquery, not a constant
    return _PROJECT_TEAM.in_(bindparam("team_ids", expanding=True))


def page_statement(
    bound: frozenset[str], sort: TaskSort, after: bool, dialect: str = "postgresql"
) -> Select[Any]:
    """The page query for one shape of request: which parameters are bound, which sort,
    whether from a cursor, on which database. A request binds its values into it."""
    if dialect == "postgresql" and "member_id" in bound and "project_id" not in bound:
        return _member_page_statement(bound, sort, after)
    query = _filtered(_scoped(bound), bound)
    key, descending = _sort_key(sort)
    return keyset_statement(
        query, key=key, id_column=_tasks.c.id, descending=descending, after=after
    )


def _member_page_statement(bound: frozenset[str], sort: TaskSort, after: bool) -> Select[Any]:
    """A member's tasks across their teams, on PostgreSQL: each team's first page from its
    index (a LATERAL subquery), then the best of those. Joined to the member's teams, the
    tasks were read and sorted whole (170 to 200 ms a page for a member of a team of
    200,000 tasks); SQLite and MariaDB have no LATERAL and keep that plan."""
    key, descending = _sort_key(sort)
    teams = (
        select(_members.c.team_id)
        .where(
            _members.c.user_id == bindparam("member_id"),
            _members.c.from_event.is_(True),
            _members.c.resync_needed.is_(False),
        )
        .subquery("member_teams")
    )
    team_page = _filtered(
        select(_tasks.c.id, key.label("page_key")).where(_tasks.c.team_id == teams.c.team_id),
        bound,
    )
    if after:
        position = tuple_(key, _tasks.c.id)
        cursor = tuple_(
            bindparam("after_key", type_=key.type), bindparam("after_id", type_=_tasks.c.id.type)
        )
        team_page = team_page.where(position < cursor if descending else position > cursor)
    limit = bindparam("page_limit", type_=Integer)
    each_team = (
        team_page.order_by(*_in_order(key, _tasks.c.id, descending))
        .limit(limit)
        .lateral("team_page")
    )
    best = (
        select(each_team.c.id, each_team.c.page_key)
        .select_from(teams.join(each_team, true()))
        .order_by(*_in_order(each_team.c.page_key, each_team.c.id, descending))
        .limit(limit)
        .subquery("best")
    )
    shown = _tasks.alias("shown")
    columns = [ClauseAdapter(shown).traverse(column) for column in TASK_COLUMNS]
    return (
        select(*columns, best.c.page_key, shown.c.id.label("page_id"))
        .join(best, best.c.id == shown.c.id)
        .order_by(*_in_order(best.c.page_key, best.c.id, descending))
    )


def _in_order(
    key: ColumnElement[Any], id_column: ColumnElement[Any], descending: bool
) -> tuple[ColumnElement[Any], ...]:
    return (key.desc(), id_column.desc()) if descending else (key, id_column)


def _filtered(query: Select[Any], bound: frozenset[str]) -> Select[Any]:
    """``query`` (over tasks) with the request's filters."""
    # Not the tasks of a deleted project (hidden until it is restored or purged).
    query = query.where(_tasks.c.project_id.not_in(_DELETED_PROJECT_IDS))
    pattern = bindparam("pattern", type_=String)
    assigned = select(_assignees.c.task_id)
    conditions: dict[str, ColumnElement[bool]] = {
        "project_id": _tasks.c.project_id == bindparam("project_id"),
        "assignee": _tasks.c.id.in_(assigned.where(_assignees.c.user_id == bindparam("assignee"))),
        "assignees": _tasks.c.id.in_(
            assigned.where(_assignees.c.user_id.in_(bindparam("assignees", expanding=True)))
        ),
        "status": _tasks.c.status == bindparam("status"),
        "statuses": _tasks.c.status.in_(bindparam("statuses", expanding=True)),
        "priority": _tasks.c.priority == bindparam("priority"),
        "priorities": _tasks.c.priority.in_(bindparam("priorities", expanding=True)),
        "due_before": _tasks.c.due_at < bindparam("due_before"),
        "due_after": _tasks.c.due_at > bindparam("due_after"),
        "pattern": or_(
            func.lower(_tasks.c.title).like(pattern, escape="\\"),
            func.lower(func.coalesce(_tasks.c.description, "")).like(pattern, escape="\\"),
        ),
    }
    for name, condition in conditions.items():
        if name in bound:
            query = query.where(condition)
    labels = sorted(name for name in bound if name.startswith("label_") and name.endswith("_first"))
    if labels:  # any of them
        query = query.where(or_(*(_has_label(index) for index in range(len(labels)))))
    return query


class TaskPages:
    """Pages of tasks. Each shape of page statement is built once per app: building one
    and keying it for SQLAlchemy's compiled cache costs about 0.35 ms a request, reusing
    it next to nothing. The shapes are finite (the parameters bound, sort, cursor)."""

    def __init__(self, max_shapes: int = 512) -> None:
        self._statement = functools.lru_cache(maxsize=max_shapes)(page_statement)

    async def page(
        self, session: AsyncSession, scope: TaskScope, filters: TaskFilters, page: PageParams
    ) -> tuple[list[TaskRead], str | None]:
        values = _bound_values(scope, filters)
        key, _ = _sort_key(filters.sort)
        position = cursor_values(page, key=key, id_column=_tasks.c.id)
        dialect = session.get_bind().dialect.name
        statement = self._statement(
            frozenset(values), filters.sort, "after_id" in position, dialect
        )
        rows, cursor = await fetch_page(session, statement, page, values | position)
        return [task_read(task_row(row)) for row in rows], cursor


# --- writes: as few round trips as each database allows ---------------------------------

Write = Insert | Update | Delete


def rowcount(result: Result[Any]) -> int:
    # An INSERT, UPDATE or DELETE answers a CursorResult, which counts the rows it touched.
    return cast("CursorResult[Any]", result).rowcount


def _returning_key(write: Write) -> Any:
    key = list(write.table.primary_key) if isinstance(write.table, Table) else []
    return write.returning(*key[:1])


class _Combined:
    """The PostgreSQL statements that run bound writes as one, kept one per shape: the
    templates (by identity), which one is counted, whether names are read. A kept shape
    holds its templates, so no other object takes one of their ids meanwhile."""

    def __init__(self, max_shapes: int = 256) -> None:
        self._kept: OrderedDict[tuple[Any, ...], tuple[Select[Any], list[Any]]] = OrderedDict()
        self.max_shapes = max_shapes
        self.built = 0  # statements built so far (kept or not)

    def statement(
        self,
        writes: Sequence[BoundWrite],
        counted: int | None,
        names: bool,
        *,
        keep: bool,
        required: bool = False,
        precondition: ColumnElement[bool] | None = None,
    ) -> Select[Any]:
        key = (
            tuple(id(write.statement) for write in writes),
            counted,
            names,
            required,
            id(precondition),
        )
        if keep and key in self._kept:
            self._kept.move_to_end(key)
            return self._kept[key][0]
        ctes = [
            (_returning_key(write.statement) if index == counted else write.statement).cte(
                f"write_{index}"
            )
            for index, write in enumerate(writes)
        ]
        tally: Any = literal(0)
        if counted is not None:
            tally = select(func.count()).select_from(ctes[counted]).scalar_subquery()
        # PostgreSQL has no RAISE outside PL/pgSQL: a precondition that does not hold, or
        # a count short of the required one, fails the statement, all its writes with it,
        # by casting a sentence to an integer (the CASE depends on what the statement
        # reads, so the planner cannot fold the cast into a failure of every statement).
        failures: list[tuple[ColumnElement[bool], Any]] = []
        if precondition is not None:
            failures.append((~precondition, literal(PRECONDITION_FAILED, String)))
        if required and counted is not None:
            short = tally != bindparam("required_count")
            failures.append((short, literal(COUNT_FELL_SHORT, String)))
        answer: list[Any] = [tally.label("counted")]
        if failures:
            checked = case(*failures, else_=sql_cast(tally, String))
            answer = [sql_cast(checked, Integer).label("counted")]
        if names:
            answer.append(listed_people_column("people", "people"))
        statement = select(*answer).add_cte(*ctes)
        self.built += 1
        if keep:
            held = [write.statement for write in writes]
            self._kept[key] = (statement, [*held, precondition])
            while len(self._kept) > self.max_shapes:
                self._kept.popitem(last=False)
        return statement


COMBINED = _Combined()


class CountFellShort(Exception):
    """The counted write wrote fewer rows than required: none of the writes may stay (on
    PostgreSQL their statement failed as a whole; elsewhere the caller rolls back)."""


COUNT_FELL_SHORT = "taskflow: the counted write fell short"


class PreconditionFailed(Exception):
    """The one statement's precondition did not hold at its snapshot: it wrote nothing."""


PRECONDITION_FAILED = "taskflow: the write's precondition did not hold"


@dataclass(frozen=True)
class Precondition:
    """What the one statement must find true when it runs, or write nothing: a condition
    built once (bind parameters only, so its statement is kept per shape) and its values.
    PostgreSQL only: elsewhere the writes are several statements."""

    condition: ColumnElement[bool]
    params: dict[str, Any]


async def write_at_once(
    session: AsyncSession,
    *writes: BoundWrite | Write | None,
    counted: BoundWrite | Write | None = None,
    required: int | None = None,
    people: Sequence[uuid.UUID] = (),
    precondition: Precondition | None = None,
) -> tuple[int, Names]:
    """Run ``writes`` (None: nothing) in the caller's transaction; answer how many rows
    ``counted`` (one of them) wrote, and the names of ``people``. With ``required``, a
    count short of it raises ``CountFellShort``; on PostgreSQL the writes then never
    happened, so a caller without a transaction (``without_transaction``) is safe.

    PostgreSQL: one statement, each write a data-modifying CTE and the answer its SELECT
    (the writes see one snapshot, and foreign keys are checked at the statement's end, so
    a row may refer to one inserted beside it). Where every write is a template with its
    values (taskflow_chassis.bound), that statement is built once per shape. SQLite and
    MariaDB have no writes in CTEs: a statement each, in order, then one for the names.

    ``precondition`` (PostgreSQL only) must hold at the statement's snapshot, or it raises
    ``PreconditionFailed`` having written nothing.
    """
    present = [write for write in writes if write is not None]
    bound = [w if isinstance(w, BoundWrite) else BoundWrite(w, {}) for w in present]
    tally = next((index for index, write in enumerate(present) if write is counted), None)
    if session.get_bind().dialect.name != "postgresql":
        if precondition is not None:
            raise ValueError("a precondition needs the one statement of PostgreSQL")
        return await _write_in_turn(session, bound, tally, required, people)
    templates = all(isinstance(write, BoundWrite) for write in present)
    wanted = list(dict.fromkeys(people))
    checked = required is not None and tally is not None
    statement = COMBINED.statement(
        bound,
        tally,
        bool(wanted),
        keep=templates,
        required=checked,
        precondition=precondition.condition if precondition is not None else None,
    )
    params: dict[str, Any] = {"people": wanted} if wanted else {}
    if checked:
        params["required_count"] = required
    for write in bound:
        params.update(write.params)
    if precondition is not None:
        params.update(precondition.params)  # last: no write's value stands in for the check's
    try:
        row = (await session.execute(statement, params)).one()
    except DBAPIError as exc:
        if PRECONDITION_FAILED in str(exc.orig):
            raise PreconditionFailed from None
        if COUNT_FELL_SHORT in str(exc.orig):
            raise CountFellShort from None
        raise
    return int(row[0]), names_of(*row[1:])


async def _write_in_turn(
    session: AsyncSession,
    writes: list[BoundWrite],
    counted: int | None,
    required: int | None,
    people: Sequence[uuid.UUID],
) -> tuple[int, Names]:
    """``write_at_once`` where writes cannot be CTEs: a statement each, then the names. A
    counted write short of ``required`` stops there: a write after it may refer to the row
    it did not find (a foreign key failing would answer 500)."""
    count = 0
    for index, write in enumerate(writes):
        result = await session.execute(write.statement, dict(write.params) or None)
        if index == counted:
            count = rowcount(result)
            if required is not None and count != required:
                raise CountFellShort
    return count, await load_names(session, people)


async def hold_task(session: AsyncSession, task_id: uuid.UUID, now: datetime) -> str | None:
    """Hold a task's row for this transaction and answer its assignee list as it stands
    (None: no such task). The row is held by writing to it, the one lock every database
    here takes (SQLite has no FOR UPDATE); one statement where UPDATE answers RETURNING,
    two on MariaDB."""
    held = update(_tasks).where(_tasks.c.id == task_id).values(updated_at=now)
    if session.get_bind().dialect.update_returning:
        listed: str | None = (
            await session.execute(held.returning(_tasks.c.assignee_ids))
        ).scalar_one_or_none()
        return listed
    if rowcount(await session.execute(held)) == 0:
        return None
    latest = await session.execute(select(_tasks.c.assignee_ids).where(_tasks.c.id == task_id))
    listed = latest.scalar_one()
    return listed

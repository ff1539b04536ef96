"""Projects: create, list, edit, archive, delete (softly: restorable for 30 days, then
purged with their tasks, comments and activity).

The caller is authorized by the route (taskflow_work.access) before any of these runs.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.pagination import PageParams, paginate_by_time
from taskflow_chassis.problems import conflict, invalid_field, not_found
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import UnitOfWork
from taskflow_contracts import work as contract

from taskflow_work.projects.models import RESTORABLE_FOR, Project
from taskflow_work.projects.schemas import (
    ProjectCreate,
    ProjectRead,
    ProjectUpdate,
    metadata_problem,
)
from taskflow_work.tasks.service import delete_project_tasks

logger = logging.getLogger("taskflow.work.projects")

_projects = table_of(Project)


def stored_metadata(project: Project) -> dict[str, Any]:
    """The project's metadata as stored, or ``{}`` (logged) if it would not be accepted
    today: one bad row written before the bounds must not fail every list it is on."""
    try:
        value = json.loads(project.metadata_json)
    except (ValueError, RecursionError):
        value = None
    problem = metadata_problem(value)
    if problem is None:
        return dict(value)
    logger.warning("project %s: stored metadata not shown (%s)", project.id, problem)
    return {}


def project_read(project: Project) -> ProjectRead:
    return ProjectRead(
        id=project.id,
        team_id=project.team_id,
        name=project.name,
        description=project.description,
        starts_on=project.starts_on,
        due_on=project.due_on,
        metadata=stored_metadata(project),
        archived=project.archived,
        created_by=project.created_by,
        created_at=project.created_at,
        updated_at=project.updated_at,
    )


def _updated(project: Project) -> contract.ProjectUpdated:
    return contract.ProjectUpdated(
        project_id=project.id,
        team_id=project.team_id,
        name=project.name,
        due_on=project.due_on,
        archived=project.archived,
    )


async def create_project(uow: UnitOfWork, creator: uuid.UUID, data: ProjectCreate) -> Project:
    project = Project(
        team_id=data.team_id,
        name=data.name,
        description=data.description,
        starts_on=data.starts_on,
        due_on=data.due_on,
        metadata_json=json.dumps(data.metadata or {}),
        created_by=creator,
    )
    uow.session.add(project)
    uow.publish(
        contract.ProjectCreated(
            project_id=project.id, team_id=project.team_id, name=project.name, due_on=project.due_on
        )
    )
    await uow.commit()
    return project


async def list_projects(
    session: AsyncSession,
    team_ids: list[uuid.UUID],
    page: PageParams,
    archived: bool | None,
) -> tuple[list[ProjectRead], str | None]:
    query = select(Project).where(
        col(Project.team_id).in_(team_ids), col(Project.deleted_at).is_(None)
    )
    if archived is not None:
        query = query.where(col(Project.archived) == archived)
    rows, cursor = await paginate_by_time(
        session, query, page, time_column=_projects.c.created_at, id_column=_projects.c.id
    )
    return [project_read(row[0]) for row in rows], cursor


async def update_project(uow: UnitOfWork, project: Project, data: ProjectUpdate) -> Project:
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name", "") is None:
        raise invalid_field(
            "name", "Name required", "A project's name cannot be removed.", type="name-required"
        )
    if "metadata" in changes:
        project.metadata_json = json.dumps(changes.pop("metadata") or {})
    if changes.get("archived") is None:
        changes.pop("archived", None)
    for field, value in changes.items():
        setattr(project, field, value)
    if project.starts_on and project.due_on and project.due_on < project.starts_on:
        raise invalid_field(
            "due_on", "Invalid dates", "due_on must not be before starts_on.", type="invalid-dates"
        )
    project.updated_at = utcnow()
    uow.session.add(project)
    uow.publish(_updated(project))
    await uow.commit()
    return project


def ensure_open(project: Project) -> None:
    """An archived project takes no new task (409 naming the project)."""
    if project.archived:
        raise conflict(
            "Project archived",
            "This project is archived: it takes no new task. Unarchive it first.",
            type="project-archived",
            field="project_id",
            loc=["path", "project_id"],
            project_id=str(project.id),
        )


async def delete_project(uow: UnitOfWork, project: Project, now: datetime) -> None:
    """A soft delete: the project and its tasks are hidden until restored, or purged
    after RESTORABLE_FOR."""
    project.deleted_at = now
    uow.session.add(project)
    uow.publish(
        contract.ProjectDeleted(
            project_id=project.id,
            team_id=project.team_id,
            deleted_at=now,
            purge_after=now + RESTORABLE_FOR,
        )
    )
    await uow.commit()


async def restore_project(uow: UnitOfWork, project: Project, now: datetime) -> Project:
    """A deleted project back with its tasks; one not deleted is answered as it is (a
    retried restore); one due for its purge is gone (404)."""
    if project.deleted_at is None:
        return project
    # One statement, so a purge running now either sees it restored or erases it first.
    restored = await uow.session.execute(
        update(_projects)
        .where(
            _projects.c.id == project.id,
            _projects.c.deleted_at.is_not(None),
            _projects.c.deleted_at > now - RESTORABLE_FOR,
        )
        .values(deleted_at=None, updated_at=now)
    )
    if cast(CursorResult[Any], restored).rowcount != 1:
        raise not_found("Project")
    uow.publish(
        contract.ProjectRestored(project_id=project.id, team_id=project.team_id, name=project.name)
    )
    await uow.commit()
    await uow.session.refresh(project)
    return project


async def purge_project(uow: UnitOfWork, project_id: uuid.UUID, deleted_before: datetime) -> bool:
    """Erase a project deleted before ``deleted_before`` (and not restored meanwhile), with
    its tasks, comments and activity, and ProjectPurged, in one transaction: whether it was."""
    session = uow.session
    held = (
        await session.execute(
            select(_projects.c.team_id, _projects.c.deleted_at)
            .where(_projects.c.id == project_id)
            .with_for_update()
        )
    ).first()
    if held is None or held.deleted_at is None or held.deleted_at > deleted_before:
        await uow.rollback()
        return False
    await _delete_project_rows(session, project_id)
    uow.publish(contract.ProjectPurged(project_id=project_id, team_id=held.team_id))
    await uow.commit()
    return True


async def _delete_project_rows(session: AsyncSession, project_id: uuid.UUID) -> None:
    # Explicit deletes, children first: no reliance on each database's cascade support.
    await delete_project_tasks(session, project_id)
    await session.execute(delete(Project).where(col(Project.id) == project_id))


async def delete_team_projects(uow: UnitOfWork, team_id: uuid.UUID) -> None:
    """A team was purged: its projects (deleted or not) go for good, each announced as
    purged (in the caller's unit of work, which commits)."""
    project_ids = (
        (await uow.session.execute(select(col(Project.id)).where(col(Project.team_id) == team_id)))
        .scalars()
        .all()
    )
    for project_id in project_ids:
        await _delete_project_rows(uow.session, project_id)
        uow.publish(contract.ProjectPurged(project_id=project_id, team_id=team_id))

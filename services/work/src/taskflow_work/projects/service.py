"""Projects: create, list, edit, archive, delete (with their tasks and comments).

The caller is authorized by the route (taskflow_work.access) before any of these runs.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.pagination import PageParams, paginate_by_time
from taskflow_chassis.problems import invalid_field
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import UnitOfWork
from taskflow_contracts import work as contract

from taskflow_work.projects.models import Project
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
    query = select(Project).where(col(Project.team_id).in_(team_ids))
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


async def delete_project(uow: UnitOfWork, project: Project) -> None:
    await _delete_project_rows(uow.session, project.id)
    uow.publish(contract.ProjectDeleted(project_id=project.id, team_id=project.team_id))
    await uow.commit()


async def _delete_project_rows(session: AsyncSession, project_id: uuid.UUID) -> None:
    # Explicit deletes, children first: no reliance on each database's cascade support.
    await delete_project_tasks(session, project_id)
    await session.execute(delete(Project).where(col(Project.id) == project_id))


async def delete_team_projects(uow: UnitOfWork, team_id: uuid.UUID) -> None:
    """A team was deleted: its projects go, each announced as deleted (in the caller's
    unit of work, which commits)."""
    projects = (
        (await uow.session.execute(select(Project).where(col(Project.team_id) == team_id)))
        .scalars()
        .all()
    )
    for project in projects:
        await _delete_project_rows(uow.session, project.id)
        uow.publish(contract.ProjectDeleted(project_id=project.id, team_id=team_id))

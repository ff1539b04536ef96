"""Base of the teams tables: their own metadata, apart from other services' in one process."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel


class TeamsTable(SQLModel, registry=registry()):
    pass

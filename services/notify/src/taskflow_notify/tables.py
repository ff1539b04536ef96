"""Base of the notify tables: their own metadata, apart from other services' in one process."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel


class NotifyTable(SQLModel, registry=registry()):
    pass

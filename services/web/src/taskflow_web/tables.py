"""Base of the web tables: their own metadata, apart from other services' in one process."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel


class WebTable(SQLModel, registry=registry()):
    pass

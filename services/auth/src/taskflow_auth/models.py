"""Every auth table, for Alembic: importing each domain's models registers its tables."""

from __future__ import annotations

from taskflow_auth.api_tokens import models as api_tokens
from taskflow_auth.participants import models as participants
from taskflow_auth.tables import AuthTable
from taskflow_auth.tokens import models as tokens
from taskflow_auth.users import models as users

metadata = AuthTable.metadata

__all__ = ["api_tokens", "metadata", "participants", "tokens", "users"]

"""Every table of the web service: importing this module completes WebTable.metadata
(Alembic, and the app). Web owns no business data: only its sign-in sessions and, for a
minute, the answers to the changes forms made (api.models)."""

from __future__ import annotations

from taskflow_web.api import models as api
from taskflow_web.sessions import models as sessions
from taskflow_web.tables import WebTable

__all__ = ["WebTable", "api", "sessions"]

"""What notify's routes and event handlers receive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from taskflow_chassis.handlers import EventContext

from taskflow_notify.config import NotifySettings
from taskflow_notify.email.service import EmailTemplates


@dataclass(frozen=True)
class NotifyDeps:
    """Built once in the composition root: the handlers' ``context.deps``."""

    settings: NotifySettings
    templates: EmailTemplates


Context = EventContext[NotifyDeps]


async def default_lead_hours(request: Request) -> int:
    """How long before a task is due its reminder goes, for someone who never said."""
    settings: NotifySettings = request.app.state.settings
    return settings.default_reminder_lead_hours


DefaultLeadHours = Annotated[int, Depends(default_lead_hours)]

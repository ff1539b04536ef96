"""What teams' routes and event handlers are given, besides the chassis' own dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from taskflow_chassis.handlers import EventContext

from taskflow_teams.config import TeamsSettings


async def app_settings(request: Request) -> TeamsSettings:
    settings: TeamsSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[TeamsSettings, Depends(app_settings)]


@dataclass(frozen=True)
class TeamsDeps:
    """What teams' event handlers receive as ``context.deps``: nothing yet, as they only
    write teams' own rows, through their unit of work."""


Context = EventContext[TeamsDeps]

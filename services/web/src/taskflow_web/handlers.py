"""Every reaction of the web service to other services' events, in one map: none.

Web owns no business data and keeps no replica: every page reads the four services'
public API with the signed-in person's own token, so there is nothing for an event to
update. The map is kept (empty) so web has the shape of every service.
"""

from __future__ import annotations

from taskflow_chassis.handlers import EventHandlers

EVENT_HANDLERS: EventHandlers = {}

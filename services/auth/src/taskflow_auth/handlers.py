"""What auth reacts to: nothing, by design. It only publishes, through the unit of work."""

from __future__ import annotations

from taskflow_chassis.handlers import EventHandlers

EVENT_HANDLERS: EventHandlers = {}

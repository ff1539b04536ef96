"""The forms of the webhook pages: an endpoint (URL, description, event types), and the
buttons (rotate, enable, disable, delete, redeliver) that carry nothing but the CSRF token."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from taskflow_web.pages.schemas import WebForm

EventType = Annotated[str, Field(max_length=200)]


class WebhookForm(WebForm):
    url: Annotated[str, Field(default="", max_length=2000)]
    description: Annotated[str, Field(default="", max_length=200)]
    event_types: Annotated[list[EventType], Field(max_length=64)] = []


class ButtonForm(WebForm):
    """A button with nothing but its CSRF token."""

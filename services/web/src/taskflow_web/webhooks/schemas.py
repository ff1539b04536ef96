"""The forms of the webhook pages: an endpoint (URL, description, event types), and the
buttons (rotate, enable, disable, delete, redeliver) that carry nothing but the CSRF token."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from taskflow_web.pages.schemas import WebForm

EventType = Annotated[str, Field(max_length=200)]


Tag = Annotated[str, Field(default="", max_length=100)]


class WebhookForm(WebForm):
    # The endpoint's ETag as the page showed it (sent as If-Match; empty on registration).
    etag: Tag
    url: Annotated[str, Field(default="", max_length=2000)]
    description: Annotated[str, Field(default="", max_length=200)]
    event_types: Annotated[list[EventType], Field(max_length=64)] = []


class ButtonForm(WebForm):
    """A button with nothing but its CSRF token (rotate, redeliver)."""


class TaggedButtonForm(WebForm):
    """A button that changes the endpoint as it was shown (disable, enable, delete)."""

    etag: Tag

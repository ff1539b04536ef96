"""The changes forms made through the API, kept for a minute so a form sent twice (a
double click) makes its change once, whichever of web's processes each sending reaches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field
from taskflow_chassis.types import utc_column

from taskflow_web.tables import WebTable


class FormSending(WebTable, table=True):
    """One change (PATCH, DELETE) of one rendering of a form: claimed before it reaches
    the API, then holding the API's answer. Keyed by a hash of the session and the form's
    idempotency key (sessions.rules.idempotency_key): no session id nor body in the clear."""

    __tablename__ = "web_form_sendings"

    key: str = Field(primary_key=True, max_length=64)
    claimed_at: datetime = Field(sa_column=utc_column(index=True))
    # The API's answer once it came: its status, the headers a page reads, the body.
    status: int | None = Field(default=None)
    headers: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))

"""The comment forms (bounded here, judged by the API)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from taskflow_web.pages.schemas import WebForm
from taskflow_web.projects.schemas import Version


class CommentForm(WebForm):
    body: Annotated[str, Field(default="", max_length=20_000)]
    version: Version

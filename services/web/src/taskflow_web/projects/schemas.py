"""The projects pages' forms (bounded here, judged by the API)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from taskflow_web.pages.schemas import WebForm

# An ETag as the page showed it: the change is made only if the resource is still so.
Version = Annotated[str, Field(default="", max_length=80)]


class ProjectForm(WebForm):
    name: Annotated[str, Field(default="", max_length=400)]
    description: Annotated[str, Field(default="", max_length=20_000)]


class ArchiveForm(WebForm):
    archived: bool = True
    version: Version


class VersionForm(WebForm):
    """A change of one resource as the page showed it (delete, remove an assignee)."""

    version: Version


class RestoreForm(WebForm):
    pass

"""A task's comments through work's public API (oldest first), each with its author's
name and its version for ``If-Match``."""

from __future__ import annotations

import uuid
from typing import Any

from taskflow_web.api.service import Api
from taskflow_web.projects.rules import person_name
from taskflow_web.projects.service import LIST_LIMIT, if_match, version_of

COMMENTS = "/api/v1/comments"


def shown(comment: dict[str, Any], version: str) -> dict[str, Any]:
    return {**comment, "version": version, "author_name": person_name(comment.get("author"))}


async def comments(api: Api, task_id: uuid.UUID) -> list[dict[str, Any]]:
    page: dict[str, Any] = await api.get(f"/api/v1/tasks/{task_id}/comments", {"limit": LIST_LIMIT})
    return [shown(item, version_of(item)) for item in page.get("items", [])]


async def comment(api: Api, comment_id: uuid.UUID) -> dict[str, Any]:
    found, tag = await api.get_tagged(f"{COMMENTS}/{comment_id}")
    return shown(found, tag or version_of(found))


async def add_comment(api: Api, task_id: uuid.UUID, body: str) -> dict[str, Any]:
    created: dict[str, Any] = await api.post(f"/api/v1/tasks/{task_id}/comments", {"body": body})
    return created


async def edit_comment(api: Api, comment_id: uuid.UUID, body: str, version: str) -> dict[str, Any]:
    changed: dict[str, Any] = await api.call(
        "PATCH", f"{COMMENTS}/{comment_id}", json={"body": body}, headers=if_match(version)
    )
    return changed


async def delete_comment(api: Api, comment_id: uuid.UUID, version: str) -> None:
    await api.call("DELETE", f"{COMMENTS}/{comment_id}", headers=if_match(version))

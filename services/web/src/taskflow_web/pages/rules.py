"""Pure rules of pages: a problem document's errors placed next to the form's fields, and
where a sign-in may send the person back to."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

DEFAULT_NEXT = "/teams"
# The 503 page's Retry-After (seconds) when the API gave none (it did not answer at all).
UNAVAILABLE_RETRY_AFTER = "5"


def field_errors(
    errors: Iterable[Mapping[str, Any]],
    fields: Iterable[str],
    aliases: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """``errors[]`` of a problem document split into messages by form field (the first
    per field) and messages for the top of the form (fields the form does not show).
    ``aliases`` maps an API field name to the form's where they differ."""
    shown = set(fields)
    by_field: dict[str, str] = {}
    other: list[str] = []
    for error in errors:
        name = str(error.get("field") or "")
        name = (aliases or {}).get(name, name)
        message = str(error.get("msg") or error.get("detail") or "This value is not valid.")
        if name in shown:
            by_field.setdefault(name, _sentence(message))
        else:
            other.append(_sentence(message))
    return by_field, other


def _sentence(message: str) -> str:
    message = message.strip()
    message = message.removeprefix("Value error, ")
    return message[:1].upper() + message[1:] if message else message


def safe_next(target: str | None) -> str:
    """A path on this site only: never another host (an open redirect), never the sign-in
    pages themselves."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return DEFAULT_NEXT
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return DEFAULT_NEXT
    if parts.path in {"/login", "/logout", "/signup"}:
        return DEFAULT_NEXT
    return target


def page_above(path: str, is_page: Callable[[str], bool]) -> str:
    """The nearest address at or above ``path`` that is a page: a form's own address
    often answers only POST (``/tasks/1/move`` belongs to the page ``/tasks/1``)."""
    parts = path.rstrip("/").split("/")
    while len(parts) > 1:
        candidate = "/".join(parts)
        if is_page(candidate):
            return candidate
        parts.pop()
    return DEFAULT_NEXT

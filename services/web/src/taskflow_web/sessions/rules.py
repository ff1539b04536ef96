"""Pure rules of sessions and CSRF: hashing, expiry, token and origin checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A request seen within this long of the last one does not write last_seen_at again.
TOUCH_INTERVAL = timedelta(minutes=1)


def new_secret() -> str:
    """A random session id or CSRF token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")


def shortened(text: str, length: int) -> str:
    """``text`` cut to at most ``length`` characters, an ellipsis where it was cut (a
    message naming what people typed can outrun its column)."""
    return text if len(text) <= length else text[: length - 1] + "…"


def well_formed_id(session_id: str) -> bool:
    """What ``new_secret`` makes (43 URL-safe characters); anything else in a cookie is
    forged or garbled, and gets a new id."""
    return SESSION_ID.fullmatch(session_id) is not None


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def expiry(now: datetime, created_at: datetime, idle: timedelta, longest: timedelta) -> datetime:
    """The idle end, never past the absolute end counted from sign-in (or creation)."""
    return min(now + idle, created_at + longest)


def needs_touch(now: datetime, last_seen_at: datetime) -> bool:
    return now - last_seen_at >= TOUCH_INTERVAL


def needs_refresh(now: datetime, access_expires_at: datetime | None, margin_seconds: int) -> bool:
    return access_expires_at is not None and access_expires_at - now <= timedelta(
        seconds=margin_seconds
    )


def form_token(csrf_token: str) -> str:
    """The CSRF token as one rendering of a page carries it: with a random part of its
    own after a dot, which names that rendering's forms (a form sent twice, by a double
    click or a reload, is one intent: see ``idempotency_key``)."""
    return f"{csrf_token}.{secrets.token_urlsafe(12)}"


def split_form_token(presented: str | None) -> tuple[str | None, str | None]:
    """A presented token's CSRF part and its rendering's part (None where it has none)."""
    if not presented:
        return None, None
    token, _, rendering = presented.partition(".")
    return token, rendering or None


def idempotency_key(
    rendering: str, method: str, path: str, body: Any, precondition: str | None
) -> str:
    """The API's ``Idempotency-Key`` for a call a form's post makes: the same for the same
    call from the same rendering of the form (its second sending gets the first answer),
    another for another call or another rendering."""
    material = json.dumps([rendering, method, path, body, precondition], default=str)
    return hashlib.sha256(material.encode()).hexdigest()


def csrf_matches(expected: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(expected.encode(), (presented or "").encode())


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(
    origin: str | None, fetch_site: str | None, host: str | None, allowed: frozenset[str]
) -> bool:
    """A browser names where a form came from (``Origin``, else ``Sec-Fetch-Site``); a
    request that names neither (an old browser, a script without a browser) is judged by
    its CSRF token alone. ``allowed`` holds the public web origin; the origin of the host
    the request was addressed to (``Host``, kept by the gateway) counts too."""
    if origin is not None and origin != "null":
        candidates = set(allowed)
        if host:
            candidates |= {f"http://{host}".lower(), f"https://{host}".lower()}
        return origin.lower().rstrip("/") in candidates
    if origin == "null":
        # What a browser sends for a form posted without scripts under Referrer-Policy
        # no-referrer (the gateway's): the page's own form when Sec-Fetch-Site says so.
        return fetch_site == "same-origin"
    if fetch_site is not None:
        return fetch_site in {"same-origin", "none"}
    return True

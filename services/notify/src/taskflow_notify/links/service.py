"""The pages links open: a small self-contained HTML document each (no script, no outside
file), and the API calls they name with the link's token filled in (escaped)."""

from __future__ import annotations

import html

from fastapi.responses import HTMLResponse


def page(title: str, *paragraphs: str) -> HTMLResponse:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    document = (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} - TaskFlow</title></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n{body}\n"
        '<p><a href="/docs">The API reference</a></p></body></html>\n'
    )
    return HTMLResponse(document, headers={"Cache-Control": "no-store"})


def call(method: str, path: str, body: str | None = None, signed_in: bool = False) -> str:
    parts = [f"<code>{method} {html.escape(path, quote=False)}</code>"]
    if body is not None:
        parts.append(f" with the JSON body <code>{html.escape(body, quote=False)}</code>")
    if signed_in:
        parts.append(", signed in (<code>Authorization: Bearer &lt;access token&gt;</code>)")
    return "".join(parts)


def token_json(token: str, extra: str = "") -> str:
    return '{"token": "' + token.replace("\\", "\\\\").replace('"', '\\"') + '"' + extra + "}"

"""uvicorn's HTTP protocol (httptools), answering with a problem document what never
reaches the app: a URL over the guard's limit (414, refused while it arrives, so it is
never held whole) and a request the parser refuses (400), where uvicorn would answer
plain text. Its URL parser gives up past 64 KiB; the guard's limit is well below.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from taskflow_chassis.edge import EdgeLimits
from taskflow_chassis.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE

# Statuses answered before a request exists: no route, no correlation id, nothing logged
# beyond uvicorn's warning.
_REFUSALS = {
    400: ("Bad Request", "about:blank", "The request is not valid HTTP."),
    414: ("URI too long", PROBLEM_TYPE_BASE + "uri-too-long", None),
}


# After refusing, what the client still sends is read and dropped this long before the
# connection closes: closed at once with unread data, the kernel would reset it and the
# client might never read the answer.
LINGER_SECONDS = 2.0


class _UrlTooLong(Exception):
    pass


@functools.cache
def _max_url_bytes() -> int:
    return EdgeLimits().max_url_bytes  # read once per process, not per connection


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_url_bytes = _max_url_bytes()
        self.url_too_long = False
        self.refused = False

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.max_url_bytes:
            self.url_too_long = True
            raise _UrlTooLong  # httptools stops parsing: data_received answers

    def data_received(self, data: bytes) -> None:
        if not self.refused:
            super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        status = 414 if self.url_too_long else 400
        title, kind, detail = _REFUSALS[status]
        detail = detail or f"The path and query are limited to {self.max_url_bytes} bytes."
        body = json.dumps({"type": kind, "title": title, "status": status, "detail": detail})
        head = [f"HTTP/1.1 {status} {title}\r\n".encode()]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                f"content-type: {PROBLEM_MEDIA_TYPE}\r\n".encode(),
                f"content-length: {len(body)}\r\n".encode(),
                b"connection: close\r\n\r\n",
                body.encode(),
            ]
        )
        self.transport.write(b"".join(head))
        self.refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

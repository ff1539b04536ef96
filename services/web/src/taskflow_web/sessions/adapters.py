"""What sessions keep outside the database: the key that encrypts tokens at rest, and the
cookie that carries the session id."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from taskflow_chassis.cipher import KeyedCipher, KeySetting


class TokenCipher(KeyedCipher):
    """Encrypts the API tokens a session keeps; a token encrypted with another key reads as
    None (the session is then treated as signed out)."""

    setting = KeySetting(
        service="web",
        variable="WEB_TOKEN_KEY",
        required_by="WEB_REQUIRE_TOKEN_KEY",
        file_name="token-key",
        what="the token key",
    )


class SessionCookie:
    """Sets or clears the session cookie on whatever answers the request (a page, a
    redirect, an error), as the request's session dependency asked in
    ``scope["state"]["session_cookie"]``: the new id, or "" to clear it."""

    def __init__(self, app: ASGIApp, *, name: str, max_age: int) -> None:
        self.app, self.name, self.max_age = app, name, max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = scope.get("state", {}).get("session_cookie")
                if value is not None:
                    headers = MutableHeaders(scope=message)
                    headers.append("Set-Cookie", self.cookie(value))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def cookie(self, value: str) -> str:
        max_age = self.max_age if value else 0
        return f"{self.name}={value}; Max-Age={max_age}; Path=/; HttpOnly; Secure; SameSite=Lax"

"""What sessions keep outside the database: the key that encrypts tokens at rest, and the
cookie that carries the session id."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from taskflow_chassis.deployment import PLACEHOLDER, UnsafeConfiguration

KEY_FILE = "token-key"


class TokenCipher:
    """Encrypts the API tokens a session keeps (Fernet: AES-128-CBC with HMAC-SHA256)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._key = key

    def mac(self, purpose: str, value: str) -> str:
        """A keyed digest of ``value`` for ``purpose`` (HMAC-SHA256 under the same key):
        what only web can compute, the same on every replica."""
        message = f"{purpose}\n{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, stored: str) -> str | None:
        """The token, or None where it was encrypted with another key (then the session
        is treated as signed out)."""
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            return None

    @classmethod
    def load_or_create(
        cls,
        *,
        data_dir: Path,
        key: str = "",
        key_file: Path | None = None,
        require_configured: bool = False,
    ) -> TokenCipher:
        """The configured key (WEB_TOKEN_KEY, WEB_TOKEN_KEY_FILE), else one generated under
        ``data_dir/keys`` at first run and kept there, as auth keeps its signing key."""
        configured = key_file.read_text().strip() if key_file else key.strip()
        if configured == PLACEHOLDER:
            raise UnsafeConfiguration(
                "web: refusing to start: the token key (WEB_TOKEN_KEY or the file "
                "WEB_TOKEN_KEY_FILE names) is still the placeholder; give a Fernet key"
            )
        if configured:
            return cls(configured.encode())
        if require_configured:
            # Replicas that each generated a key could not read each other's sessions.
            raise UnsafeConfiguration(
                "web: refusing to start: WEB_REQUIRE_TOKEN_KEY is set (several replicas share "
                "one key) but neither WEB_TOKEN_KEY nor WEB_TOKEN_KEY_FILE is"
            )
        key_dir = data_dir / "keys"
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = key_dir / KEY_FILE
        if not path.exists():
            _create_once(path, Fernet.generate_key())
        return cls(path.read_bytes().strip())


def _create_once(path: Path, data: bytes) -> None:
    """Write ``path`` whole, unless it exists: of two processes starting at once, the
    second keeps the first one's key (a hard link never replaces a file)."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)


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

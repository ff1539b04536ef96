"""A service's key for secrets it must keep readable (Fernet: AES-128-CBC with HMAC-SHA256).

Web keeps the API tokens of its sessions with one, notify the signing secrets of webhooks.
Production passes the key (``<SERVICE>_..._KEY`` or ``..._KEY_FILE``, from a secret); in
development, without one, a key is generated under ``<data_dir>/keys`` at first run and kept
there (never committed), as auth keeps its signing key. Replicas must share one key: the
``..._REQUIRE_...`` setting makes a service refuse to start without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

from cryptography.fernet import Fernet, InvalidToken

from taskflow_chassis.deployment import PLACEHOLDER, UnsafeConfiguration

__all__ = ["KeySetting", "KeyedCipher"]


@dataclass(frozen=True)
class KeySetting:
    """How a service names its key: in messages to the operator, and its file."""

    service: str  # "web"
    variable: str  # "WEB_TOKEN_KEY" (its file: the same with _FILE)
    required_by: str  # "WEB_REQUIRE_TOKEN_KEY"
    file_name: str  # "token-key", under <data_dir>/keys
    what: str  # "the token key"


class KeyedCipher:
    """Encrypts and decrypts a service's secrets under its key; subclasses name the key."""

    setting: ClassVar[KeySetting]

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._key = key

    def mac(self, purpose: str, value: str) -> str:
        """A keyed digest of ``value`` for ``purpose`` (HMAC-SHA256 under the same key):
        what only this service can compute, the same on every replica."""
        message = f"{purpose}\n{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, stored: str) -> str | None:
        """The secret, or None where it was encrypted with another key."""
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
    ) -> Self:
        """The configured key (the setting or the file it names), else one generated under
        ``data_dir/keys`` at first run and kept there."""
        named = cls.setting
        configured = key_file.read_text().strip() if key_file else key.strip()
        if configured == PLACEHOLDER:
            raise UnsafeConfiguration(
                f"{named.service}: refusing to start: {named.what} ({named.variable} or the "
                f"file {named.variable}_FILE names) is still the placeholder; give a Fernet key"
            )
        if configured:
            return cls(configured.encode())
        if require_configured:
            # Replicas that each generated a key could not read each other's secrets.
            raise UnsafeConfiguration(
                f"{named.service}: refusing to start: {named.required_by} is set (several "
                f"replicas share one key) but neither {named.variable} nor "
                f"{named.variable}_FILE is"
            )
        key_dir = data_dir / "keys"
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = key_dir / named.file_name
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

"""Several auth replicas must share one configured signing key, or auth does not start."""

from __future__ import annotations

from pathlib import Path

import pytest
from taskflow_auth.keys.service import KeyStore, SigningKey
from taskflow_chassis.deployment import UnsafeConfiguration


def test_a_required_key_that_is_missing_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(UnsafeConfiguration, match="AUTH_SIGNING_KEY_PEM"):
        KeyStore.load_or_create(data_dir=tmp_path, private_key_pem="", require_configured=True)
    assert not (tmp_path / "keys").exists()  # nothing generated for this replica alone


def test_a_required_key_that_is_configured_is_used(tmp_path: Path) -> None:
    pem = SigningKey.generate("RS256").pem()
    first = KeyStore.load_or_create(
        data_dir=tmp_path / "a", private_key_pem=pem.decode(), require_configured=True
    )
    second = KeyStore.load_or_create(
        data_dir=tmp_path / "b", private_key_pem=pem.decode(), require_configured=True
    )
    assert first.current.kid == second.current.kid


def test_the_auth_setting_reaches_the_key_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskflow_auth.app import create_app
    from taskflow_auth.config import AuthSettings

    monkeypatch.setenv("AUTH_REQUIRE_SIGNING_KEY", "true")
    settings = AuthSettings(data_dir=tmp_path)
    assert settings.require_signing_key is True
    with pytest.raises(UnsafeConfiguration):
        create_app(settings)


def test_the_placeholder_key_of_the_cluster_secret_stops_start_up(tmp_path: Path) -> None:
    file = tmp_path / "signing-key.pem"
    file.write_text("change-me\n")
    with pytest.raises(UnsafeConfiguration, match="placeholder"):
        KeyStore.load_or_create(data_dir=tmp_path, private_key_file=file, require_configured=True)
    with pytest.raises(UnsafeConfiguration, match="placeholder"):
        KeyStore.load_or_create(data_dir=tmp_path, private_key_pem="change-me")

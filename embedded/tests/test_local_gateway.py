"""``make up``'s gateway: the real Traefik where one is on PATH, else the emulator."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml
from taskflow_embedded.local import LocalStack, serve_gateway


def test_a_traefik_on_path_is_run_with_gateway_s_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Traefik binary here: a stand-in records how ``make up`` would start it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "traefik"
    record = tmp_path / "args"
    fake.write_text(f'#!/bin/sh\necho "$@" > {record}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    stack = LocalStack(data_dir=tmp_path / "var", gateway_port=8765, base_port=9300)
    serve_gateway(stack)
    static = tmp_path / "var" / "traefik" / "traefik.yml"
    assert record.read_text().split() == [f"--configFile={static}"]
    config = yaml.safe_load(static.read_text())
    assert config["entryPoints"] == {
        "websecure": {"address": "127.0.0.1:8765"},
        # web's (WEB_API_URL), next to it: the browser's address web sends is kept.
        "internal": {
            "address": "127.0.0.1:8766",
            "forwardedHeaders": {"trustedIPs": ["127.0.0.1"], "notAppendXForwardedFor": True},
        },
    }
    assert stack.environment("web")["WEB_API_URL"] == "http://127.0.0.1:8766"
    dynamic = yaml.safe_load(Path(config["providers"]["file"]["filename"]).read_text())
    servers = dynamic["http"]["services"]["teams"]["loadBalancer"]["servers"]
    assert servers == [{"url": "http://127.0.0.1:9301"}]

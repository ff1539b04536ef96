"""A notification's link stays on the site, whether web renders it (``href_of``) or
app.js builds it for a live notification (``hrefOf``, run in node on the real file)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from taskflow_chassis.testing import in_ci
from taskflow_web.notifications.rules import href_of
from taskflow_web.pages.service import STATIC_DIR


def test_a_notification_link_never_leaves_the_site() -> None:
    """A link whose path starts with a backslash is another host to a browser (it reads
    ``/\\evil.example`` as ``//evil.example``)."""
    task = "00000000-0000-0000-0000-000000000001"
    for link in (
        "https://taskflow.example/\\evil.example/x",
        "/\\evil.example",
        "/\\/evil.example",
        "https://evil.example//evil.example",
    ):
        assert href_of({"link": link, "task_id": task}) == f"/tasks/{task}", link
    assert href_of({"link": "https://taskflow.example/tasks/1?x=2"}) == "/tasks/1?x=2"
    assert href_of({"link": "//evil.example/tasks/1"}) == "/tasks/1"  # its path, here


def test_a_live_notification_link_never_leaves_the_site() -> None:
    """app.js builds a live notification's link itself (hrefOf): the same rule as the
    server's, run in node on the real file. ``https://x//evil.example`` kept the path
    ``//evil.example``, which a browser opens as another host."""
    node = shutil.which("node")
    if node is None:
        if in_ci():
            pytest.fail("node is needed to run app.js's rules")
        pytest.skip("no node to run app.js's rules")
    source = (STATIC_DIR / "app.js").read_text()
    found = re.search(r"\n  function hrefOf\(n\) \{\n.*?\n  \}\n", source, re.S)
    assert found, "app.js has no hrefOf"
    task = "00000000-0000-0000-0000-000000000001"
    links = [
        "https://taskflow.example//evil.example/x",
        "https://taskflow.example/\\evil.example",
        "/\\/evil.example",
        "//evil.example//evil.example",
        "https://taskflow.example/tasks/1?x=2",
    ]
    script = (
        "globalThis.window = {location: {href: 'https://taskflow.example/notifications'}};"
        + found.group(0)
        + f"console.log(JSON.stringify({json.dumps(links)}.map("
        + f"l => hrefOf({{link: l, task_id: '{task}'}}))));"
    )
    ran = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True)
    hrefs = json.loads(ran.stdout)
    assert hrefs[:-1] == [f"/tasks/{task}"] * 4, hrefs
    assert hrefs[-1] == "/tasks/1?x=2"

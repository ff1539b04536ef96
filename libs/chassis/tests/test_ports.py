"""Ports for test and benchmark servers: outside the range outgoing connections take,
one block per pytest-xdist worker, never handed out twice."""

from __future__ import annotations

import itertools
import random
import socket

import pytest
from taskflow_chassis import ports
from taskflow_chassis.ports import free_port, free_ports


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    picked = free_ports(8) + [free_port() for _ in range(8)]
    assert len(set(picked)) == len(picked)
    low = ports._ephemeral_low()
    for port in picked:
        assert ports.LOWEST_PORT <= port < low
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))  # free indeed


def test_a_port_someone_listens_on_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    first, end = ports._block()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", first))
        taken.listen()
        monkeypatch.setattr(random, "randrange", lambda _a, _b: end - 1)  # next is first
        assert first not in free_ports(3)


@pytest.mark.parametrize("worker", ["gw0", "gw1", "gw7"])
def test_each_xdist_worker_has_a_block_of_its_own(
    monkeypatch: pytest.MonkeyPatch, worker: str
) -> None:
    blocks = {}
    for name in ("gw0", "gw1", "gw7", worker):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", name)
        blocks[name] = ports._block()
    spans = sorted(set(blocks.values()))
    assert len(spans) == 3
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start  # no overlap

"""TCP ports for the servers a test or a benchmark starts on this machine.

The kernel's own pick (``bind(("127.0.0.1", 0))``) comes from the ephemeral range, where
every outgoing connection (to PostgreSQL, RabbitMQ, another service) also takes its local
port: a port found free there was seen taken before the server bound it, and a stack's
service then failed to start while another process's server answered its health check.
So ports come from below that range, from a block of their own per pytest-xdist worker,
at a random place in the block (two runs side by side rarely meet), checked free, and
never handed out twice by one process.
"""

from __future__ import annotations

import os
import random
import re
import socket
import threading
from pathlib import Path

LOWEST_PORT = 20000
BLOCKS = 8  # pytest-xdist workers that each get a block of their own
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()
_lock = threading.Lock()


def free_ports(count: int = 1) -> list[int]:
    """``count`` distinct ports that nobody listens on now, outside the ephemeral range."""
    first, end = _block()
    if end - first < count * 4:  # no room below the ephemeral range: the kernel's pick
        return [_kernel_pick() for _ in range(count)]
    ports: list[int] = []
    with _lock:
        candidate = random.randrange(first, end)  # noqa: S311 - spreading, not secrecy
        for _ in range(end - first):
            candidate = candidate + 1 if candidate + 1 < end else first
            if candidate not in _handed_out and _bindable(candidate):
                _handed_out.add(candidate)
                ports.append(candidate)
                if len(ports) == count:
                    return ports
    raise RuntimeError(f"no {count} free ports in {first}-{end - 1}")


def free_port() -> int:
    return free_ports(1)[0]


def _block() -> tuple[int, int]:
    """This process's block: [first, end) below the ephemeral range."""
    ceiling = _ephemeral_low()
    size = max(0, (ceiling - LOWEST_PORT) // BLOCKS)
    worker = re.sub(r"\D", "", os.environ.get("PYTEST_XDIST_WORKER", "")) or "0"
    first = LOWEST_PORT + (int(worker) % BLOCKS) * size
    return first, first + size


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _kernel_pick() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

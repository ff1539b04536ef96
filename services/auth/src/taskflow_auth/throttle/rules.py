"""How the throttle names a client address."""

from __future__ import annotations

import ipaddress


def address_key(address: str) -> str:
    """The client address as counted: an IPv6 address by its /64 (one subscriber's
    usual allocation, which a client can roam freely), anything else as given."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)

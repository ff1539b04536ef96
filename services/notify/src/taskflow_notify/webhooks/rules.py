"""Pure rules of webhooks: which event types a team's endpoint may carry, the Standard
Webhooks signature, secrets, the retry schedule, and which addresses may be posted to."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import random
import secrets
from collections.abc import Iterable, Sequence
from typing import Final

from taskflow_contracts import permissions as P
from taskflow_contracts import teams, work
from taskflow_contracts.base import EventPayload

# Every event about a team's things, as the CloudEvent's ``type`` names it, with the read
# scope a personal API token needs to subscribe an endpoint to it (what the event carries
# is what that scope reads). Left out: the invitations' created and resent (they carry the
# invitee's single-use accept link and address, meant for the invitee alone), the v1
# deletions no service publishes now, and team.purged (the team's endpoints are erased
# with it).
EVENT_READ_SCOPES: Final[dict[type[EventPayload], str]] = {
    teams.TeamUpdated: P.TEAMS_READ,
    teams.TeamDeleted: P.TEAMS_READ,
    teams.TeamRestored: P.TEAMS_READ,
    teams.MemberJoined: P.TEAMS_READ,
    teams.MemberRoleChanged: P.TEAMS_READ,
    teams.MemberRemoved: P.TEAMS_READ,
    teams.RoleUpdated: P.TEAMS_READ,
    teams.InvitationAccepted: P.TEAMS_READ,
    teams.InvitationRevoked: P.TEAMS_READ,
    work.ProjectCreated: P.PROJECTS_READ,
    work.ProjectUpdated: P.PROJECTS_READ,
    work.ProjectDeleted: P.PROJECTS_READ,
    work.ProjectRestored: P.PROJECTS_READ,
    work.ProjectPurged: P.PROJECTS_READ,
    work.TaskCreated: P.TASKS_READ,
    work.TaskUpdated: P.TASKS_READ,
    work.TaskAssigned: P.TASKS_READ,
    work.TaskUnassigned: P.TASKS_READ,
    work.TaskDeleted: P.TASKS_READ,
    work.CommentCreated: P.COMMENTS_READ,
}
WEBHOOK_EVENTS: Final[tuple[type[EventPayload], ...]] = tuple(EVENT_READ_SCOPES)
WEBHOOK_EVENT_TYPES: Final[frozenset[str]] = frozenset(e.event_type for e in WEBHOOK_EVENTS)
# Subscribes to every type above, and to those added later.
ALL_EVENTS: Final = "*"

SECRET_PREFIX: Final = "whsec_"
SECRET_BYTES: Final = 32


def unknown_event_types(event_types: Iterable[str]) -> list[str]:
    return sorted(set(event_types) - WEBHOOK_EVENT_TYPES - {ALL_EVENTS})


def normalised_event_types(event_types: Iterable[str]) -> str:
    """What the endpoint row keeps: "*" alone when named, else the types sorted, once each."""
    chosen = set(event_types)
    return ALL_EVENTS if ALL_EVENTS in chosen else " ".join(sorted(chosen))


def wants(event_type_list: str, event_type: str) -> bool:
    return event_type_list == ALL_EVENTS or event_type in event_type_list.split()


def missing_read_scopes(event_types: Iterable[str], scopes: frozenset[str]) -> list[str]:
    """The read scopes an API token holding ``scopes`` lacks to subscribe to ``event_types``
    (``*``: every type's)."""
    chosen = set(event_types)
    needed = {
        scope
        for event, scope in EVENT_READ_SCOPES.items()
        if ALL_EVENTS in chosen or event.event_type in chosen
    }
    return sorted(needed - scopes)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret stands for (its base64 part, decoded)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature: HMAC-SHA256 over ``id.timestamp.body`` (Standard Webhooks)."""
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(
    secrets_in_use: Sequence[str], message_id: str, timestamp: int, body: bytes
) -> str:
    """The ``webhook-signature`` value: one signature per secret in use, space-separated."""
    return " ".join(sign(secret, message_id, timestamp, body) for secret in secrets_in_use)


def retry_delay(
    attempts: int, floor: float, ceiling: float, rng: random.Random | None = None
) -> float:
    """Seconds before attempt ``attempts + 1``: ``floor * 2^(attempts - 1)`` up to ``ceiling``,
    jittered down by up to a half (so endpoints failing together do not retry together),
    never under ``floor``."""
    base = min(ceiling, floor * 2.0 ** max(0, attempts - 1))
    jitter: float = (rng or random).uniform(0.5, 1.0)  # spreads retries; not a secret
    return max(floor, base * jitter)


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# IPv6 forms that carry an IPv4 address a translating network (NAT64, 6to4) or an old
# stack (IPv4-compatible) delivers to: judged by the IPv4 address inside. NAT64's local-use
# prefix may translate to anything the operator chose, so it is refused outright.
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# The only IPv6 addresses posted to (after the forms above): global unicast. Everything
# else is refused, site-local fec0::/10 included (deprecated, still routed in some networks).
IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
# What a caller is told for every refused address: the reason (what a name resolves to,
# or that it does not) is for the log only, so the check is no oracle of internal names.
REFUSED_ADDRESS = "this address is not a public HTTPS address TaskFlow delivers to"


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, where it stands for one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64_WELL_KNOWN or (address in IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: Address, allowed: Sequence[Network] = ()) -> str | None:
    """Why a webhook may not be posted to ``address`` (None: it may), for the log. Refused:
    private, loopback, link-local, multicast, reserved, unspecified and every other
    non-global address, and any IPv6 address outside global unicast 2000::/3 (an IPv6
    address carrying an IPv4 one, mapped, 6to4, Teredo, NAT64 or IPv4-compatible, is judged
    as the IPv4 one), unless one of ``allowed`` holds it."""
    if any(address in network for network in allowed):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address in NAT64_LOCAL_USE:
            return f"{address} is a NAT64 local-use address"
        inside = embedded_ipv4(address)
        if inside is not None:
            address = inside
            if any(address in network for network in allowed):
                return None
        elif address not in IPV6_GLOBAL_UNICAST:
            return f"{address} is not an IPv6 global unicast address"
    for reason, refused in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not global", not address.is_global),
    ):
        if refused:
            return (
                f"{address} is a {reason} address"
                if reason != "not global"
                else (f"{address} is not a public address")
            )
    return None

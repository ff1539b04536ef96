"""TaskFlow contracts: versioned event payloads and the permission catalogue."""

from taskflow_contracts import auth, teams, work
from taskflow_contracts.base import EventPayload, all_event_types, payload_type

__all__ = ["EventPayload", "all_event_types", "auth", "payload_type", "teams", "work"]

"""The audit pages' filter form: a GET form (it changes nothing: no CSRF token), its values
as typed, handed to the API, whose problems come back beside the fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The form's fields, as the API names them (its problems name the same).
FILTER_FIELDS = ("kind", "actor", "since", "until")


@dataclass(frozen=True)
class Filters:
    kinds: list[str] = field(default_factory=list)
    actor: str = ""
    since: str = ""
    until: str = ""

    def params(self) -> dict[str, Any]:
        """The API's query for these filters (empty ones left out)."""
        chosen: dict[str, Any] = {"kind": self.kinds} if self.kinds else {}
        for name in ("actor", "since", "until"):
            value = getattr(self, name).strip()
            if value:
                chosen[name] = value
        return chosen

    def values(self) -> dict[str, str]:
        """The single-valued fields as typed, for the form to show again."""
        return {"actor": self.actor, "since": self.since, "until": self.until}

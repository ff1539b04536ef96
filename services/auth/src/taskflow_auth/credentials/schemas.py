"""Passwords as the API takes them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# The upper bound keeps Argon2's cost bounded; the strength rules are in rules.py.
Password = Annotated[str, Field(min_length=1, max_length=128)]
NewPassword = Annotated[str, Field(min_length=8, max_length=128)]

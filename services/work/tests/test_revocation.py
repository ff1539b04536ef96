"""Tokens auth revoked are refused at the next request, with no call to auth."""

from __future__ import annotations

from typing import Any

from taskflow_chassis.testing import check_revocations_refused


async def test_revoked_tokens_are_refused(world: Any) -> None:
    await check_revocations_refused(world.client, world.tokens, "/api/v1/projects", world.bus)

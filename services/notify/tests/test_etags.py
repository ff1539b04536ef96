"""Entity tags on preferences: GET tags them (304 while current, the defaults too), PUT and
PATCH honour If-Match (412 with the current tag, ``*`` matches, 428 where required), and
two changes at once on one tag: exactly one wins, also on a first write."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

URL = "/api/v1/notifications/preferences"


async def test_preferences_are_tagged_and_changed_only_on_their_current_tag(world: Any) -> None:
    dev = await world.person("dev", team_id=uuid.uuid4())
    headers = dev["headers"]
    read = await world.client.get(URL, headers=headers)
    tag = read.headers["ETag"]
    again = await world.client.get(URL, headers={**headers, "If-None-Match": tag})
    assert again.status_code == 304 and again.headers["ETag"] == tag

    patched = await world.client.patch(
        URL, headers={**headers, "If-Match": tag}, json={"email_on_comment": False}
    )
    assert patched.status_code == 200, patched.text
    new_tag = patched.headers["ETag"]
    assert new_tag != tag
    assert (await world.client.get(URL, headers=headers)).headers["ETag"] == new_tag

    full = {**read.json(), "reminder_lead_hours": 2}
    stale = await world.client.put(URL, headers={**headers, "If-Match": tag}, json=full)
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["etag"] == new_tag and stale.headers["ETag"] == new_tag
    assert (await world.client.get(URL, headers=headers)).json()["reminder_lead_hours"] == 24
    anything = await world.client.put(URL, headers={**headers, "If-Match": "*"}, json=full)
    assert anything.status_code == 200


async def test_two_first_changes_on_one_tag_at_once_one_wins(world: Any) -> None:
    dev = await world.person("dev", team_id=uuid.uuid4())
    headers = dev["headers"]
    for hours in (3, 5, 7):
        tag = (await world.client.get(URL, headers=headers)).headers["ETag"]
        answers = await asyncio.gather(
            *(
                world.client.patch(
                    URL,
                    headers={**headers, "If-Match": tag},
                    json={"reminder_lead_hours": hours + i},
                )
                for i in range(2)
            )
        )
        assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]
        [winner] = [a for a in answers if a.status_code == 200]
        now = await world.client.get(URL, headers=headers)
        assert now.json() == winner.json() and now.headers["ETag"] == winner.headers["ETag"]


async def test_if_match_required_answers_428(world: Any) -> None:
    dev = await world.person("dev", team_id=uuid.uuid4())
    world.app.state.settings.require_if_match = True
    missing = await world.client.patch(URL, headers=dev["headers"], json={"email_reminders": False})
    assert missing.status_code == 428
    assert missing.json()["type"].endswith("/precondition-required")

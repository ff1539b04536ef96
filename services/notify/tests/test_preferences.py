"""Preferences: PATCH changes only the fields sent, validated as PUT validates them."""

from __future__ import annotations

import uuid
from typing import Any

from taskflow_contracts import work

URL = "/api/v1/notifications/preferences"
DEFAULTS = {
    "email_on_assignment": True,
    "email_on_comment": True,
    "email_reminders": True,
    "reminder_lead_hours": 24,
}


async def test_patch_changes_only_the_fields_sent(world: Any) -> None:
    team_id = uuid.uuid4()
    dev = await world.person("dev", team_id=team_id)
    lead = await world.person("lead", team_id=team_id)
    assert (await world.client.get(URL, headers=dev["headers"])).json() == DEFAULTS
    # A first PATCH starts from the defaults.
    patched = await world.client.patch(
        URL, json={"email_on_assignment": False}, headers=dev["headers"]
    )
    assert patched.status_code == 200, patched.text
    assert patched.json() == {**DEFAULTS, "email_on_assignment": False}
    patched = await world.client.patch(URL, json={"reminder_lead_hours": 6}, headers=dev["headers"])
    expected = {**DEFAULTS, "email_on_assignment": False, "reminder_lead_hours": 6}
    assert patched.status_code == 200 and patched.json() == expected
    assert (await world.client.get(URL, headers=dev["headers"])).json() == expected
    # An empty PATCH changes nothing.
    empty = await world.client.patch(URL, json={}, headers=dev["headers"])
    assert empty.status_code == 200 and empty.json() == expected
    # What was patched is what notify acts on: an assignment lands in the feed, no email.
    await world.event(
        work.TaskAssigned(
            task_id=uuid.uuid4(),
            project_id=uuid.uuid4(),
            team_id=team_id,
            title="Yours",
            due_at=None,
            assignee_id=dev["id"],
            assigned_by=lead["id"],
        )
    )
    assert len(await world.feed(dev)) == 1 and world.emails() == []
    # Another person's preferences are untouched.
    assert (await world.client.get(URL, headers=lead["headers"])).json() == DEFAULTS


async def test_patch_is_validated_as_put_is(world: Any) -> None:
    dev = await world.person("dev")
    await world.client.patch(URL, json={"email_on_comment": False}, headers=dev["headers"])
    for bad, field in (
        ({"reminder_lead_hours": 0}, "reminder_lead_hours"),
        ({"reminder_lead_hours": 673}, "reminder_lead_hours"),
        ({"reminder_lead_hours": "soon"}, "reminder_lead_hours"),
        ({"email_reminders": "maybe"}, "email_reminders"),
        ({"email_reminders": None}, "email_reminders"),
        ({"reminder_lead_hours": None}, "reminder_lead_hours"),
        ({"extra": 1}, "extra"),
    ):
        response = await world.client.patch(URL, json=bad, headers=dev["headers"])
        assert response.status_code == 422, bad
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["detail"] and [e["field"] for e in body["errors"]] == [field], body
        # The same value is refused by PUT too.
        put = await world.client.put(URL, json={**DEFAULTS, **bad}, headers=dev["headers"])
        assert put.status_code == 422, bad
    not_objects: list[Any] = [[], "x", 5]
    for not_an_object in not_objects:
        response = await world.client.patch(URL, json=not_an_object, headers=dev["headers"])
        assert response.status_code == 422, not_an_object
    malformed = await world.client.patch(
        URL,
        content=b"{",
        headers={**dev["headers"], "content-type": "application/json"},
    )
    assert malformed.status_code == 422
    # Nothing refused was written.
    assert (await world.client.get(URL, headers=dev["headers"])).json() == {
        **DEFAULTS,
        "email_on_comment": False,
    }


async def test_put_still_sets_all_four_and_patch_needs_a_user(world: Any) -> None:
    dev = await world.person("dev")
    prefs = {**DEFAULTS, "email_reminders": False, "reminder_lead_hours": 48}
    put = await world.client.put(URL, json=prefs, headers=dev["headers"])
    assert put.status_code == 200 and put.json() == prefs
    partial = await world.client.put(URL, json={"email_reminders": True}, headers=dev["headers"])
    assert partial.status_code == 422
    assert (await world.client.patch(URL, json={"email_reminders": True})).status_code == 401
    assert (await world.client.get(URL, headers=dev["headers"])).json() == prefs


async def test_the_patch_schema_offers_no_null(world: Any) -> None:
    document = world.app.openapi()
    assert {"get", "put", "patch"} <= set(document["paths"][URL])
    properties = document["components"]["schemas"]["PreferencesPatch"]["properties"]
    assert set(properties) == set(DEFAULTS)
    for name, schema in properties.items():
        assert "anyOf" not in schema and "default" not in schema, name
        assert schema["type"] in {"boolean", "integer"}, name

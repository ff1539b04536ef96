"""No input, however malformed, gets a 500 from any auth route.

Routes come from the service's own OpenAPI document, so a new route is covered
the day it is added. Each is sent malformed JSON, wrong types, 100 kB strings
and unknown fields, signed in and not.
"""

from __future__ import annotations

from typing import Any

import httpx

BIG = "x" * 100_000


def body_routes(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    routes = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            model: dict[str, Any] = {}
            if content:
                ref = content["schema"]["$ref"].rsplit("/", 1)[-1]
                model = schema["components"]["schemas"][ref]
            routes.append((method.upper(), path, model))
    return routes


def bad_bodies(model: dict[str, Any]) -> list[Any]:
    fields = list(model.get("properties", {}))
    bodies: list[Any] = [
        [],
        "a string",
        12,
        None,
        {"unexpected": "field"},
        {field: BIG for field in fields},
        {field: 12345 for field in fields},
        {field: [1, 2] for field in fields},
        {field: {"nested": True} for field in fields},
        {field: None for field in fields},
        {**{field: "valid-ish-value@example.com" for field in fields}, "extra": 1},
    ]
    return bodies


async def assert_no_500(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> None:
    response = await client.request(method, path, **kwargs)
    assert response.status_code < 500, (
        method,
        path,
        kwargs.get("content", kwargs.get("json")),
        response.text,
    )
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", (method, path)


async def test_no_route_answers_500_to_bad_input(client: httpx.AsyncClient, api: Any) -> None:
    schema = (await client.get("/openapi/auth.json")).json()
    routes = body_routes(schema)
    assert len(routes) >= 15
    signed_in = await api.signed_in()
    anonymous: dict[str, str] = {}
    for headers in (anonymous, signed_in):
        for method, path, model in routes:
            for raw in (b"{not json", b'{"a": ', b"\xff\xfe", BIG.encode()):
                await assert_no_500(
                    client,
                    method,
                    path,
                    content=raw,
                    headers={**headers, "Content-Type": "application/json"},
                )
            for body in bad_bodies(model):
                await assert_no_500(client, method, path, json=body, headers=headers)
    for method, path, _ in routes:
        await assert_no_500(client, method, path, headers={"Authorization": "Bearer " + BIG})
        await assert_no_500(client, method, path, headers={"Authorization": "Basic abc"})


async def test_malformed_json_is_a_clear_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/users", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["title"] == "Malformed JSON"


async def test_unknown_field_is_named(client: httpx.AsyncClient, api: Any) -> None:
    response = await client.post(
        "/api/v1/auth/users",
        json={
            "username": "alice",
            "email": "a@example.com",
            "password": api.password,
            "is_admin": True,
        },
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["is_admin"]


async def test_long_strings_are_refused_not_stored(client: httpx.AsyncClient, api: Any) -> None:
    response = await client.post(
        "/api/v1/auth/users",
        json={"username": "a" * 33, "email": "a@example.com", "password": api.password},
    )
    assert response.status_code == 422
    headers = await api.signed_in()
    big_name = await client.post(
        "/api/v1/participants/register",
        headers=headers,
        json={"phone_number": "+442079460958", "display_name": "n" * 101},
    )
    assert big_name.status_code == 422

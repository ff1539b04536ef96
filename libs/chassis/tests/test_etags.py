"""Entity tags: a strong tag from a representation, 304 on a current If-None-Match, 412 with
the current tag on a stale If-Match (``*`` matches), 428 where If-Match is required, and
the OpenAPI document of each."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI, status
from pydantic import BaseModel
from taskflow_chassis.config import ServiceSettings
from taskflow_chassis.deployment import apply_deployment_defaults
from taskflow_chassis.etags import (
    ETagDep,
    IfMatchDep,
    Precondition,
    etag_of,
    install_etags,
    parse_tags,
)
from taskflow_chassis.openapi import document
from taskflow_chassis.problems import ProblemError, install_problem_handlers


class Thing(BaseModel):
    id: int
    name: str


def make_app(require: bool = False) -> tuple[FastAPI, dict[str, Thing]]:
    app = FastAPI()
    app.state.settings = SimpleNamespace(require_if_match=require)
    install_problem_handlers(app)
    install_etags(app)
    store = {"thing": Thing(id=1, name="first")}

    @app.get("/thing")
    async def read(tag: ETagDep) -> Thing:
        return tag(store["thing"])

    @app.patch("/thing")
    async def rename(name: str, precondition: IfMatchDep, tag: ETagDep) -> Thing:
        precondition.check(store["thing"])
        store["thing"] = Thing(id=1, name=name)
        return tag(store["thing"])

    @app.delete("/thing", status_code=status.HTTP_204_NO_CONTENT)
    async def remove(precondition: IfMatchDep) -> None:
        precondition.check(store["thing"])

    return app, store


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def test_a_tag_is_strong_and_follows_the_representation() -> None:
    one = etag_of(Thing(id=1, name="a"))
    assert one.startswith('"') and one.endswith('"') and not one.startswith("W/")
    assert one == etag_of({"name": "a", "id": 1})  # key order does not matter
    assert one != etag_of(Thing(id=1, name="b"))


def test_tags_are_parsed_from_a_list() -> None:
    assert parse_tags(None) is None
    assert parse_tags('"a", W/"b" ,"c"') == ('"a"', 'W/"b"', '"c"')
    assert parse_tags("*") == ("*",)


def test_a_precondition_compares_strongly() -> None:
    current = etag_of(Thing(id=1, name="a"))
    Precondition(None).check(current)
    Precondition(("*",)).check(current)
    Precondition(('"x"', current)).check(current)
    with pytest.raises(ProblemError) as stale:
        Precondition(('"x"',)).check(current)
    assert stale.value.status == 412 and stale.value.headers["ETag"] == current
    with pytest.raises(ProblemError):
        Precondition((f"W/{current}",)).check(current)  # a weak tag never matches If-Match


async def test_get_tags_and_answers_304_while_current() -> None:
    app, _ = make_app()
    async with client(app) as http:
        first = await http.get("/thing")
        tag = first.headers["ETag"]
        assert tag == etag_of(first.json())
        again = await http.get("/thing", headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == tag
        weak = await http.get("/thing", headers={"If-None-Match": f'"other", W/{tag}'})
        assert weak.status_code == 304
        other = await http.get("/thing", headers={"If-None-Match": '"other"'})
        assert other.status_code == 200 and other.headers["ETag"] == tag


async def test_if_match_412_on_a_stale_tag_and_the_write_answers_its_new_tag() -> None:
    app, store = make_app()
    async with client(app) as http:
        tag = (await http.get("/thing")).headers["ETag"]
        changed = await http.patch("/thing?name=second", headers={"If-Match": tag})
        assert changed.status_code == 200
        new_tag = changed.headers["ETag"]
        assert new_tag != tag and new_tag == (await http.get("/thing")).headers["ETag"]
        stale = await http.patch("/thing?name=third", headers={"If-Match": tag})
        assert stale.status_code == 412
        assert stale.headers["content-type"] == "application/problem+json"
        body = stale.json()
        assert body["type"].endswith("/precondition-failed") and body["etag"] == new_tag
        assert stale.headers["ETag"] == new_tag and body["detail"]
        assert store["thing"].name == "second"
        assert (await http.delete("/thing", headers={"If-Match": tag})).status_code == 412
        assert (await http.delete("/thing", headers={"If-Match": "*"})).status_code == 204
        assert (await http.patch("/thing?name=x", headers={"If-Match": "*"})).status_code == 200
        assert (await http.patch("/thing?name=y")).status_code == 200  # not required here


async def test_if_match_required_answers_428_without_one() -> None:
    app, store = make_app(require=True)
    async with client(app) as http:
        missing = await http.patch("/thing?name=second")
        assert missing.status_code == 428
        assert missing.json()["type"].endswith("/precondition-required")
        assert (await http.delete("/thing")).status_code == 428
        assert store["thing"].name == "first"
        tag = (await http.get("/thing")).headers["ETag"]  # reads need nothing
        assert (await http.patch("/thing?name=x", headers={"If-Match": tag})).status_code == 200


def test_the_document_names_the_headers_and_their_answers() -> None:
    app, _ = make_app()
    schema = document(app.openapi())
    read = schema["paths"]["/thing"]["get"]
    assert "If-None-Match" in {p["name"] for p in read["parameters"]}
    assert "304" in read["responses"] and "ETag" in read["responses"]["200"]["headers"]
    for method in ("patch", "delete"):
        operation = schema["paths"]["/thing"][method]
        assert "If-Match" in {p["name"] for p in operation["parameters"]}
        for answer in ("412", "428"):
            content = operation["responses"][answer]["content"]
            assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    assert "ETag" in schema["paths"]["/thing"]["patch"]["responses"]["200"]["headers"]


async def test_a_browser_may_send_the_tags_and_read_the_etag() -> None:
    app, _ = make_app()
    origin = "https://app.example"
    apply_deployment_defaults(app, ServiceSettings(cors_allow_origins=[origin]))
    async with client(app) as http:
        preflight = await http.options(
            "/thing",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "if-match, if-none-match",
            },
        )
        assert preflight.status_code == 200
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "if-match" in allowed and "if-none-match" in allowed
        read = await http.get("/thing", headers={"Origin": origin})
        assert "etag" in read.headers["access-control-expose-headers"].lower()


async def test_a_browser_may_send_an_idempotency_key_and_see_a_replay() -> None:
    app, _ = make_app()
    origin = "https://app.example"
    apply_deployment_defaults(app, ServiceSettings(cors_allow_origins=[origin]))
    async with client(app) as http:
        preflight = await http.options(
            "/thing",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "idempotency-key",
            },
        )
        assert preflight.status_code == 200
        assert "idempotency-key" in preflight.headers["access-control-allow-headers"].lower()
        read = await http.get("/thing", headers={"Origin": origin})
        exposed = read.headers["access-control-expose-headers"].lower()
        assert "idempotent-replayed" in exposed

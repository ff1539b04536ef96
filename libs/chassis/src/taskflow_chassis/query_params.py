"""Query parameters mean what they say: a parameter the route does not declare, or a
single-valued one given more than once, answers 400 naming it, on every route.

Without this a misspelt filter (``stauts=done``) or one the route lacks answers the
whole unfiltered list, and ``sort=a&sort=b`` silently keeps the last value. A
list-valued parameter (declared as a list) may repeat: its values are OR'ed.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from taskflow_chassis.problems import ProblemError, problem_responses

_SEQUENCES = (list, tuple, set, frozenset)


@dataclass(frozen=True)
class DeclaredQuery:
    """The query parameters of one route: every name it declares, and those that may repeat."""

    names: frozenset[str]
    repeatable: frozenset[str]


def _is_sequence(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_sequence(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return any(_is_sequence(arg) for arg in get_args(annotation))
    return (origin or annotation) in _SEQUENCES


def _dependants(dependant: Dependant) -> Iterable[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def declared_query(dependant: Dependant) -> DeclaredQuery:
    """The query parameters a route's dependency tree declares (pagination's included)."""
    names: set[str] = set()
    repeatable: set[str] = set()
    for each in _dependants(dependant):
        for field in each.query_params:
            annotation = field.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                # A model of query parameters: its fields are the parameters.
                for name, info in annotation.model_fields.items():
                    alias = info.alias or name
                    names.add(alias)
                    if _is_sequence(info.annotation):
                        repeatable.add(alias)
                continue
            names.add(field.alias)
            if _is_sequence(annotation):
                repeatable.add(field.alias)
    return DeclaredQuery(frozenset(names), frozenset(repeatable))


def _named(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _problem(title: str, detail: str, kind: str, names: list[str], msg: str) -> ProblemError:
    return ProblemError(
        400,
        title,
        detail,
        type=kind,
        errors=[
            {"loc": ["query", name], "field": name, "type": kind, "msg": msg} for name in names
        ],
    )


async def refuse_undeclared_query(request: Request) -> None:
    """400 for a query parameter the matched route does not declare, or a single-valued
    one given more than once. Each route's declaration is read once, then kept."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    # By the route's id: a route lives as long as its app, and is not hashable.
    cache: dict[int, DeclaredQuery] = request.app.state.declared_queries
    declared = cache.get(id(route))
    if declared is None:
        declared = cache[id(route)] = declared_query(route.dependant)
    given = request.query_params
    unknown = sorted({name for name in given if name not in declared.names})
    if unknown:
        named = _named(unknown)
        accepted = _named(sorted(declared.names)) or "none"
        raise _problem(
            "Unknown query parameter",
            f"This route takes no {named} (it takes: {accepted}).",
            "unknown-query-parameter",
            unknown,
            "Not a parameter of this route.",
        )
    repeated = sorted(
        {name for name in given if name not in declared.repeatable and len(given.getlist(name)) > 1}
    )
    if repeated:
        raise _problem(
            "Query parameter repeated",
            f"{_named(repeated)} takes one value; it was given more than once.",
            "repeated-query-parameter",
            repeated,
            "Takes one value.",
        )


def install_query_check(app: FastAPI) -> None:
    """Check the query of every route added to ``app`` from now on (call it before
    including the routers), and document its 400 on each."""
    app.state.declared_queries = {}
    app.router.responses = {**problem_responses(400), **app.router.responses}
    app.router.dependencies.append(Depends(refuse_undeclared_query))

"""The handler map: each event parsed once into its class, its handlers run in order."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.failures import PermanentError
from taskflow_chassis.handlers import EventContext, HandlerMap
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork
from taskflow_contracts.base import EventPayload


class WidgetPainted(EventPayload):
    event_type = "taskflow.widgets.widget.painted.v1"
    widget_id: str
    colour: str


class WidgetRepainted(WidgetPainted):
    """The same event type under another class (no ``event_type`` of its own)."""


class WidgetSold(EventPayload):
    event_type = "taskflow.widgets.widget.sold.v1"
    widget_id: str


@dataclass(frozen=True)
class WidgetDeps:
    shop: str


Context = EventContext[WidgetDeps]
DEPS = WidgetDeps(shop="corner")


def painted(data: dict[str, str]) -> CloudEvent:
    return new_event(WidgetPainted.event_type, source="/test", data=data, subject="w1")


def unit_of_work() -> UnitOfWork:
    # Never executes a statement: these handlers only record what they were given.
    return UnitOfWork(AsyncSession(), Publisher("widgets"))


async def test_the_payload_is_parsed_once_and_every_handler_runs_in_order() -> None:
    seen: list[tuple[str, object, Context]] = []

    async def first(payload: WidgetPainted, context: Context) -> None:
        seen.append(("first", payload, context))

    async def second(payload: WidgetPainted, context: Context) -> None:
        seen.append(("second", payload, context))

    async def third(payload: WidgetPainted, context: Context) -> None:
        seen.append(("third", payload, context))

    handlers = HandlerMap({WidgetPainted: [first, second, third], WidgetSold: [third]}, DEPS)
    event = painted({"widget_id": "w1", "colour": "red"})
    uow = unit_of_work()
    await handlers.parse(event).run(uow)

    assert [name for name, _, _ in seen] == ["first", "second", "third"]
    [payload] = {id(payload): payload for _, payload, _ in seen}.values()  # one object
    assert payload == WidgetPainted(widget_id="w1", colour="red")
    [context] = {id(context): context for _, _, context in seen}.values()
    assert context.uow is uow and context.session is uow.session
    assert context.event is event and context.event.subject == "w1"
    assert context.deps is DEPS


async def test_the_payload_is_parsed_into_the_mapped_class() -> None:
    received: list[object] = []

    async def record(payload: WidgetRepainted, context: Context) -> None:
        received.append(payload)

    handlers = HandlerMap({WidgetRepainted: [record]}, DEPS)
    await handlers.parse(painted({"widget_id": "w1", "colour": "blue"})).run(unit_of_work())
    [payload] = received
    assert type(payload) is WidgetRepainted


def test_an_unmapped_type_is_a_permanent_error() -> None:
    handlers = HandlerMap({WidgetSold: []}, DEPS)
    assert not handlers.handles(WidgetPainted.event_type)
    with pytest.raises(PermanentError, match=f"no handler for {WidgetPainted.event_type}"):
        handlers.parse(painted({"widget_id": "w1", "colour": "red"}))


@pytest.mark.parametrize(
    "data",
    [{}, {"widget_id": "w1"}, {"widget_id": ["w1"], "colour": "red"}],
    ids=["empty", "missing-field", "wrong-type"],
)
def test_an_invalid_payload_is_a_permanent_error(data: dict[str, object]) -> None:
    handlers = HandlerMap({WidgetPainted: []}, DEPS)
    event = new_event(WidgetPainted.event_type, source="/test", data=data)
    with pytest.raises(PermanentError, match=f"{event.id}: unreadable payload"):
        handlers.parse(event)


def test_unknown_fields_are_ignored() -> None:
    handlers = HandlerMap({WidgetSold: []})
    event = new_event(
        WidgetSold.event_type, source="/test", data={"widget_id": "w1", "price": "newer field"}
    )
    assert handlers.parse(event).payload == WidgetSold(widget_id="w1")


def test_an_event_type_mapped_twice_is_refused() -> None:
    with pytest.raises(ValueError, match=f"{WidgetPainted.event_type} is mapped twice"):
        HandlerMap({WidgetPainted: [], WidgetRepainted: []})


def test_the_map_lists_its_types_and_is_false_when_empty() -> None:
    handlers = HandlerMap({WidgetPainted: [], WidgetSold: []})
    assert handlers.event_types == [WidgetPainted.event_type, WidgetSold.event_type]
    assert handlers.handles(WidgetSold.event_type) and handlers
    assert not HandlerMap({})
    assert HandlerMap({}).deps is None

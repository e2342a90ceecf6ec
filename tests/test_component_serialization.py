"""``serialize()`` / ``deserialize()`` of single objects (0.9-break 3).

routilux 0.9 documented them on Routine, Slot, Event, Connection, ErrorHandler,
ExecutionRecord, ExecutionTracker and the builtins (``error_handler.deserialize(data)``
in its user guide). Here each writes a small document in the flow and job documents'
safe format (``{"format": "routilux.<kind>", "version": 1, ...}``); ``deserialize``
works on the class (a new object) and on an instance (fills it, as 0.9 did), and bad
input raises SerializationError and changes nothing.
"""

from __future__ import annotations

import copy
import json
import types
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from builtin_helpers import build_flow, outputs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_builtin_routines import ROUND_TRIPS, FrozenDatetime

import routilux.builtin_routines.utils.time_provider as time_provider_module
from routilux import (
    ConditionalRouter,
    Connection,
    ErrorHandler,
    ErrorStrategy,
    Event,
    ExecutionRecord,
    ExecutionTracker,
    Flow,
    JobState,
    Routine,
    Slot,
    register_serializable,
)
from routilux.exceptions import SerializationError

from helpers import Collector, Relay, Source

# -- helpers ------------------------------------------------------------------------------


class ComponentError(Exception):
    """A module-level exception class: stored as ``module:QualifiedName``."""


@register_serializable(name="test_component_serialization.keep_last")
def keep_last(old: Any, new: dict[str, Any]) -> dict[str, Any]:
    return dict(new)


@register_serializable(name="test_component_serialization.note")
def note(**data: Any) -> None:
    NOTED.append(data)


NOTED: list[dict[str, Any]] = []
CALLS: list[str] = []


class Worker(Routine):
    """Two slots wired in ``__init__`` (one with a registered merge function), two
    events, and a method ``__init__`` does not wire."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.work)
        self.define_slot("side", handler=self.side, merge_strategy=keep_last)
        self.define_event("output", ["value"])
        self.define_event("done", [])

    def work(self, value: Any = None, **_: Any) -> None:
        CALLS.append("work")
        self.emit("output", value=value)

    def side(self, **data: Any) -> None:
        CALLS.append("side")

    def wipe(self, **data: Any) -> None:
        """Not a handler: no document may bind a slot to it."""
        CALLS.append("wipe")


def via_json(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(document))
    return result


def refused(
    cls: Any, make: Callable[[], Any], snapshot: Callable[[Any], Any], document: Any
) -> SerializationError:
    """``document`` is refused by the class form and the instance form; the instance
    and the document stay as they were. Returns the class form's error."""
    before = copy.deepcopy(document)
    with pytest.raises(SerializationError) as info:
        cls.deserialize(document)
    target = make()
    state = snapshot(target)
    with pytest.raises(SerializationError) as instance_info:
        target.deserialize(document)
    assert snapshot(target) == state
    assert document == before
    assert instance_info.value.path == info.value.path
    return info.value


# -- ErrorHandler ------------------------------------------------------------------------


def handler_snapshot(handler: ErrorHandler) -> Any:
    return (repr(handler), handler.retryable_exceptions, handler.retry_count)


def rich_handler() -> ErrorHandler:
    handler = ErrorHandler("retry", 4, 0.25, 1.5, (ComponentError, KeyError), True)
    handler.handle_error(KeyError("x"))  # the legacy counter moves to 1
    return handler


def test_error_handler_document_keeps_the_0_9_key_names() -> None:
    """0.9-break 3: serialize() exists and writes strategy, max_retries, retry_delay,
    retry_backoff, retry_count and is_critical, plus retryable_exceptions."""
    document = rich_handler().serialize()
    assert document == {
        "format": "routilux.error_handler",
        "version": 1,
        "strategy": "retry",
        "max_retries": 4,
        "retry_delay": 0.25,
        "retry_backoff": 1.5,
        "retryable_exceptions": [
            "test_component_serialization:ComponentError",
            "builtins:KeyError",
        ],
        "is_critical": True,
        "retry_count": 1,
    }


def test_error_handler_round_trips_on_the_class_and_on_an_instance() -> None:
    """0.9-break 3: ``ErrorHandler.deserialize(data)`` returns a new handler and
    ``handler.deserialize(data)`` (the 0.9 user guide's call) fills that one."""
    original = rich_handler()
    document = via_json(original.serialize())
    built = ErrorHandler.deserialize(document)
    assert built == original
    assert built is not original
    assert built.retryable_exceptions == (ComponentError, KeyError)
    assert built.strategy is ErrorStrategy.RETRY
    assert built.retry_count == 1
    target = ErrorHandler()
    assert target.deserialize(document) is target
    assert target == original
    assert target.retry_count == 1
    assert target.serialize() == document


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        ({"strategy": "explode"}, "$", "Invalid error strategy"),
        ({"retry_delay": -1}, "$", "retry_delay"),
        ({"max_retries": 1.5}, "$.max_retries", "expected int"),
        ({"retry_count": -1}, "$.retry_count", "retry_count must be an int from 0"),
        ({"retryable_exceptions": ["os:system"]}, "$.retryable_exceptions[0]", "BaseException"),
        ({"format": "routilux.flow"}, "$.format", "expected a routilux.error_handler document"),
        ({"version": 7}, "$.version", "unsupported routilux.error_handler version 7"),
        ({"surprise": 1}, "$", "extra fields found (surprise)"),
    ],
)
def test_bad_error_handler_documents_are_refused(
    change: dict[str, Any], where: str, message: str
) -> None:
    """0.9-break 3: bad input -> SerializationError naming where; nothing changes."""
    document = {**via_json(rich_handler().serialize()), **change}
    error = refused(ErrorHandler, lambda: ErrorHandler("skip"), handler_snapshot, document)
    assert error.path == where
    assert message in str(error)


def test_missing_error_handler_field_is_refused() -> None:
    """0.9-break 3: a document missing a field is refused."""
    document = via_json(rich_handler().serialize())
    del document["is_critical"]
    error = refused(ErrorHandler, ErrorHandler, handler_snapshot, document)
    assert "required field missing" in str(error)


# -- Routine and every builtin -----------------------------------------------------------


def routine_snapshot(routine: Routine) -> Any:
    return (
        json.dumps(routine.serialize(), sort_keys=True),
        {name: (id(slot), slot.handler) for name, slot in routine._slots.items()},
        dict(routine._events),
    )


def rich_worker() -> Worker:
    worker = Worker()
    worker.set_config(factor=(1, 2), when=datetime(2024, 1, 2, 3, 4, 5, 6), tags={"a"})
    worker.set_error_handler(ErrorHandler("continue"))
    worker.get_slot("side").handler = note  # type: ignore[union-attr]
    worker.define_event("extra", ["x", "y"])
    return worker


def test_routine_document_is_the_flow_documents_routine_without_id() -> None:
    """0.9-break 3: Routine.serialize() writes what a flow document stores for it."""
    worker = rich_worker()
    document = worker.serialize()
    flow = Flow("f")
    flow.add_routine(worker, "w")
    in_flow = flow.serialize()["routines"][0]
    assert in_flow.pop("id") == "w"
    assert document == {"format": "routilux.routine", "version": 1, **in_flow}
    assert document["class"] == "test_component_serialization:Worker"
    assert [slot["handler"] for slot in document["slots"]] == ["work", None]
    assert document["slots"][1]["handler_function"] == "test_component_serialization.note"


def test_routine_round_trips_on_the_class() -> None:
    """0.9-break 3: ``Routine.deserialize(data)`` builds a routine of the stored class."""
    worker = rich_worker()
    document = via_json(worker.serialize())
    built = Routine.deserialize(document)
    assert type(built) is Worker
    assert built.config() == worker.config()
    assert type(built.get_config("factor")) is tuple
    assert built.get_error_handler() == worker.get_error_handler()
    input_handler = built.get_slot("input").handler  # type: ignore[union-attr]
    assert input_handler == built.work  # type: ignore[attr-defined]
    assert input_handler.__self__ is built  # type: ignore[union-attr]
    assert built.get_slot("side").handler is note  # type: ignore[union-attr]
    assert built.get_slot("side").merge_strategy is keep_last  # type: ignore[union-attr]
    assert built.get_event("extra").output_params == ["x", "y"]  # type: ignore[union-attr]
    assert built.serialize() == document
    assert Worker.deserialize(document).serialize() == document  # the subclass form too
    assert CALLS == []


def test_routine_deserialize_fills_an_instance_and_keeps_its_slots() -> None:
    """0.9-break 3: ``routine.deserialize(data)`` fills that routine (same slot
    objects, so connections survive) and returns it."""
    document = via_json(rich_worker().serialize())
    target = Worker()
    flow = Flow("kept")
    flow.add_routine(Source(), "src")
    flow.add_routine(target, "w")
    flow.connect("src", "output", "w", "input")
    input_slot = target.get_slot("input")
    assert target.deserialize(document) is target
    assert target.get_slot("input") is input_slot
    assert target.serialize() == document
    handler = target.get_slot("input").handler  # type: ignore[union-attr]
    assert handler.__self__ is target  # type: ignore[union-attr]
    job = flow.execute("src", {"count": 2})
    assert job.status == "completed"
    assert CALLS == ["work", "work"]
    CALLS.clear()


@pytest.mark.parametrize("target", [Relay, Collector])
def test_routine_document_of_another_class_is_refused(target: type[Routine]) -> None:
    """0.9-break 3: an instance is filled only from a document of its own class, and
    ``SomeRoutine.deserialize`` builds only that class or a subclass."""
    document = via_json(rich_worker().serialize())
    instance = target()
    before = routine_snapshot(instance)
    with pytest.raises(SerializationError) as info:
        instance.deserialize(document)
    assert info.value.path == "$.class"
    message = f"'test_component_serialization:Worker' is not a {target.__name__} subclass"
    assert message in str(info.value)
    assert routine_snapshot(instance) == before
    with pytest.raises(SerializationError, match=message):
        target.deserialize(document)


def test_routine_instance_is_not_filled_from_a_subclass_document() -> None:
    """0.9-break 3: a document of class B (a subclass of A) fills a B, not an A."""

    class SpecialWorker(Worker):
        pass

    register_serializable(SpecialWorker, name="test_component_serialization.SpecialWorker")
    document = via_json(SpecialWorker().serialize())
    assert type(Worker.deserialize(document)) is SpecialWorker  # the class form: a B
    target = Worker()
    before = routine_snapshot(target)
    with pytest.raises(SerializationError, match=r"describes a .*SpecialWorker, not a Worker"):
        target.deserialize(document)
    assert routine_snapshot(target) == before


@pytest.mark.parametrize(
    ("path", "value", "where", "message"),
    [
        (["class"], "os:system", "$.class", "is not a Routine subclass"),
        (["class"], "antigravity:Flyer", "$.class", "module 'antigravity' is not imported"),
        (
            ["slots", 0, "handler"],
            "wipe",
            "$.slots[0].handler",
            "Worker.wipe is not a slot handler",
        ),
        (["slots", 0, "handler"], "__init__", "$.slots[0].handler", "has no method '__init__'"),
        (["slots", 0, "handler"], "emit", "$.slots[0].handler", "has no method 'emit'"),
        (["slots", 1, "merge_function"], "os:remove", "$.slots[1].merge_function", "no function"),
        (["config"], [], "$.config", "config must be an object"),
        (["config", "bad"], {"$function": "os:system"}, "$.config.bad", "no function"),
        (["error_handler", "strategy"], "explode", "$.error_handler", "Invalid error strategy"),
        (["events", 0, "output_params"], "value", "$.events[0].output_params", "expected list"),
        (["format"], "routilux.flow", "$.format", "expected a routilux.routine document"),
        (["id"], "w", "$", "extra fields found (id)"),
    ],
)
def test_bad_routine_documents_are_refused(
    path: list[Any], value: Any, where: str, message: str
) -> None:
    """0.9-break 3 and Z: bad input -> SerializationError; a document cannot bind a
    slot to a method the class does not wire in __init__; nothing changes."""
    document = via_json(rich_worker().serialize())
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    error = refused(Routine, Worker, routine_snapshot, document)
    assert error.path == where
    assert message in str(error)
    assert CALLS == []


def test_routine_with_an_unconstructible_class_reports_the_constructor_error() -> None:
    """S: an exception from a routine's constructor while loading is a
    SerializationError naming the class, with the original chained."""

    class Grumpy(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.go)
            if GRUMPY["raise"]:
                raise AssertionError("not today")

        def go(self) -> None:
            pass

    register_serializable(Grumpy, name="test_component_serialization.Grumpy")
    document = via_json(Grumpy().serialize())
    GRUMPY["raise"] = True
    try:
        with pytest.raises(SerializationError) as info:
            Routine.deserialize(document)
    finally:
        GRUMPY["raise"] = False
    assert info.value.path == "$.class"
    assert "could not create" in str(info.value)
    assert "Grumpy" in str(info.value)
    assert "AssertionError: not today" in str(info.value)
    assert isinstance(info.value.__cause__, AssertionError)


GRUMPY = {"raise": False}


@pytest.mark.parametrize(("factory", "payloads", "events", "slot"), ROUND_TRIPS)
def test_every_builtin_round_trips_on_its_own(
    factory: Callable[[], Routine],
    payloads: list[dict[str, Any]],
    events: tuple[str, ...],
    slot: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """0.9-break 3: every builtin, configured away from its defaults, serializes on
    its own and comes back (class and instance form) with the same config, slots,
    events and outputs."""
    monkeypatch.setattr(time_provider_module, "datetime", FrozenDatetime)
    monkeypatch.setattr(time_provider_module, "time", types.SimpleNamespace(time=lambda: 1.5))
    routine = factory()
    document = via_json(routine.serialize())
    assert document["format"] == "routilux.routine"
    before = outputs(build_flow(factory(), events=events, slot=slot), payloads, events)
    assert any(before.values())

    built = Routine.deserialize(document)
    filled = type(routine)()
    assert filled.deserialize(document) is filled
    for copy_ in (built, filled):
        assert type(copy_) is type(routine)
        assert copy_.config() == routine.config()
        assert sorted(copy_._events) == sorted(routine._events)
        assert sorted(copy_._slots) == sorted(routine._slots)
        assert copy_.serialize() == document
        assert outputs(build_flow(copy_, events=events, slot=slot), payloads, events) == before


def test_conditional_router_handler_gadgets_are_refused() -> None:
    """Z: the repro's documents binding the router's slot to add_route or
    _validate_config are refused, by the flow loader and by Routine.deserialize."""
    router = ConditionalRouter()
    router.add_route("big", "data['n'] > 10")
    for name in ("add_route", "_validate_config", "set_config", "matching_routes"):
        document = via_json(router.serialize())
        document["slots"][0]["handler"] = name
        error = refused(Routine, ConditionalRouter, routine_snapshot, document)
        assert error.path == "$.slots[0].handler"
        assert f"ConditionalRouter.{name} is not a slot handler" in str(error)
        flow = Flow("g")
        flow.add_routine(Source(), "src")
        flow.add_routine(ConditionalRouter(), "r")
        flow_document = via_json(flow.serialize())
        flow_document["routines"][1]["slots"][0]["handler"] = name
        with pytest.raises(SerializationError) as info:
            Flow.deserialize(flow_document)
        assert info.value.path == "$.routines[1].slots[0].handler"


# -- Slot ---------------------------------------------------------------------------------


def slot_snapshot(slot: Slot) -> Any:
    return (slot.name, slot.handler, slot.merge_strategy, json.dumps(slot._data))


def test_standalone_slot_round_trips_with_its_buffer() -> None:
    """0.9-break 3: Slot.serialize() writes name, handler, merge strategy and the
    standalone buffer (0.9's ``_data``); Slot.deserialize(data) restores them."""
    slot = Slot("inbox", None, note, "append")
    slot.receive({"a": 1})
    slot.receive({"a": (2, 3)})
    document = slot.serialize()
    assert document == {
        "format": "routilux.slot",
        "version": 1,
        "name": "inbox",
        "handler": None,
        "handler_function": "test_component_serialization.note",
        "merge_strategy": "append",
        "merge_function": None,
        "data": {"a": [1, {"$tuple": [2, 3]}]},
    }
    built = Slot.deserialize(via_json(document))
    assert (built.name, built.handler, built.merge_strategy) == ("inbox", note, "append")
    assert built._data == {"a": [1, (2, 3)]}
    assert built.routine is None
    target = Slot()
    assert target.deserialize(via_json(document)) is target
    assert target.serialize() == document
    NOTED.clear()


def test_slot_of_a_routine_round_trips_into_a_slot_of_that_routine() -> None:
    """0.9-break 3: a slot whose handler is a method of its routine is stored by
    name and restored, bound to the routine of the slot it fills."""
    worker = Worker()
    worker.get_slot("side").handler = worker.work  # type: ignore[union-attr]
    document = via_json(worker.get_slot("side").serialize())  # type: ignore[union-attr]
    assert document["handler"] == "work"
    assert document["merge_function"] == "test_component_serialization.keep_last"
    other = Worker()
    slot = other.get_slot("side")
    assert slot is not None
    assert slot.deserialize(document) is slot
    assert slot.handler == other.work  # type: ignore[attr-defined]
    assert slot.handler.__self__ is other  # type: ignore[union-attr]
    assert slot.serialize() == document


def test_slot_with_a_method_handler_needs_its_routine() -> None:
    """0.9-break 3: Slot.deserialize(data) has no routine to bind a method to."""
    document = via_json(Worker().get_slot("input").serialize())  # type: ignore[union-attr]
    with pytest.raises(SerializationError, match="has no routine to bind it to") as info:
        Slot.deserialize(document)
    assert info.value.path == "$.handler"


@pytest.mark.parametrize(
    ("field", "value", "where", "message"),
    [
        ("name", "other", "$.name", "keeps its name"),
        ("handler", "wipe", "$.handler", "Worker.wipe is not a slot handler"),
        ("handler", "__class__", "$.handler", "has no method '__class__'"),
        ("handler_function", "os:system", "$.handler_function", "no function is registered"),
        ("merge_strategy", "bogus", "$.merge_strategy", "unknown merge strategy 'bogus'"),
        ("data", {"$object": "os:system", "fields": {}}, "$.data", "registered"),
        ("data", [1, float("nan")], "$.data[1]", "must be finite"),
    ],
)
def test_bad_slot_documents_are_refused(field: str, value: Any, where: str, message: str) -> None:
    """0.9-break 3 and Z: bad input -> SerializationError; nothing changes."""
    document = via_json(Worker().get_slot("input").serialize())  # type: ignore[union-attr]
    document[field] = value
    if field == "handler_function":
        document["handler"] = None
    target = Worker()
    slot = target.get_slot("input")
    assert slot is not None
    before = slot_snapshot(slot)
    with pytest.raises(SerializationError) as info:
        slot.deserialize(document)
    assert info.value.path == where
    assert message in str(info.value)
    assert slot_snapshot(slot) == before
    assert CALLS == []


# -- Event ----------------------------------------------------------------------------------


def test_event_round_trips() -> None:
    """0.9-break 3: Event.serialize() writes name and output_params."""
    worker = Worker()
    event = worker.get_event("output")
    assert event is not None
    document = event.serialize()
    assert document == {
        "format": "routilux.event",
        "version": 1,
        "name": "output",
        "output_params": ["value"],
    }
    built = Event.deserialize(document)
    assert (built.name, built.output_params, built.routine) == ("output", ["value"], None)
    other = Worker().get_event("output")
    assert other is not None
    other.output_params = []
    assert other.deserialize(document) is other
    assert other.output_params == ["value"]
    with pytest.raises(SerializationError, match="keeps its name") as info:
        other.deserialize({**document, "name": "done"})
    assert info.value.path == "$.name"
    assert other.name == "output"


def test_event_with_non_string_output_params_cannot_be_stored() -> None:
    """0.9-break 3: what serialize writes, deserialize reads: a non-string output
    param is refused when saving (for a flow too)."""
    event = Event("e", None, ["ok", 3])  # type: ignore[list-item]
    with pytest.raises(SerializationError) as info:
        event.serialize()
    assert info.value.path == "$.output_params[1]"
    worker = Worker()
    worker.get_event("done").output_params = [None]  # type: ignore[list-item,union-attr]
    with pytest.raises(SerializationError) as info:
        worker.serialize()
    assert info.value.path == "$.events[1].output_params[0]"


# -- Connection -----------------------------------------------------------------------------


def connected_flow() -> tuple[Flow, Connection]:
    flow = Flow("c")
    flow.add_routine(Source(), "src")
    flow.add_routine(Relay(), "relay")
    connection = flow.connect("src", "output", "relay", "input", {"value": "v"})
    return flow, connection


def test_connection_document_holds_routine_ids_and_names() -> None:
    """0.9-break 3: Connection.serialize() stores both routine ids (0.9 stored only
    names) with the event, the slot and the mapping."""
    _, connection = connected_flow()
    document = connection.serialize()
    assert document == {
        "format": "routilux.connection",
        "version": 1,
        "source": "src",
        "event": "output",
        "target": "relay",
        "slot": "input",
        "param_mapping": {"value": "v"},
    }
    built = Connection.deserialize(via_json(document))
    assert built.source_event is None and built.target_slot is None
    assert (built.source_routine_id, built.target_routine_id) == ("src", "relay")
    assert built.param_mapping == {"value": "v"}
    assert built.serialize() == document
    assert Connection().deserialize(document).serialize() == document


def test_connection_deserialize_sets_the_mapping_of_a_connection_with_those_ends() -> None:
    """0.9-break 3: an instance is given the document's mapping; ends must match."""
    _, connection = connected_flow()
    document = via_json(connection.serialize())
    document["param_mapping"] = {"value": "w"}
    assert connection.deserialize(document) is connection
    assert connection.param_mapping == {"value": "w"}
    for field, value in [("event", "other"), ("slot", "side"), ("source", "x"), ("target", "y")]:
        bad = {**document, field: value, "param_mapping": {}}
        with pytest.raises(SerializationError) as info:
            connection.deserialize(bad)
        assert info.value.path == f"$.{field}"
        assert connection.param_mapping == {"value": "w"}
    with pytest.raises(SerializationError) as info:
        Connection.deserialize({**document, "param_mapping": {"value": 1}})
    assert info.value.path == "$.param_mapping['value']"


def test_connection_with_a_non_string_mapping_cannot_be_stored() -> None:
    """0.9-break 3: what serialize writes, deserialize reads."""
    _, connection = connected_flow()
    connection.param_mapping = {"value": 5}  # type: ignore[dict-item]
    with pytest.raises(SerializationError) as info:
        connection.serialize()
    assert info.value.path == "$.param_mapping"


# -- ExecutionRecord and ExecutionTracker -----------------------------------------------


#: Jobs whose trackers a test uses (a tracker reads its job's history through a weak
#: reference, so the job must stay alive).
JOBS: list[JobState] = []


def finished_job() -> JobState:
    flow = Flow("tracked")
    flow.add_routine(Source(), "src")
    flow.add_routine(Collector(), "sink")
    flow.connect("src", "output", "sink", "input")
    job = flow.execute("src", {"count": 2})
    assert job.status == "completed"
    job.execution_tracker.record_event("src", "manual", "sink", {"n": (1, 2)})
    job.execution_tracker.performance_metrics["calls"] = {1, 2}
    JOBS.append(job)
    return job


def test_execution_record_round_trips_exactly() -> None:
    """0.9-break 3: ExecutionRecord.serialize() writes routine_id, event_name, data
    and the ISO timestamp; deserialize gives an equal record (microseconds kept)."""
    stamp = datetime(2024, 5, 6, 7, 8, 9, 123456)
    record = ExecutionRecord("src", "output", {"value": (1, 2)}, stamp)
    document = record.serialize()
    assert document == {
        "format": "routilux.execution_record",
        "version": 1,
        "routine_id": "src",
        "event_name": "output",
        "data": {"value": {"$tuple": [1, 2]}},
        "timestamp": "2024-05-06T07:08:09.123456",
    }
    built = ExecutionRecord.deserialize(via_json(document))
    assert built == record
    assert built.timestamp == stamp
    target = ExecutionRecord()
    assert target.deserialize(document) is target
    assert target == record
    for history_record in finished_job().get_execution_history():
        # History times are floats; a document keeps them to the microsecond.
        loaded = ExecutionRecord.deserialize(via_json(history_record.serialize()))
        assert (loaded.routine_id, loaded.event_name) == (
            history_record.routine_id,
            history_record.event_name,
        )
        assert loaded.data == history_record.data
        assert abs(loaded.time - history_record.time) < 1e-6
    aware = ExecutionRecord("a", "b", {}, datetime(2024, 1, 1, tzinfo=timezone.utc))
    assert ExecutionRecord.deserialize(aware.serialize()) == aware


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("timestamp", "noon", "$.timestamp"),
        ("timestamp", "2024-13-01T00:00:00", "$.timestamp"),
        ("timestamp", 1700000000, "$.timestamp"),
        ("routine_id", None, "$.routine_id"),
        ("data", {"$set": [[1]]}, "$.data"),
    ],
)
def test_bad_execution_record_documents_are_refused(field: str, value: Any, where: str) -> None:
    """0.9-break 3: bad input -> SerializationError; nothing changes."""
    document = ExecutionRecord("src", "output", {"v": 1}).serialize()
    document[field] = value
    error = refused(
        ExecutionRecord,
        lambda: ExecutionRecord("keep", "me", {"x": 1}, 5.0),
        lambda r: (r.routine_id, r.event_name, r.data, r.time),
        document,
    )
    assert error.path == where


def tracker_snapshot(tracker: ExecutionTracker) -> Any:
    return (
        tracker.flow_id,
        json.dumps(tracker.routine_executions, sort_keys=True),
        repr(tracker.performance_metrics),
        json.dumps(tracker.event_flow, sort_keys=True, default=repr),
        tracker._derive_events,
    )


def test_execution_tracker_round_trips_with_its_event_flow() -> None:
    """0.9-break 3: ExecutionTracker.serialize() writes flow_id, routine_executions,
    performance_metrics and event_flow (0.9's keys); deserialize restores them."""
    tracker = finished_job().execution_tracker
    document = tracker.serialize()
    assert list(document) == [
        "format",
        "version",
        "flow_id",
        "routine_executions",
        "performance_metrics",
        "event_flow",
    ]
    assert [event["event_name"] for event in document["event_flow"]][-1] == "manual"
    built = ExecutionTracker.deserialize(via_json(document))
    assert built.flow_id == "tracked"
    assert built.routine_executions == tracker.routine_executions
    assert built.performance_metrics == {"calls": {1, 2}}
    assert built.event_flow[-1]["data"] == {"n": (1, 2)}
    assert len(built.event_flow) == len(tracker.event_flow)
    assert built.get_routine_performance("src") == tracker.get_routine_performance("src")
    assert built.serialize() == document
    target = ExecutionTracker("other")
    assert target.deserialize(document) is target
    assert target.serialize() == document


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["routine_executions", "src", 0], 5, "$.routine_executions['src'][0]"),
        (["routine_executions", "src"], {}, "$.routine_executions['src']"),
        (["routine_executions", "src", 0, "start_time"], "soon", None),
        (["routine_executions", "src", 0, "start_time"], "2024-01-01T00:00:00+00:00", None),
        (["routine_executions", "src", 0, "routine_id"], "sink", None),
        (["routine_executions", "src", 0, "params"], [], None),
        (["routine_executions", "src", 0, "status"], 1, None),
        (["routine_executions", "src", 0, "execution_time"], "1s", None),
        (["routine_executions", "src", 0, "surprise"], 1, "$.routine_executions['src'][0]"),
        (["event_flow", 0], "event", "$.event_flow[0]"),
        (["event_flow", 0, "timestamp"], "then", "$.event_flow[0].timestamp"),
        (["event_flow", 0, "target_routine_id"], 3, "$.event_flow[0].target_routine_id"),
        (["performance_metrics"], [], "$.performance_metrics"),
        (["flow_id"], None, "$.flow_id"),
    ],
)
def test_bad_execution_tracker_documents_are_refused(
    path: list[Any], value: Any, where: str | None
) -> None:
    """P and 0.9-break 3: every tracker field is checked deeply; nothing changes."""
    document = via_json(finished_job().execution_tracker.serialize())
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    error = refused(
        ExecutionTracker, lambda: finished_job().execution_tracker, tracker_snapshot, document
    )
    expected = where or "$." + path[0] + f"['{path[1]}'][{path[2]}].{path[3]}"
    assert error.path == expected


# -- property: spoiled component documents ----------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
    | st.sampled_from(["os:system", "wipe", "work", "__init__", "$function", "routilux.slot"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _documents() -> list[tuple[Any, Callable[[], Any], Callable[[Any], Any], dict[str, Any]]]:
    worker = rich_worker()
    _, connection = connected_flow()
    return [
        (ErrorHandler, rich_handler, handler_snapshot, rich_handler().serialize()),
        (Routine, Worker, routine_snapshot, worker.serialize()),
        (Slot, Slot, slot_snapshot, Slot("s", None, note, keep_last).serialize()),
        (Event, Event, lambda e: (e.name, e.output_params), Event("e", None, ["a"]).serialize()),
        (
            Connection,
            Connection,
            lambda c: (c.param_mapping, c.source_routine_id),
            connection.serialize(),
        ),
        (
            ExecutionRecord,
            ExecutionRecord,
            lambda r: (r.routine_id, r.data),
            ExecutionRecord("a", "b", {"c": 1}).serialize(),
        ),
        (
            ExecutionTracker,
            ExecutionTracker,
            tracker_snapshot,
            finished_job().execution_tracker.serialize(),
        ),
    ]


DOCUMENTS = _documents()


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_spoiled_component_documents_load_or_raise_serialization_error(
    data: st.DataObject,
) -> None:
    """0.9-break 3 and S: a randomly spoiled document of any kind is either loaded
    or refused with SerializationError (never another exception), the same way by
    the class and the instance form, and a refusal changes nothing."""
    cls, make, snapshot, original = data.draw(st.sampled_from(DOCUMENTS))
    document = via_json(original)
    for _ in range(data.draw(st.integers(1, 3))):
        keys = list(document)
        key = data.draw(st.sampled_from(keys))
        action = data.draw(st.sampled_from(["delete", "replace", "nest"]))
        if action == "delete":
            del document[key]
        elif action == "replace":
            document[key] = data.draw(_json)
        elif isinstance(document[key], (list, dict)) and document[key]:
            inner = document[key]
            places = list(range(len(inner))) if isinstance(inner, list) else list(inner)
            inner[data.draw(st.sampled_from(places))] = data.draw(_json)
    outcomes = []
    target = make()
    before = snapshot(target)
    for attempt in (lambda: cls.deserialize(document), lambda: target.deserialize(document)):
        try:
            attempt()
        except SerializationError as exc:
            outcomes.append(("refused", exc.path))
        else:
            outcomes.append(("loaded", None))
    # The forms agree, but for a routine of another class: the class form builds it,
    # a Worker instance refuses it.
    assert outcomes[0][0] == outcomes[1][0] or cls is Routine
    if outcomes[1][0] == "refused":
        assert snapshot(target) == before
    assert CALLS == []

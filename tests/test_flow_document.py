"""Flows saved as ``routilux.flow`` documents and loaded again."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import uuid
from collections import namedtuple
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from routilux import ErrorHandler, ErrorStrategy, Flow, JobState, Routine, register_serializable
from routilux._context import current_frame
from routilux.exceptions import ConfigurationError, SerializationError

from helpers import Collector, Relay, Source, chain

# -- routines and registered helpers ----------------------------------------------------


class FlowDocError(Exception):
    """A module-level exception class, stored by ``module:QualifiedName``."""


@register_serializable(name="test_flow_document.keep_max")
def keep_max(old: Any, new: dict[str, Any]) -> dict[str, Any]:
    """A merge function: keep the largest value seen per key."""
    merged = dict(old) if isinstance(old, dict) else {}
    for key, value in new.items():
        merged[key] = max(merged.get(key, value), value)
    return merged


@register_serializable(name="test_flow_document.note")
def note(value: Any) -> None:
    """A slot handler that is a registered function: notes values in shared data."""
    frame = current_frame.get()
    assert frame is not None
    job = frame.info.context.job_state
    job.update_shared_data("noted", [*job.get_shared_data("noted", []), value])


@register_serializable(name="test_flow_document.double")
def double(value: int) -> int:
    """A function stored in a routine's config."""
    return value * 2


@register_serializable(name="test_flow_document.Point")
@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


@register_serializable(name="test_flow_document.Colour")
class Colour(enum.Enum):
    RED = 1
    BLUE = 2


Pair = register_serializable(namedtuple("Pair", "left right"), name="test_flow_document.Pair")


class Splitter(Routine):
    """Entry routine with two slots and three events; config decides the offset."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.split)
        self.define_slot("extra", handler=self.extra, merge_strategy="append")
        self.define_event("even", ["value"])
        self.define_event("odd", ["value"])
        self.define_event("total", ["sum"])

    def split(self, count: int = 0, **_: Any) -> None:
        offset = self.get_config("offset", 0)
        for value in range(count):
            self.emit("even" if value % 2 == 0 else "odd", value=value + offset)
        self.emit("total", sum=sum(range(count)) + offset * count)

    def extra(self, **data: Any) -> None:
        pass

    def alternative(self, **data: Any) -> None:
        """Another method, not wired to a slot in __init__: no document may name it."""
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.update_shared_data("alternative", data)


class Scaler(Routine):
    """Multiplies ``value`` by its configured factor (a config function if given)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.scale)
        self.define_slot("side", handler=self.side, merge_strategy="append")
        self.define_event("output", ["value"])
        self.define_event("scaled", ["value", "factor"])

    def scale(self, value: int) -> None:
        function = self.get_config("function")
        factor = self.get_config("factor", 1)
        result = function(value) if function is not None else value * factor
        self.emit("output", value=result)
        self.emit("scaled", value=result, factor=factor)

    def side(self, value: list[Any]) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.update_shared_data(f"side:{ctx.routine_id}", list(value))


class Maxer(Routine):
    """A slot with a registered merge function."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.seen, merge_strategy=keep_max)

    def seen(self, **data: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.update_routine_state(ctx.routine_id, {"max": dict(data)})


class Tagger(Routine):
    """Tags values with its configured label."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.tag)
        self.define_event("output", ["value"])

    def tag(self, value: Any) -> None:
        self.emit("output", value=[self.get_config("label", "?"), value])


class Exploding(Routine):
    """Fails for every value (its error handler decides what happens)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.explode)
        self.define_event("output", ["value"])

    def explode(self, value: Any) -> None:
        raise FlowDocError(f"no {value}")


class NeedsArgument(Routine):
    def __init__(self, required: int) -> None:
        super().__init__()
        self.required = required
        self.define_slot("trigger", handler=self.run)

    def run(self, **_: Any) -> None:
        pass


_TIMING = {"execution_time", "start_time", "end_time", "error_time"}


def outcome(job: JobState) -> dict[str, Any]:
    """What two runs of equivalent flows must agree on (timings aside)."""
    return {
        "status": job.status,
        "routine_states": {
            routine_id: {k: v for k, v in state.items() if k not in _TIMING}
            for routine_id, state in job.routine_states.items()
        },
        "shared_data": job.shared_data,
        "history": [
            (r.routine_id, r.event_name, r.data)
            for r in job.get_execution_history()
            if r.event_name != "completed"
        ],
        "errors": [(e["routine_id"], e["error_type"], e["strategy"]) for e in job.errors],
    }


def json_round_trip(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(document))
    return result


def rich_flow() -> Flow:
    """A flow with several slots and events, every merge strategy, handlers by method
    and by registered function, mappings, error handlers and config."""
    flow = Flow("rich", "concurrent", max_workers=3, history_limit=500)
    splitter = Splitter()
    splitter.set_config(offset=10)
    flow.add_routine(splitter, "split")
    evens, odds = Scaler(), Scaler()
    evens.set_config(factor=3)
    odds.set_config(function=double, factor=2)
    flow.add_routine(evens, "evens")
    flow.add_routine(odds, "odds")
    maxer = Maxer()
    flow.add_routine(maxer, "max")
    noter = Collector()
    noter.get_slot("input").handler = note  # type: ignore[union-attr]
    flow.add_routine(noter, "noter")
    sink = Collector(merge_strategy="append")
    flow.add_routine(sink, "sink")
    flow.connect("split", "even", "evens", "input")
    flow.connect("split", "odd", "odds", "input")
    flow.connect("split", "total", "max", "input", {"sum": "total"})
    flow.connect("evens", "output", "sink", "input")
    flow.connect("odds", "output", "sink", "input", {"value": "odd_value"})
    flow.connect("evens", "scaled", "noter", "input")
    flow.connect("odds", "scaled", "evens", "side")
    evens.set_error_handler(
        ErrorHandler(ErrorStrategy.RETRY, 4, 0.25, 1.5, (FlowDocError, KeyError), True)
    )
    flow.set_error_handler(ErrorHandler("continue", 0, 0, 1, None, False))
    return flow


# -- round trips --------------------------------------------------------------------


def test_document_header_and_flow_settings() -> None:
    flow = rich_flow()
    doc = flow.serialize()
    assert doc["format"] == "routilux.flow"
    assert doc["version"] == 1
    assert doc["flow_id"] == "rich"
    assert doc["execution_strategy"] == "concurrent"
    assert doc["max_workers"] == 3
    assert doc["history_limit"] == 500
    assert [r["id"] for r in doc["routines"]] == ["split", "evens", "odds", "max", "noter", "sink"]
    assert json_round_trip(doc) == doc  # JSON data as it is

    loaded = Flow.deserialize(json_round_trip(doc))
    assert isinstance(loaded, Flow)
    assert loaded is not flow
    assert loaded.flow_id == "rich"
    assert loaded.execution_strategy == "concurrent"
    assert loaded.max_workers == 3
    assert loaded.history_limit == 500
    assert list(loaded.routines) == list(flow.routines)
    assert loaded.serialize() == doc


@pytest.mark.parametrize(
    ("strategy", "workers", "limit"),
    [("sequential", 1, None), ("sequential", 9, 1), ("concurrent", 17, 42)],
)
def test_strategy_max_workers_and_history_limit_round_trip(
    strategy: str, workers: int, limit: int | None
) -> None:
    flow = Flow("settings", strategy, workers, history_limit=limit)
    flow.add_routine(Source(), "src")
    loaded = Flow.deserialize(json_round_trip(flow.serialize()))
    assert loaded.execution_strategy == strategy
    assert loaded._worker_limit == workers
    assert loaded.max_workers == (workers if strategy == "concurrent" else 1)
    assert loaded.history_limit == limit
    job = loaded.execute("src", {"count": 3})
    assert job.history_limit == limit


def test_routines_keep_their_classes_slots_events_and_merge_strategies() -> None:
    flow = rich_flow()
    loaded = Flow.deserialize(json_round_trip(flow.serialize()))
    for routine_id, original in flow.routines.items():
        copy = loaded.routines[routine_id]
        assert type(copy) is type(original)
        assert list(copy._slots) == list(original._slots)
        assert {name: e.output_params for name, e in copy._events.items()} == {
            name: e.output_params for name, e in original._events.items()
        }
        for name, slot in original._slots.items():
            assert copy.get_slot(name).merge_strategy == slot.merge_strategy  # type: ignore[union-attr]
    assert loaded.routines["max"].get_slot("input").merge_strategy is keep_max  # type: ignore[union-attr]
    assert loaded.routines["sink"].get_slot("input").merge_strategy == "append"  # type: ignore[union-attr]
    assert loaded.routines["split"].get_slot("extra").merge_strategy == "append"  # type: ignore[union-attr]
    assert loaded.routines["evens"].get_slot("input").merge_strategy == "override"  # type: ignore[union-attr]
    merge_doc = flow.serialize()["routines"][3]["slots"][0]
    assert merge_doc["merge_strategy"] == "function"
    assert merge_doc["merge_function"] == "test_flow_document.keep_max"


def test_handlers_are_found_again_by_method_name_or_registered_name() -> None:
    flow = rich_flow()
    splitter = flow.routines["split"]
    # Rewired after construction, to another handler the class wires in __init__.
    splitter.get_slot("extra").handler = splitter.split  # type: ignore[attr-defined,union-attr]
    doc = flow.serialize()
    extra_doc = doc["routines"][0]["slots"][1]
    assert extra_doc["handler"] == "split"
    assert extra_doc["handler_function"] is None
    noter_doc = doc["routines"][4]["slots"][0]
    assert noter_doc["handler"] is None
    assert noter_doc["handler_function"] == "test_flow_document.note"

    loaded = Flow.deserialize(json_round_trip(doc))
    new_splitter = loaded.routines["split"]
    # Bound to the new routine, not the old one.
    assert new_splitter.get_slot("extra").handler == new_splitter.split  # type: ignore[attr-defined,union-attr]
    assert new_splitter.get_slot("trigger").handler == new_splitter.split  # type: ignore[attr-defined,union-attr]
    assert new_splitter.get_slot("trigger").handler.__self__ is new_splitter  # type: ignore[union-attr]
    assert loaded.routines["noter"].get_slot("input").handler is note  # type: ignore[union-attr]
    assert loaded.serialize() == doc


def test_a_method_the_class_does_not_wire_cannot_be_stored_as_handler() -> None:
    """Z: a loader binds slots only to the handlers a class wires in __init__, so a
    flow whose slot was rewired to another method is refused when saved, not written
    as a document that no loader would accept."""
    flow = rich_flow()
    splitter = flow.routines["split"]
    splitter.get_slot("extra").handler = splitter.alternative  # type: ignore[attr-defined,union-attr]
    with pytest.raises(SerializationError) as info:
        flow.serialize()
    assert info.value.path == "$.routines[0].slots[1].handler"
    assert "Splitter.alternative, which Splitter.__init__ does not wire to any slot" in str(
        info.value
    )
    assert "register_serializable" in str(info.value)


def test_slot_without_handler_round_trips() -> None:
    flow = chain(("src", Source()), ("sink", Collector()))
    flow.routines["sink"].get_slot("input").handler = None  # type: ignore[union-attr]
    doc = flow.serialize()
    assert doc["routines"][1]["slots"][0]["handler"] is None
    loaded = Flow.deserialize(doc)
    assert loaded.routines["sink"].get_slot("input").handler is None  # type: ignore[union-attr]
    job = loaded.execute("src", {"count": 2})
    assert job.status == "completed"
    assert job.get_routine_state("sink") is None


def test_config_values_of_many_types_keep_their_types() -> None:
    config: dict[str, Any] = {
        "text": "héllo",
        "int": -7,
        "big": 2**80,
        "float": 2.5,
        "bool": True,
        "none": None,
        "tuple": (1, "two", (3.0, None)),
        "set": {1, 2, 3},
        "frozenset": frozenset({"a", "b"}),
        "datetime": datetime(2024, 2, 29, 13, 14, 15, 123456),
        "aware": datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        "date": date(1999, 12, 31),
        "time": time(23, 59, 58, 999),
        "timedelta": timedelta(days=2, seconds=5, microseconds=7),
        "decimal": Decimal("3.14159265358979323846"),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "bytes": b"\x00\xffbin",
        "inf": float("inf"),
        "ninf": float("-inf"),
        "nested": {"a": {"b": [1, {"c": (2, 3)}], "d": {"e": {4, 5}}}, "empty": {}},
        "int_keys": {1: "one", (2, 3): "pair"},
        "dollar_keys": {"$tuple": [1], "$set": "not a tag"},
        "point": Point(1, 2),
        "colour": Colour.BLUE,
        "pair": Pair(left=(1, 2), right={"x"}),
        "function": double,
        "list_of_things": [Point(3, 4), Colour.RED, (5,), {6}],
    }
    flow = Flow("config")
    routine = Scaler()
    routine.set_config(**config, nan=float("nan"))
    flow.add_routine(routine, "scale")
    doc = flow.serialize()
    # Tagged in the document, not turned into lists and strings.
    stored = doc["routines"][0]["config"]
    assert stored["tuple"] == {"$tuple": [1, "two", {"$tuple": [3.0, None]}]}
    assert stored["datetime"] == {"$datetime": "2024-02-29T13:14:15.123456"}
    assert stored["function"] == {"$function": "test_flow_document.double"}

    loaded = Flow.deserialize(json_round_trip(doc))
    got = loaded.routines["scale"].config()
    nan = got.pop("nan")
    assert type(nan) is float
    assert math.isnan(nan)
    assert got == config
    for key, value in config.items():
        assert type(got[key]) is type(value), key
    assert type(got["tuple"][2]) is tuple
    assert type(got["nested"]["a"]["b"][1]["c"]) is tuple
    assert type(got["nested"]["a"]["d"]["e"]) is set
    assert got["aware"].utcoffset() == timedelta(hours=5, minutes=30)
    assert got["function"] is double
    assert got["colour"] is Colour.BLUE
    assert type(got["pair"]) is Pair
    assert type(got["pair"].left) is tuple
    assert loaded.serialize() == doc


def test_config_function_is_used_by_the_loaded_flow() -> None:
    flow = chain(("src", Source()), ("scale", Scaler()), ("sink", Collector()))
    flow.routines["scale"].set_config(function=double)
    loaded = Flow.deserialize(json_round_trip(flow.serialize()))
    job = loaded.execute("src", {"count": 3})
    received = [r["value"] for r in job.get_routine_state("sink")["received"]]  # type: ignore[index]
    assert received == [0, 2, 4]


def test_routine_and_flow_error_handlers_round_trip() -> None:
    flow = rich_flow()
    doc = flow.serialize()
    evens_handler = doc["routines"][1]["error_handler"]
    assert evens_handler == {
        "strategy": "retry",
        "max_retries": 4,
        "retry_delay": 0.25,
        "retry_backoff": 1.5,
        "retryable_exceptions": ["test_flow_document:FlowDocError", "builtins:KeyError"],
        "is_critical": True,
    }
    assert doc["routines"][0]["error_handler"] is None
    assert doc["error_handler"]["strategy"] == "continue"
    assert doc["error_handler"]["retryable_exceptions"] == ["builtins:Exception"]

    loaded = Flow.deserialize(json_round_trip(doc))
    handler = loaded.routines["evens"].get_error_handler()
    assert handler == flow.routines["evens"].get_error_handler()
    assert handler is not flow.routines["evens"].get_error_handler()
    assert handler.retryable_exceptions == (FlowDocError, KeyError)  # type: ignore[union-attr]
    assert handler.strategy is ErrorStrategy.RETRY  # type: ignore[union-attr]
    assert handler.is_critical is True  # type: ignore[union-attr]
    assert loaded.routines["split"].get_error_handler() is None
    assert loaded.get_error_handler() == flow.get_error_handler()
    assert loaded.get_error_handler().strategy is ErrorStrategy.CONTINUE  # type: ignore[union-attr]


@pytest.mark.parametrize("strategy", ["stop", "continue", "skip", "retry"])
def test_error_handlers_govern_the_loaded_flow_as_the_original(strategy: str) -> None:
    def build() -> Flow:
        flow = chain(("src", Source()), ("boom", Exploding()), ("sink", Collector()))
        flow.routines["boom"].set_error_handler(
            ErrorHandler(strategy, max_retries=2, retry_delay=0, retryable_exceptions=FlowDocError)
        )
        return flow

    original = build()
    loaded = Flow.deserialize(json_round_trip(original.serialize()))
    first = original.execute("src", {"count": 2})
    second = loaded.execute("src", {"count": 2})
    assert outcome(second) == outcome(first)
    expected_status = "failed" if strategy == "stop" else "completed"
    assert second.status == expected_status
    if strategy == "retry":
        assert [r.event_name for r in second.get_execution_history("boom")].count("retry") == 4


def test_flow_level_handler_governs_the_loaded_flow() -> None:
    original = chain(("src", Source()), ("boom", Exploding()))
    original.set_error_handler(ErrorHandler("stop"))
    loaded = Flow.deserialize(json_round_trip(original.serialize()))
    job = loaded.execute("src", {"count": 3})
    assert job.status == "failed"
    assert len(job.errors) == 1
    assert job.errors[0]["error_type"] == "FlowDocError"


def test_param_mappings_round_trip_and_apply() -> None:
    flow = Flow("mapping")
    flow.add_routine(Source(), "src")
    flow.add_routine(Collector(), "plain")
    flow.add_routine(Collector(), "renamed")
    flow.connect("src", "output", "plain", "input")
    flow.connect("src", "output", "renamed", "input", {"value": "number", "missing": "x"})
    doc = flow.serialize()
    assert [c["param_mapping"] for c in doc["connections"]] == [
        {},
        {"value": "number", "missing": "x"},
    ]
    loaded = Flow.deserialize(json_round_trip(doc))
    assert [c.param_mapping for c in loaded.connections] == [
        {},
        {"value": "number", "missing": "x"},
    ]
    job = loaded.execute("src", {"count": 2})
    assert job.get_routine_state("plain")["received"] == [{"value": 0}, {"value": 1}]  # type: ignore[index]
    assert job.get_routine_state("renamed")["received"] == [  # type: ignore[index]
        {"number": 0, "value": 0},
        {"number": 1, "value": 1},
    ]
    assert outcome(job) == outcome(flow.execute("src", {"count": 2}))


def test_routines_sharing_event_and_slot_names_are_not_miswired() -> None:
    # a.output -> b.input -> c.input, and every routine has "output" and/or "input".
    def build() -> Flow:
        flow = Flow("names")
        flow.add_routine(Source(), "a")
        first, second = Tagger(), Tagger()
        first.set_config(label="b")
        second.set_config(label="c")
        flow.add_routine(first, "b")
        flow.add_routine(second, "c")
        flow.add_routine(Collector(), "d")
        flow.connect("a", "output", "b", "input")
        flow.connect("b", "output", "c", "input")
        flow.connect("c", "output", "d", "input")
        return flow

    original = build()
    doc = original.serialize()
    assert [(c["source"], c["event"], c["target"], c["slot"]) for c in doc["connections"]] == [
        ("a", "output", "b", "input"),
        ("b", "output", "c", "input"),
        ("c", "output", "d", "input"),
    ]
    loaded = Flow.deserialize(json_round_trip(doc))
    for connection, (source, target) in zip(
        loaded.connections, [("a", "b"), ("b", "c"), ("c", "d")], strict=True
    ):
        assert connection.source_event.routine is loaded.routines[source]  # type: ignore[union-attr]
        assert connection.target_slot.routine is loaded.routines[target]  # type: ignore[union-attr]
    first = original.execute("a", {"count": 3})
    second = loaded.execute("a", {"count": 3})
    received = [r["value"] for r in second.get_routine_state("d")["received"]]  # type: ignore[index]
    assert received == [["c", ["b", 0]], ["c", ["b", 1]], ["c", ["b", 2]]]
    assert outcome(second) == outcome(first)


def test_loaded_rich_flow_gives_the_same_job_results() -> None:
    original = rich_flow()
    original.set_execution_strategy("sequential")  # deterministic history order
    loaded = Flow.deserialize(json_round_trip(original.serialize()))
    first = original.execute("split", {"count": 5})
    second = loaded.execute("split", {"count": 5})
    assert first.status == second.status == "completed"
    assert outcome(second) == outcome(first)
    # The config, mappings, merge function and function handler all took part.
    assert second.shared_data["noted"] == [30, 36, 42]
    assert second.get_routine_state("max") == {"max": {"total": 60, "sum": 60}}
    # The append strategy hands out the live lists (so every delivery shows them all),
    # with only the keys of the new data.
    sink = second.get_routine_state("sink")["received"]  # type: ignore[index]
    assert sink[-1] == {"value": [30, 22, 36, 26, 42]}
    assert sink[-2] == {"value": [30, 22, 36, 26, 42], "odd_value": [22, 26]}
    assert second.shared_data["side:evens"] == [22, 26]


def test_deserialize_on_the_class_returns_a_new_flow() -> None:
    flow = rich_flow()
    doc = flow.serialize()
    first = Flow.deserialize(doc)
    second = Flow.deserialize(doc)
    assert first is not second
    assert first.routines["split"] is not second.routines["split"]
    assert first.serialize() == second.serialize() == doc


def test_deserialize_on_an_instance_fills_and_returns_it() -> None:
    doc = rich_flow().serialize()
    empty = Flow("to-be-replaced")
    result = empty.deserialize(doc)
    assert result is empty
    assert empty.flow_id == "rich"
    assert list(empty.routines) == ["split", "evens", "odds", "max", "noter", "sink"]
    assert empty.execution_strategy == "concurrent"
    assert empty.serialize() == doc
    job = empty.execute("split", {"count": 2})
    assert job.status == "completed"
    assert job.flow_id == "rich"


def test_deserialize_into_a_flow_with_routines_raises_configuration_error() -> None:
    doc = chain(("x", Source()), ("y", Collector())).serialize()
    busy = chain(("src", Source()), ("sink", Collector()))
    before = busy.serialize()
    with pytest.raises(ConfigurationError, match="already has routines"):
        busy.deserialize(doc)
    assert busy.serialize() == before
    assert list(busy.routines) == ["src", "sink"]
    # Filling a flow twice is the same mistake.
    fresh = Flow()
    fresh.deserialize(doc)
    with pytest.raises(ConfigurationError):
        fresh.deserialize(doc)


def test_save_writes_indented_json_and_load_reads_it(tmp_path: Path) -> None:
    flow = rich_flow()
    path = tmp_path / "nested" / "dir" / "flow.json"
    flow.save(path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("{\n  ")
    assert '\n  "format": "routilux.flow"' in text
    assert '\n  "version": 1' in text
    data = json.loads(text)
    assert data["format"] == "routilux.flow"
    assert data["version"] == 1
    assert data == flow.serialize()
    assert sorted(p.name for p in path.parent.iterdir()) == ["flow.json"]

    loaded = Flow.load(path)
    assert isinstance(loaded, Flow)
    assert loaded.serialize() == flow.serialize()
    loaded_str = Flow.load(str(path))
    assert loaded_str.serialize() == flow.serialize()


def test_save_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "flow.json"
    path.write_text("old content that is not JSON", encoding="utf-8")
    flow = chain(("src", Source()), ("sink", Collector()))
    flow.save(path)
    assert Flow.load(path).serialize() == flow.serialize()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow.json"]


def test_loaded_file_runs_like_the_original(tmp_path: Path) -> None:
    original = chain(("src", Source()), ("relay", Relay()), ("sink", Collector("append")))
    original.routines["relay"].set_error_handler(ErrorHandler("skip"))
    original.save(tmp_path / "flow.json")
    loaded = Flow.load(tmp_path / "flow.json")
    first = original.execute("src", {"count": 4})
    second = loaded.execute("src", {"count": 4})
    assert second.status == "completed"
    assert outcome(second) == outcome(first)
    assert second.get_routine_state("sink")["received"][-1] == {"value": [0, 1, 2, 3]}  # type: ignore[index]


def test_load_of_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"flow\.json"):
        Flow.load(tmp_path / "flow.json")


def test_routine_needing_arguments_is_refused_when_saving_and_loading() -> None:
    flow = Flow()
    flow.add_routine(NeedsArgument(1), "needs")
    with pytest.raises(SerializationError, match="needs arguments") as saving:
        flow.serialize()
    assert saving.value.path == "$.routines[0].class"
    # A document naming such a class (written by hand, or by another version) is
    # refused too, when the loader tries to create it.
    doc = Flow().serialize()
    needs = Flow()
    needs.add_routine(Collector(), "needs")
    doc = needs.serialize()
    doc["routines"][0]["class"] = f"{NeedsArgument.__module__}:{NeedsArgument.__qualname__}"
    doc["routines"][0]["slots"] = []
    with pytest.raises(SerializationError, match="without arguments") as loading:
        Flow.deserialize(doc)
    assert loading.value.path == "$.routines[0].class"


# -- what cannot be stored ----------------------------------------------------------


def test_routine_class_defined_in_a_function_fails_until_registered() -> None:
    class LocalRoutine(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["value"])

        def go(self, count: int = 0, **_: Any) -> None:
            for value in range(count):
                self.emit("output", value=value)

    flow = Flow("local")
    flow.add_routine(LocalRoutine(), "local")
    flow.add_routine(Collector(), "sink")
    flow.connect("local", "output", "sink", "input")
    with pytest.raises(
        SerializationError, match="LocalRoutine is defined inside a function"
    ) as info:
        flow.serialize()
    assert info.value.path == "$.routines[0].class"
    assert "register_serializable" in str(info.value)

    register_serializable(LocalRoutine, name="test_flow_document.LocalRoutine")
    doc = flow.serialize()
    assert doc["routines"][0]["class"] == "test_flow_document.LocalRoutine"
    loaded = Flow.deserialize(json_round_trip(doc))
    assert type(loaded.routines["local"]) is LocalRoutine
    job = loaded.execute("local", {"count": 2})
    received = job.get_routine_state("sink")["received"]  # type: ignore[index]
    assert received == [{"value": 0}, {"value": 1}]


def test_lambda_handler_cannot_be_stored() -> None:
    flow = chain(("src", Source()), ("relay", Relay()))
    flow.routines["relay"].get_slot("input").handler = lambda value: None  # type: ignore[union-attr]
    with pytest.raises(SerializationError, match=r"<lambda>.*not registered") as info:
        flow.serialize()
    assert info.value.path == "$.routines[1].slots[0].handler"


def test_method_of_another_routine_cannot_be_stored_as_handler() -> None:
    flow = chain(("src", Source()), ("relay", Relay()))
    other = Relay()
    flow.routines["relay"].get_slot("input").handler = other.relay  # type: ignore[attr-defined,union-attr]
    with pytest.raises(SerializationError, match="not registered") as info:
        flow.serialize()
    assert info.value.path == "$.routines[1].slots[0].handler"


def test_unregistered_merge_function_cannot_be_stored() -> None:
    def merge_latest(old: Any, new: dict[str, Any]) -> dict[str, Any]:
        return new

    flow = chain(("src", Source()), ("sink", Collector(merge_strategy=merge_latest)))
    with pytest.raises(SerializationError, match=r"merge_latest.*not registered") as info:
        flow.serialize()
    assert info.value.path == "$.routines[1].slots[0].merge_strategy"


def test_unregistered_function_in_config_cannot_be_stored() -> None:
    def secret(value: int) -> int:
        return value

    flow = chain(("src", Source()), ("scale", Scaler()))
    flow.routines["scale"].set_config(options={"steps": [1, secret]})
    with pytest.raises(SerializationError, match=r"cannot store the function '.*secret'") as info:
        flow.serialize()
    assert info.value.path == "$.routines[1].config.options.steps[1]"


def test_object_of_unknown_class_in_config_cannot_be_stored() -> None:
    class Opaque:
        pass

    flow = chain(("src", Source()), ("scale", Scaler()))
    flow.routines["scale"].set_config(thing=Opaque())
    with pytest.raises(SerializationError, match=r"cannot store a value of type .*Opaque") as info:
        flow.serialize()
    assert info.value.path == "$.routines[1].config.thing"


def test_unregistered_dataclass_in_config_cannot_be_stored() -> None:
    @dataclasses.dataclass
    class Unregistered:
        x: int

    flow = chain(("src", Source()), ("scale", Scaler()))
    flow.routines["scale"].set_config(point=Unregistered(1))
    with pytest.raises(SerializationError, match="Unregistered") as info:
        flow.serialize()
    assert info.value.path == "$.routines[1].config.point"


def test_unregistered_local_exception_in_error_handler_cannot_be_stored() -> None:
    class LocalError(Exception):
        pass

    flow = chain(("src", Source()), ("scale", Scaler()))
    flow.routines["scale"].set_error_handler(ErrorHandler("retry", retryable_exceptions=LocalError))
    with pytest.raises(SerializationError, match="LocalError") as info:
        flow.serialize()
    assert info.value.path == "$.routines[1].error_handler.retryable_exceptions"


def test_serialized_document_is_a_snapshot_of_the_config() -> None:
    flow = chain(("src", Source()), ("scale", Scaler()))
    flow.routines["scale"].set_config(factor=2, nested={"a": [1]})
    doc = flow.serialize()
    flow.routines["scale"].set_config(factor=3, added=True)
    flow.routines["scale"].get_config("nested")["a"].append(2)
    assert doc["routines"][1]["config"] == {"factor": 2, "nested": {"a": [1]}}
    # ... and changing the document does not change the flow.
    doc["routines"][1]["config"]["factor"] = 99
    doc["routines"][1]["config"]["nested"]["a"].clear()
    assert flow.routines["scale"].config() == {"factor": 3, "nested": {"a": [1, 2]}, "added": True}

"""issue 9 (durable chain): history rows and pending activations kept by column.

``compact_history`` / ``compact_activations`` must describe exactly what
``history_since`` / ``encode_activations`` give row by row (after a JSON round trip,
as a store keeps them), whatever the payloads: the fast path that writes plain JSON
payloads as they are must never let through a value the codec tags (tuples, NaN,
keys starting with ``$``...), and damaged columns must give SerializationError only.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routilux import Flow, JobState, Routine
from routilux.activation import Activation, Activations
from routilux.documents import (
    compact_activations,
    compact_history,
    decode_value,
    encode_activations,
    expand_activations,
    expand_history,
    history_since,
)
from routilux.exceptions import InvalidPayloadError, SerializationError
from routilux.stores import Checkpoint, JobStore

pytestmark = pytest.mark.timeout(120)


def round_trip(value: Any) -> Any:
    return json.loads(json.dumps(value, allow_nan=False))


class Emitter(Routine):
    """Emits each of ``emissions``: ``(kwargs)`` on ``output``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("output")

    def go(self, emissions: list[dict[str, Any]]) -> None:
        job_state = self.require_execution_context().job_state
        for data in emissions:
            self.emit("output", **data)
            job_state.record_execution("emitter", "output", data)  # a record, same name


def emitted(emissions: list[dict[str, Any]]) -> JobState:
    flow = Flow("compact")
    flow.add_routine(Emitter(), "emitter")
    job = flow.execute("emitter", {"emissions": emissions})
    assert job.status == "completed", job.errors
    return job


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and infinities too: the codec tags them
    st.text(max_size=8),
)
values = st.recursive(
    scalars | st.tuples(scalars) | st.datetimes(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
keys = st.sampled_from(["value", "$tag", "x", "$float", "other"])
emission = st.dictionaries(keys, values, max_size=2)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(emissions=st.lists(emission, max_size=6), start=st.integers(0, 4))
def test_history_columns_expand_to_the_rows_history_since_gives(
    emissions: list[dict[str, Any]], start: int
) -> None:
    job = emitted(emissions)
    first, rows = history_since(job, start)
    first_c, count, columns = compact_history(job, start)
    assert (first_c, count) == (first, len(rows))
    assert expand_history(round_trip(columns)) == round_trip(rows)


def test_payloads_the_codec_tags_never_take_the_plain_path() -> None:
    tagged = [
        {"value": (1, 2)},
        {"value": math.nan},
        {"value": -math.inf},
        {"$float": 1},
        {"value": {"$dict": 1}},
        {"value": datetime(2026, 12, 6, 11, 0)},
        {"value": 1, "other": {1, 2}},
    ]
    job = emitted(tagged)
    rows = expand_history(round_trip(compact_history(job)[2]))
    emissions = [row for row in rows if len(row) == 4 and row[1] == "output"]
    assert repr([decode_value(row[2]) for row in emissions]) == repr(tagged)  # NaN != NaN


def test_records_and_emissions_of_one_name_stay_apart() -> None:
    job = emitted([{"value": 1}])
    rows = expand_history(round_trip(compact_history(job)[2]))
    assert [row[1:] for row in rows if row[0] == "emitter" and row[1] == "output"] == [
        ["output", {"value": 1}, rows[1][3]],
        ["output", {"value": 1}, rows[2][3], "record"],
    ]


def test_times_are_kept_exactly() -> None:
    job = emitted([{"value": n} for n in range(50)])
    _, rows = history_since(job, 0)
    expanded = expand_history(round_trip(compact_history(job)[2]))
    assert [row[3] for row in expanded] == [row[3] for row in rows]


def test_an_int_too_long_for_json_text_is_refused_naming_its_row() -> None:
    job = emitted([{"value": 1}])
    job.record_execution("emitter", "huge", {"n": 10**5000 * 10**5000})
    with pytest.raises(SerializationError, match=r"execution_history\[4\]"):
        compact_history(job)


def test_compact_history_checks_its_arguments() -> None:
    with pytest.raises(InvalidPayloadError, match="job_state"):
        compact_history("job")  # type: ignore[arg-type]
    with pytest.raises(InvalidPayloadError, match="index"):
        compact_history(JobState(), -1)


def activation_rows() -> list[tuple[Any, ...]]:
    return [
        ("a", "in", {"value": 1}, "j.0", 0, True, False),
        ("b", "in", {"value": (1, 2)}, "j.1", 2, False, True),
        ("b", "in", {"x": 1, "y": "two"}, "other-id", 0, False, False),
        ("a", "in", {}, "j.3", 0, False, False),
    ]


def test_activation_columns_expand_to_what_encode_activations_gives() -> None:
    activations = Activations(activation_rows())  # type: ignore[arg-type]
    expected = round_trip(encode_activations(activations))
    assert expand_activations(round_trip(compact_activations(activations))) == expected
    plain = [Activation(*row) for row in activation_rows()]
    assert expand_activations(round_trip(compact_activations(plain))) == expected


@settings(max_examples=100, deadline=None)
@given(data=st.lists(st.dictionaries(keys, values, max_size=2), max_size=5))
def test_activation_columns_of_any_data(data: list[dict[str, Any]]) -> None:
    rows = [("r", "s", item, f"id{index}", 0, False, False) for index, item in enumerate(data)]
    activations = Activations(rows)  # type: ignore[arg-type]
    expected = round_trip(encode_activations(activations))
    assert expand_activations(round_trip(compact_activations(activations))) == expected


class Recorder(JobStore):
    """Keeps every checkpoint's pending activations, expanded from their columns."""

    def __init__(self) -> None:
        self.seen: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []
        self.every = 1
        self.interval = 60.0
        self.incremental = False

    def checkpointer(self, job_state: JobState) -> Recorder:
        return self

    def capture(self, checkpoint: Checkpoint) -> Any:
        pending = checkpoint.pending
        self.seen.append(
            (
                expand_activations(round_trip(compact_activations(pending))),
                round_trip(encode_activations(pending)),
            )
        )
        return lambda: None

    def job_started(self, job_state: JobState) -> None:
        pass

    def job_settled(self, job_state: JobState) -> None:
        pass

    def load(self, job_id: str) -> JobState | None:
        return None

    def unfinished_job_ids(self, flow_id: str | None = None) -> list[str]:
        return []


class Fan(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_slot("input", handler=self.take)
        self.define_event("output")

    def go(self, count: int) -> None:
        for value in range(count):
            self.emit("output", value=value, square=value * value)

    def take(self, value: int, square: int) -> None:
        pass


def test_the_engines_checkpoint_activations_expand_to_their_rows() -> None:
    """The engine hands a checkpoint's activations by column, with ids numbered from
    the run's prefix: their columns and their rows must agree."""
    store = Recorder()
    flow = Flow("fan", store=store)
    flow.add_routine(Fan(), "fan")
    flow.add_routine(Fan(), "sink")
    flow.connect("fan", "output", "sink", "input")
    job = flow.execute("fan", {"count": 5})
    assert job.status == "completed"
    assert any(len(columns) == 5 for columns, _ in store.seen)
    for columns, rows in store.seen:
        assert columns == rows


def history_columns() -> dict[str, Any]:
    return round_trip(compact_history(emitted([{"value": 1}, {"value": 2, "x": 3}]))[2])


def pending_columns() -> dict[str, Any]:
    return round_trip(compact_activations(Activations(activation_rows())))  # type: ignore[arg-type]


DAMAGED_HISTORY = {
    "not an object": lambda c: [c],
    "another format": lambda c: {**c, "format": "x"},
    "no count": lambda c: {key: v for key, v in c.items() if key != "count"},
    "count a string": lambda c: {**c, "count": "4"},
    "column missing": lambda c: {key: v for key, v in c.items() if key != "data"},
    "column too short": lambda c: {**c, "data": c["data"][:-1]},
    "index not base64": lambda c: {**c, "names": {**c["names"], "index": "***"}},
    "index not text": lambda c: {**c, "names": {**c["names"], "index": [0, 1]}},
    "table not a list": lambda c: {**c, "names": {**c["names"], "table": "output"}},
    "table too short": lambda c: {**c, "routine_ids": {**c["routine_ids"], "table": []}},
    "name a number": lambda c: {**c, "names": {"table": [7], "index": c["names"]["index"]}},
    "name of three": lambda c: {
        **c,
        "names": {"table": [["a", "b", "c"]], "index": c["names"]["index"]},
    },
    "one-key key a number": lambda c: {
        **c,
        "names": {"table": [["a", 5]], "index": c["names"]["index"]},
    },
    "unknown column shape": lambda c: {**c, "times": {"what": 1}},
    "doubles of wrong length": lambda c: {
        **c,
        "times": {"doubles": base64.b64encode(b"\0" * 9).decode()},
    },
}


@pytest.mark.parametrize("damage", sorted(DAMAGED_HISTORY))
def test_damaged_history_columns_are_serialization_errors(damage: str) -> None:
    with pytest.raises(SerializationError, match="history columns"):
        expand_history(DAMAGED_HISTORY[damage](history_columns()))


DAMAGED_PENDING = {
    "kind of four": lambda c: {
        **c,
        "kinds": {**c["kinds"], "table": [k[:4] for k in c["kinds"]["table"]]},
    },
    "ids scheme without start": lambda c: {**c, "ids": {"prefix": "j.", "except": []}},
    "id exception out of range": lambda c: {
        **c,
        "ids": {"prefix": "j.", "start": 0, "except": [[9, "x"]]},
    },
    "id exception not a pair": lambda c: {
        **c,
        "ids": {"prefix": "j.", "start": 0, "except": [[1]]},
    },
    "one-key data without values": lambda c: {**c, "data": {"key": "value"}},
    "version unknown": lambda c: {**c, "version": 2},
}


@pytest.mark.parametrize("damage", sorted(DAMAGED_PENDING))
def test_damaged_activation_columns_are_serialization_errors(damage: str) -> None:
    with pytest.raises(SerializationError, match="activation columns"):
        expand_activations(DAMAGED_PENDING[damage](pending_columns()))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)


def mutated(value: Any, data: st.DataObject) -> Any:
    """``value`` with one part replaced by arbitrary JSON."""
    if isinstance(value, dict) and value and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(value)))
        return {**value, key: mutated(value[key], data)}
    if isinstance(value, list) and value and data.draw(st.booleans()):
        index = data.draw(st.integers(0, len(value) - 1))
        return [*value[:index], mutated(value[index], data), *value[index + 1 :]]
    return data.draw(json_values)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fuzzed_columns_expand_or_raise_serialization_errors(data: st.DataObject) -> None:
    history, pending = history_columns(), pending_columns()
    for expand, columns in ((expand_history, history), (expand_activations, pending)):
        with contextlib.suppress(SerializationError):
            expand(mutated(columns, data))


def test_activations_naming_their_slot_by_a_list_are_refused() -> None:
    task = {"slot_routine_id": ["a"], "slot_name": "in", "data": {}}
    task |= {"retry_count": 0, "is_entry": False, "merged": False}
    with pytest.raises(SerializationError, match="by str"):
        compact_activations([task])

"""issue 9 (item 2): ``routilux.documents``, the public JSON format for stores and tools.

A store written against the public protocol builds its writes from these parts (the
SQLite store does); they must add up to exactly what ``JobState.serialize()`` and
``Checkpoint.document()`` give, and be incremental: what was appended since a
position, and nothing else.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import routilux.documents as documents
from routilux import Flow, JobState, Routine
from routilux.activation import Activation
from routilux.documents import (
    JOB_FORMAT,
    RECORD_KINDS,
    RECORD_MARK,
    VERSION,
    PayloadEncoder,
    decode_activations,
    decode_value,
    encode_activations,
    encode_value,
    history_since,
    job_document,
    job_snapshot,
    records_since,
)
from routilux.exceptions import InvalidPayloadError, SerializationError
from routilux.stores import Checkpoint, JobStore, MemoryStore

from helpers import Collector, Source


class Busy(Routine):
    """Entry: fills every part of a job document, emits ``value=0..2`` to ``output``
    and ``stop`` (which pauses the job) after the second."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("output", ["value"])
        self.define_event("stop")
        self.define_event("boom")

    def go(self) -> str:
        job_state = self.require_execution_context().job_state
        job_state.update_shared_data("corner", (0, 0))
        job_state.append_to_shared_log({"step": "begin"})
        job_state.send_output("busy", "note", {"sizes": {1, 2}})
        job_state.add_deferred_event("busy", "output", {"value": 9})
        job_state.record_execution("busy", "mark", {"at": 1})
        self.emit("output", value=0)
        self.emit("output", value=1)
        self.emit("boom")
        self.emit("stop")
        self.emit("output", value=2)
        return "done"


class Stopper(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.stop)

    def stop(self) -> None:
        ctx = self.require_execution_context()
        ctx.flow.pause(ctx.job_state, reason="halfway")


class Boom(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.fail)

    def fail(self) -> None:
        raise RuntimeError("boom")


def busy_flow(store: JobStore | None = None) -> Flow:
    flow = Flow("documents", store=store)
    flow.add_routine(Busy(), "busy")
    flow.add_routine(Collector("append"), "sink")
    flow.add_routine(Boom(), "boom")
    flow.add_routine(Stopper(), "stopper")
    flow.connect("busy", "output", "sink", "input")
    flow.connect("busy", "boom", "boom", "input")
    flow.connect("busy", "stop", "stopper", "input")
    return flow


def paused_job() -> JobState:
    """A paused job with history, every list, deferred events, results, merge buffers
    (the sink received 0 and 1) and pending work (sink(2))."""
    job = busy_flow().execute("busy")
    assert job.status == "paused"
    return job


def from_parts(
    job: JobState,
    *,
    pending: Any = None,
    merge_buffers: Any = None,
    encode: Callable[[Any, str], Any] = encode_value,
) -> dict[str, Any]:
    _, history = history_since(job, 0, encode=encode)
    return job_document(
        job_snapshot(job, merge_buffers=merge_buffers),
        history,
        {kind: records_since(job, kind, 0) for kind in RECORD_KINDS},
        encode_activations(job.pending_tasks if pending is None else pending, encode=encode),
    )


# -- the parts add up to the document -------------------------------------------------


def test_the_parts_of_a_paused_job_make_its_serialized_document() -> None:
    """issue 9: a store can build a settled job's document from the public parts (a
    paused job's merge buffers and pending work included), key for key and in
    serialize()'s order, and loading it gives the job back."""
    job = paused_job()
    assert job_snapshot(job)["merge_buffers"] == {"sink": {"input": {"value": [0, 1]}}}
    assert [task["slot_routine_id"] for task in job.pending_tasks] == ["sink"]
    assert job.errors and job.output_log and job.shared_log and job.pause_points

    document = from_parts(job)
    expected = job.serialize()
    assert document == expected
    assert list(document) == list(expected)
    assert from_parts(job, encode=PayloadEncoder()) == expected

    loaded = JobState.deserialize(json.loads(json.dumps(document)))
    assert loaded.pending_tasks == job.pending_tasks
    assert loaded.shared_data == {"corner": (0, 0)}
    assert loaded.get_result("busy") == "done"
    assert len(loaded.get_execution_history()) == len(job.get_execution_history())


def test_the_parts_of_a_running_job_make_its_checkpoint_document() -> None:
    """issue 9: at every checkpoint of a running job, the parts (with the checkpoint's
    merge buffers and pending work, queued and delayed) equal Checkpoint.document()."""
    compared: list[int] = []
    failures: list[str] = []

    class Comparing:
        every = 1
        interval = 60.0
        incremental = False

        def capture(self, checkpoint: Checkpoint) -> Callable[[], None]:
            job = checkpoint.job_state
            parts = from_parts(
                job,
                pending=[*checkpoint.pending, *checkpoint.delayed],
                merge_buffers=checkpoint.merge_buffers,
                encode=PayloadEncoder(),
            )
            if parts != checkpoint.document():
                failures.append(f"checkpoint {len(compared)}")
            compared.append(len(checkpoint.pending))
            return lambda: None

    class Checkpointing(MemoryStore):
        def checkpointer(self, job_state: JobState) -> Comparing:
            return Comparing()

    flow = Flow("running", store=Checkpointing())
    flow.add_routine(Source(), "src")
    flow.add_routine(Collector("append"), "sink")
    flow.connect("src", "output", "sink", "input")
    job = flow.execute("src", {"count": 4})
    assert job.status == "completed"
    assert failures == []
    assert len(compared) >= 4 and max(compared) >= 1  # pending work was compared


# -- incremental parts ------------------------------------------------------------------


def test_history_since_returns_the_rows_after_a_position() -> None:
    """issue 9: history rows from an absolute position, times in seconds, records
    marked; with a history limit, the first position returned is where the kept
    rows start."""
    job = JobState("f")
    for index in range(5):
        job.record_execution("r", "step", {"i": index})
    first, rows = history_since(job, 3)
    assert first == 3
    assert [row[2] for row in rows] == [{"i": 3}, {"i": 4}]
    assert all(len(row) == 5 and row[4] == RECORD_MARK for row in rows)
    assert isinstance(rows[0][3], float)
    assert history_since(job, 5) == (5, [])

    bounded = JobState("f", history_limit=2)
    for index in range(5):
        bounded.record_execution("r", "step", {"i": index})
    first, rows = history_since(bounded, 0)
    assert first == 3 and [row[2] for row in rows] == [{"i": 3}, {"i": 4}]


def test_records_since_returns_the_encoded_entries_after_a_position() -> None:
    """issue 9: each append-only list from a position on, encoded; the shared log's
    entries carry their timestamps."""
    job = JobState("f")
    for index in range(3):
        job.append_to_shared_log({"i": index})
    job.send_output("r", "kind", {"when": (1, 2)})
    entries = records_since(job, "shared_log", 1)
    assert [entry["i"] for entry in entries] == [1, 2]
    assert all(isinstance(entry["timestamp"], str) for entry in entries)
    assert records_since(job, "output_log", 0)[0]["data"] == {"when": {"$tuple": [1, 2]}}
    assert records_since(job, "errors", 0) == records_since(job, "pause_points", 0) == []
    assert records_since(job, "shared_log", 3) == []


@settings(max_examples=30, deadline=None)
@given(
    steps=st.lists(
        st.sampled_from(["history", "log", "output", "error", "pause", "write"]), max_size=40
    ),
    limit=st.sampled_from([None, 1, 3]),
)
def test_incremental_writes_add_up_to_the_whole(steps: list[str], limit: int | None) -> None:
    """issue 9 (property): a store that writes, at any moments, what was appended since
    its previous write (history_since and records_since from the positions it wrote)
    ends with exactly the job's history (the newest ``history_limit`` rows) and
    lists."""
    job = JobState("f", history_limit=limit)
    written_history: dict[int, list[Any]] = {}
    history_end = 0
    written: dict[str, list[Any]] = {kind: [] for kind in RECORD_KINDS}

    def write() -> None:
        nonlocal history_end
        first, rows = history_since(job, history_end)
        for offset, row in enumerate(rows):
            written_history[first + offset] = row
        history_end = first + len(rows)
        for kind in RECORD_KINDS:
            written[kind] += records_since(job, kind, len(written[kind]))

    for index, step in enumerate(steps):
        if step == "history":
            job.record_execution("r", "e", {"i": index})
        elif step == "log":
            job.append_to_shared_log({"i": index})
        elif step == "output":
            job.send_output("r", "t", {"i": index})
        elif step == "error":
            job.errors.append({"i": index})
        elif step == "pause":
            job.pause_points.append({"i": index})
        else:
            write()
    write()
    first, rows = history_since(job, 0)
    assert [written_history[first + offset] for offset in range(len(rows))] == rows
    assert history_end == first + len(rows) == job.history_dropped + len(rows)
    for kind in RECORD_KINDS:
        assert written[kind] == records_since(job, kind, 0)
        assert decode_value(written[kind]) == getattr(job, kind)


def test_job_snapshot_takes_the_checkpoint_s_merge_buffers_when_given() -> None:
    """issue 9: a running job's buffers are the checkpoint's, not the job's own."""
    job = paused_job()
    buffers = {"sink": {"input": {"value": (7,)}}}
    snapshot = job_snapshot(job, merge_buffers=buffers)
    assert snapshot["merge_buffers"] == {"sink": {"input": {"value": {"$tuple": [7]}}}}
    assert not {"execution_history", "pending_tasks", "format", *RECORD_KINDS} & set(snapshot)


# -- the codec --------------------------------------------------------------------------


def test_the_payload_encoder_encodes_each_object_once() -> None:
    """issue 9: one encoder per write encodes a payload shared by the history and the
    queue once; a flat payload is returned as it is; a value dropped by its owner
    cannot lend its id to another value while the encoder lives."""
    encoder = PayloadEncoder()
    tagged = {"corner": (0, 0)}
    first = encoder(tagged, "$.a")
    assert first == {"corner": {"$tuple": [0, 0]}}
    assert encoder(tagged, "$.b") is first
    flat = {"value": 1}
    assert encoder(flat) is flat
    # Temporaries would reuse one id if the encoder let them go.
    results = [encoder({"n": (index,)}) for index in range(20)]
    assert results == [{"n": {"$tuple": [index]}} for index in range(20)]
    with pytest.raises(SerializationError, match=r"\$\.where"):
        encoder({"x": object()}, "$.where")


def test_encode_value_and_decode_value_round_trip_tagged_values() -> None:
    value = {"t": (1, 2), "s": {3}, 4: "int key"}
    assert decode_value(json.loads(json.dumps(encode_value(value)))) == value


def test_activations_round_trip_and_bad_ones_are_named() -> None:
    """issue 9: pending work encodes to pending_tasks objects and back; a damaged one
    is a SerializationError naming where it is; a 0.9-style dict gets an id."""
    activations = [
        Activation("sink", "input", {"value": (1,)}, "a.1", attempt=2, merged=True),
        Activation("src", "trigger", {}, "a.0", entry=True),
    ]
    encoded = encode_activations(activations)
    assert encoded[0] == {
        "slot_routine_id": "sink",
        "slot_name": "input",
        "data": {"value": {"$tuple": [1]}},
        "retry_count": 2,
        "merged": True,
        "is_entry": False,
        "activation_id": "a.1",
    }
    assert decode_activations(json.loads(json.dumps(encoded))) == activations
    legacy = {"slot_routine_id": "r", "slot_name": "s", "data": {}, "retry_count": 0}
    assert encode_activations([legacy])[0]["activation_id"] == "p0"

    damaged = json.loads(json.dumps(encoded))
    damaged[1]["retry_count"] = -1
    with pytest.raises(SerializationError) as error:
        decode_activations(damaged, path="$.queue")
    assert error.value.path == "$.queue[1].retry_count"
    damaged[1]["retry_count"] = "zero"
    with pytest.raises(SerializationError) as error:
        decode_activations(damaged, path="$.queue")
    assert error.value.path == "$.queue[1].retry_count"
    with pytest.raises(SerializationError, match="data"):
        encode_activations([Activation("r", "s", {"x": object()}, "a")])


# -- bad input ------------------------------------------------------------------------


BAD_ROWS: dict[str, tuple[Any, str]] = {
    "not a list": ("row", "$.execution_history[0]"),
    "too short": (["r", "e", {}], "$.execution_history[0]"),
    "bad fifth item": (["r", "e", {}, 1.0, "x"], "$.execution_history[0]"),
    "time a word": (["r", "e", {}, "noon"], "$.execution_history[0][3]"),
    "time a bool": (["r", "e", {}, True], "$.execution_history[0][3]"),
    "time out of range": (["r", "e", {}, 1e300], "$.execution_history[0][3]"),
}


@pytest.mark.parametrize("bad", sorted(BAD_ROWS))
def test_job_document_names_a_bad_history_row(bad: str) -> None:
    row, path = BAD_ROWS[bad]
    with pytest.raises(SerializationError) as error:
        job_document(job_snapshot(JobState("f")), [row])
    assert error.value.path == path


def test_job_document_keeps_unknown_snapshot_keys_for_loading_to_refuse() -> None:
    """issue 9: a store's own bookkeeping left in the snapshot is not silently
    dropped: loading names it."""
    snapshot = {**job_snapshot(JobState("f")), "checkpoint_seq": 4}
    document = job_document(snapshot)
    assert document["format"] == JOB_FORMAT and document["version"] == VERSION
    with pytest.raises(SerializationError, match="checkpoint_seq"):
        JobState.deserialize(document)
    del snapshot["checkpoint_seq"]
    assert JobState.deserialize(job_document(snapshot)).flow_id == "f"


def test_bad_arguments_are_invalid_payload_errors_naming_the_function() -> None:
    job = JobState("f")
    with pytest.raises(InvalidPayloadError, match="records_since: kind must be one of"):
        records_since(job, "history", 0)
    calls: list[tuple[str, Callable[[], object]]] = [
        ("records_since", lambda: records_since(job, "errors", -1)),
        ("history_since", lambda: history_since(job, -1)),
        ("history_since", lambda: history_since(job, True)),
    ]
    for function, call in calls:
        with pytest.raises(InvalidPayloadError, match=f"{function}: index must be an int"):
            call()
    not_a_job: Any = {"job_id": "x"}
    with pytest.raises(InvalidPayloadError, match="job_snapshot: job_state must be a JobState"):
        job_snapshot(not_a_job)
    with pytest.raises(InvalidPayloadError, match="history_since: job_state must be a JobState"):
        history_since(not_a_job)
    with pytest.raises(InvalidPayloadError, match="unknown record kinds 'logs'"):
        job_document(job_snapshot(job), lists={"logs": []})


def test_the_module_exports_public_documented_names_only() -> None:
    """issue 9: everything routilux.documents offers is public and documented."""
    for name in documents.__all__:
        assert not name.startswith("_")
        value = getattr(documents, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert value.__doc__, name


def test_job_settled_can_build_the_document_from_the_parts() -> None:
    """issue 9: job_settled sees a quiet job: serialize() may be called there, and the
    parts agree with it."""
    seen: list[bool] = []

    class Comparing(MemoryStore):
        def job_settled(self, job_state: JobState) -> None:
            seen.append(from_parts(job_state) == job_state.serialize())
            super().job_settled(job_state)

    job = busy_flow(Comparing()).execute("busy")
    assert job.status == "paused"
    assert seen == [True]

"""Flow: wiring, validation of bad input, strategies, waiting and shutdown."""

from __future__ import annotations

import threading
import uuid

import pytest

from routilux import ErrorHandler, Flow, JobState, QueueOutputHandler, Routine
from routilux.exceptions import (
    ConfigurationError,
    DuplicateNameError,
    EventNotFoundError,
    InvalidPayloadError,
    InvalidStrategyError,
    JobStateError,
    MissingTriggerSlotError,
    RoutineNotFoundError,
    SlotNotFoundError,
)

from helpers import Collector, Relay, Source, chain, events


class Gate(Routine):
    """Entry routine that blocks on ``release`` before emitting."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()
        self.define_slot("trigger", handler=self.go)
        self.define_event("output", ["value"])

    def go(self, **_: object) -> None:
        self.started.set()
        assert self.release.wait(10)
        self.emit("output", value=1)


class NoTrigger(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=lambda **kw: None)


# -- construction ---------------------------------------------------------------------


def test_defaults() -> None:
    flow = Flow()
    uuid.UUID(flow.flow_id)
    assert flow.execution_strategy == "sequential"
    assert flow.max_workers == 1  # 0.9: sequential flows report one worker
    assert flow.routines == {} and flow.connections == []
    assert flow.execution_tracker is None
    assert repr(flow) == f"Flow[{flow.flow_id}]"


def test_concurrent_reports_configured_workers() -> None:
    flow = Flow("f", "concurrent", max_workers=7)
    assert flow.max_workers == 7
    flow.set_execution_strategy("sequential")
    assert flow.max_workers == 1
    flow.set_execution_strategy("concurrent", max_workers=3)
    assert flow.max_workers == 3


@pytest.mark.parametrize("bad", ["parallel", "SEQUENTIAL", None, 3])
def test_invalid_strategy_is_refused_everywhere(bad: object) -> None:
    with pytest.raises(InvalidStrategyError, match="Invalid execution strategy"):
        Flow("f", bad)  # type: ignore[arg-type]
    flow = Flow("f")
    with pytest.raises(ValueError, match="Must be 'sequential' or 'concurrent'"):
        flow.set_execution_strategy(bad)  # type: ignore[arg-type]
    flow.add_routine(Source(), "src")
    if bad is not None:  # None means "the flow's strategy" in execute
        with pytest.raises(InvalidStrategyError):
            flow.execute("src", execution_strategy=bad)  # type: ignore[arg-type]
    assert flow.execution_strategy == "sequential"


@pytest.mark.parametrize("bad", [0, -1, 2.5, "4", True])
def test_invalid_max_workers(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="max_workers"):
        Flow("f", "concurrent", bad)  # type: ignore[arg-type]


def test_invalid_history_limit() -> None:
    with pytest.raises(ConfigurationError, match="history_limit"):
        Flow("f", history_limit=0)


# -- wiring ---------------------------------------------------------------------------


def test_add_routine_ids() -> None:
    flow = Flow("f")
    routine = Source()
    assert flow.add_routine(routine) == routine._id
    assert flow.routines[routine._id] is routine
    assert flow.add_routine(Source(), "named") == "named"


def test_add_routine_rejects_duplicates_and_non_routines() -> None:
    flow = Flow("f")
    routine = Source()
    flow.add_routine(routine, "a")
    with pytest.raises(DuplicateNameError, match="Routine ID 'a' already exists in flow 'f'"):
        flow.add_routine(Source(), "a")
    with pytest.raises(DuplicateNameError, match="already in flow 'f' as 'a'"):
        flow.add_routine(routine, "b")
    with pytest.raises(ConfigurationError, match="expects a Routine"):
        flow.add_routine(object(), "c")  # type: ignore[arg-type]
    assert list(flow.routines) == ["a"]


def test_add_routine_without_super_init() -> None:
    class Broken(Routine):
        def __init__(self) -> None:
            pass

    with pytest.raises(ConfigurationError, match=r"Broken.__init__ must call super\(\).__init__"):
        Flow("f").add_routine(Broken(), "x")


def test_connect_validates_each_end() -> None:
    flow = Flow("f")
    flow.add_routine(Source(), "src")
    flow.add_routine(Relay(), "relay")
    with pytest.raises(RoutineNotFoundError, match="Source routine 'nope' not found in flow 'f'"):
        flow.connect("nope", "output", "relay", "input")
    with pytest.raises(EventNotFoundError, match="Event 'missing' not found in routine 'src'"):
        flow.connect("src", "missing", "relay", "input")
    with pytest.raises(RoutineNotFoundError, match="Target routine 'nope' not found"):
        flow.connect("src", "output", "nope", "input")
    with pytest.raises(SlotNotFoundError, match="Slot 'missing' not found in routine 'relay'"):
        flow.connect("src", "output", "relay", "missing")
    with pytest.raises(ConfigurationError, match="param_mapping"):
        flow.connect("src", "output", "relay", "input", param_mapping=["value"])  # type: ignore[arg-type]
    assert flow.connections == []


def test_connect_twice_keeps_one_connection_with_latest_mapping() -> None:
    flow = Flow("f")
    flow.add_routine(Source(), "src")
    flow.add_routine(Collector(), "sink")
    first = flow.connect("src", "output", "sink", "input", {"value": "a"})
    second = flow.connect("src", "output", "sink", "input", {"value": "b"})
    assert first is second and flow.connections == [first]
    job = flow.execute("src", {"count": 1})
    assert job.get_routine_state("sink")["received"] == [{"b": 0, "value": 0}]


def test_connection_records_routine_ids() -> None:
    flow = chain(("src", Source()), ("sink", Collector()))
    (connection,) = flow.connections
    assert (connection.source_routine_id, connection.target_routine_id) == ("src", "sink")
    assert connection.flow is flow
    assert flow._find_connection(connection.source_event, connection.target_slot) is connection


def test_error_handler_type_checked() -> None:
    flow = Flow("f")
    with pytest.raises(ConfigurationError, match="must be an ErrorHandler"):
        flow.set_error_handler("stop")  # type: ignore[arg-type]
    handler = ErrorHandler("continue")
    flow.set_error_handler(handler)
    assert flow.get_error_handler() is handler
    routine = Source()
    assert flow._get_error_handler_for_routine(routine) is handler


# -- execute: bad input ---------------------------------------------------------------


def test_execute_unknown_entry() -> None:
    flow = Flow("f")
    with pytest.raises(RoutineNotFoundError, match="Entry routine 'x' not found in flow 'f'"):
        flow.execute("x")


@pytest.mark.parametrize("bad", [["count"], "count=1", 3])
def test_execute_non_dict_params(bad: object) -> None:
    flow = chain(("src", Source()))
    with pytest.raises(InvalidPayloadError, match="entry_params for entry routine 'src'"):
        flow.execute("src", bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        flow.execute("src", bad)  # type: ignore[arg-type]
    assert flow.store.unfinished_jobs() == []


def test_execute_missing_trigger_raises_before_the_job_starts() -> None:
    flow = Flow("f")
    flow.add_routine(NoTrigger(), "nt")
    with pytest.raises(
        MissingTriggerSlotError, match="Entry routine 'nt' must have a 'trigger' slot"
    ):
        flow.execute("nt")
    assert flow.execution_tracker is None
    assert flow.store.unfinished_jobs() == []
    assert flow.wait_for_completion(timeout=0)


# -- execute: results -----------------------------------------------------------------


def test_execute_returns_completed_job_state() -> None:
    flow = chain(("src", Source()), ("relay", Relay()), ("sink", Collector()))
    job = flow.execute("src", {"count": 2})
    assert isinstance(job, JobState)
    assert job.status == "completed" and job.is_finished
    assert job.flow_id == flow.flow_id
    assert job.current_routine_id == "src"
    assert job.get_routine_state("sink")["received"] == [{"value": 0}, {"value": 1}]
    assert flow.execution_tracker is job.execution_tracker


def test_execute_params_default_to_empty_dict() -> None:
    seen = []

    class Entry(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=lambda **kw: seen.append(kw))

    flow = Flow("f")
    flow.add_routine(Entry(), "e")
    flow.execute("e")
    flow.execute("e", {"a": 1})
    assert seen == [{}, {"a": 1}]


def test_entry_params_dict_is_not_shared_with_the_job() -> None:
    params = {"count": 1}
    flow = chain(("src", Source()))
    job = flow.execute("src", params)
    job.get_execution_history()[0].data["count"] = 99
    assert params == {"count": 1}


def test_wait_false_returns_running_job() -> None:
    gate = Gate()
    flow = chain(("gate", gate), ("sink", Collector()))
    job = flow.execute("gate", wait=False)
    assert gate.started.wait(5)
    assert job.status == "running"
    assert job.wait_for_completion(timeout=0.01) is False
    assert flow.wait_for_completion(timeout=0.01) is False
    assert flow.store.get(job.job_id) is job
    gate.release.set()
    assert job.wait_for_completion(timeout=5) is True
    assert job.status == "completed"
    assert job.get_routine_state("sink")["received"] == [{"value": 1}]
    assert flow.wait_for_completion(timeout=5) is True
    assert flow.store.get(job.job_id) is None


def test_flow_wait_for_completion_covers_all_jobs() -> None:
    gates = [Gate() for _ in range(3)]
    flow = Flow("f", max_workers=3)
    for index, gate in enumerate(gates):
        flow.add_routine(gate, f"g{index}")
    jobs = [flow.execute(f"g{index}", wait=False) for index in range(3)]
    for gate in gates[:2]:
        gate.release.set()
    assert jobs[0].wait_for_completion(5) and jobs[1].wait_for_completion(5)
    assert flow.wait_for_completion(timeout=0.05) is False
    gates[2].release.set()
    assert flow.wait_for_completion() is True
    assert [job.status for job in jobs] == ["completed"] * 3


def test_shutdown_leaves_the_flow_usable() -> None:
    flow = chain(("src", Source()), ("sink", Collector()))
    assert flow.execute("src", {"count": 3}, wait=False).wait_for_completion(5)
    flow.shutdown(wait=True)
    job = flow.execute("src", {"count": 2}, wait=False)
    assert job.wait_for_completion(5)
    assert job.status == "completed"
    flow.shutdown(wait=False)
    assert flow.execute("src", {"count": 1}).status == "completed"


def test_execution_strategy_override_runs_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=5)

    class Meet(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.meet)

        def meet(self, value: int) -> None:
            barrier.wait()  # only passes if three activations run at once

    flow = Flow("f", "sequential", max_workers=3)
    flow.add_routine(Source(), "src")
    flow.add_routine(Meet(), "meet")
    flow.connect("src", "output", "meet", "input")
    job = flow.execute("src", {"count": 3}, execution_strategy="concurrent")
    assert job.status == "completed", job.errors
    assert flow.execution_strategy == "sequential"


def test_output_handler_argument() -> None:
    import queue

    class Speaker(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.speak)

        def speak(self, **_: object) -> None:
            self.send_output("text", message="hi")

    outputs: queue.Queue[dict[str, object]] = queue.Queue()
    flow = Flow("f")
    flow.add_routine(Speaker(), "speaker")
    job = flow.execute("speaker", output_handler=QueueOutputHandler(outputs))
    item = outputs.get_nowait()
    assert item["routine_id"] == "speaker" and item["data"] == {"message": "hi"}
    assert item["job_id"] == job.job_id
    assert job.output_log[0]["output_type"] == "text"


def test_history_limit_bounds_every_job() -> None:
    flow = Flow("f", history_limit=5)
    flow.add_routine(Source(), "src")
    flow.add_routine(Relay(), "relay")
    flow.connect("src", "output", "relay", "input")
    job = flow.execute("src", {"count": 100})
    history = job.get_execution_history()
    assert len(history) == 5 and job.history_limit == 5
    assert job.history_dropped == 1 + 100 + 100 + 1 - 5
    assert history[-1].event_name == "completed"


def test_routine_shared_by_two_flows_delivers_only_within_each_flow() -> None:
    source = Source()
    first, second = Collector(), Collector()
    flow_a, flow_b = Flow("a"), Flow("b")
    flow_a.add_routine(source, "src")
    flow_b.add_routine(source, "src")
    flow_a.add_routine(first, "sink")
    flow_b.add_routine(second, "sink")
    flow_a.connect("src", "output", "sink", "input")
    flow_b.connect("src", "output", "sink", "input")
    job_a = flow_a.execute("src", {"count": 2})
    assert job_a.get_routine_state("sink")["received"] == [{"value": 0}, {"value": 1}]
    assert events(job_a).count(("src", "output")) == 2
    job_b = flow_b.execute("src", {"count": 1})
    assert job_b.get_routine_state("sink")["received"] == [{"value": 0}]


def test_direct_connection_to_routine_outside_the_flow_is_reported() -> None:
    outsider = Collector()
    source = Source()
    flow = Flow("f")
    flow.add_routine(source, "src")
    source.get_event("output").connect(outsider.get_slot("input"))
    job = flow.execute("src", {"count": 1})
    assert job.status == "failed"
    assert job.errors[0]["error_type"] == "RoutineNotFoundError"
    assert "not in flow 'f'" in job.errors[0]["error"]


# -- regressions (issue 8) ------------------------------------------------------------


def test_recover_of_a_job_running_in_this_process_is_refused() -> None:
    """C: recover(job_id) of a job whose handler still runs (default MemoryStore) is
    refused, and the job finishes as it would have."""
    entered, release = threading.Event(), threading.Event()

    class Slow(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["value"])

        def go(self) -> None:
            entered.set()
            assert release.wait(10)
            self.emit("output", value=1)

    flow = Flow()
    flow.add_routine(Slow(), "slow")
    flow.add_routine(Collector(), "sink")
    flow.connect("slow", "output", "sink", "input")
    job = flow.execute("slow", wait=False)
    assert entered.wait(10)
    try:
        with pytest.raises(JobStateError, match="running in this process"):
            flow.recover(job.job_id)
        assert job.status == "running"
    finally:
        release.set()
    assert job.wait_for_completion(10)
    assert job.status == "completed"
    assert job.errors == []
    assert job.get_routine_state("sink") == {"received": [{"value": 1}]}


def test_the_flows_execution_tracker_can_be_assigned() -> None:
    """0.9-break 6: `flow.execution_tracker = tracker` works (jobs keep their own)."""
    from routilux import ExecutionTracker

    flow = chain(("src", Source()), ("sink", Collector()))
    tracker = ExecutionTracker(flow.flow_id)
    flow.execution_tracker = tracker
    assert flow.execution_tracker is tracker
    job = flow.execute("src")
    assert flow.execution_tracker is job.execution_tracker
    flow.execution_tracker = None
    assert flow.execution_tracker is None
    with pytest.raises(ConfigurationError):
        flow.execution_tracker = "tracker"  # type: ignore[assignment]


def test_resume_of_a_job_that_is_not_paused_raises_a_value_error_as_in_0_9() -> None:
    """0.9-break 7: 0.9 code catching ValueError around resume/pause keeps working."""
    flow = chain(("src", Source()), ("sink", Collector()))
    job = flow.execute("src")
    with pytest.raises(ValueError, match="not paused"):
        flow.resume(job)
    with pytest.raises(ValueError):
        flow.pause(job)
    with pytest.raises(RuntimeError):  # and still a RuntimeError
        flow.resume(job)

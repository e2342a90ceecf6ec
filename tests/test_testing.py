"""routilux.testing: run_routine, assert_history, ManualClock, FlowFactory and the
pytest plugin, and the tutorials' routines tested through them."""

from __future__ import annotations

import ast
import asyncio
import functools
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from routilux import ErrorHandler, ErrorStrategy, ExecutionRecord, Flow, JobState, Routine
from routilux.exceptions import (
    ConfigurationError,
    DuplicateNameError,
    EventNotFoundError,
    InvalidPayloadError,
    SlotNotFoundError,
)
from routilux.runtimes import AsyncioRuntime, ThreadRuntime
from routilux.testing import (
    COLLECTOR_ID,
    FEEDER_ID,
    Emission,
    FlowFactory,
    ManualClock,
    RoutineRun,
    assert_history,
    run_routine,
    run_routine_async,
)

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"


# -- routines of these tests ----------------------------------------------------------


class Doubler(Routine):
    """Doubles ``value``; stores what it saw in its state and the shared data."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.double)
        self.define_slot("trigger", handler=self.double)
        self.define_event("output", ["value"])
        self.define_event("unused")

    def double(self, value: int) -> int:
        ctx = self.require_execution_context()
        state = ctx.job_state.get_routine_state(ctx.routine_id) or {}
        seen = [*state.get("seen", []), value]
        ctx.job_state.update_routine_state(ctx.routine_id, {**state, "seen": seen})
        ctx.job_state.update_shared_data("last", value)
        self.send_output("note", doubled=value * 2)
        self.emit("output", value=value * 2)
        return value * 2


class Flaky(Routine):
    """Fails the first ``failures`` calls of a job (counted in its channel)."""

    def __init__(self, failures: int = 3, delay: float = 0.1, backoff: float = 2.0) -> None:
        super().__init__()
        self.failures = failures
        self.define_slot("input", handler=self.call)
        self.define_slot("trigger", handler=self.call)
        self.define_event("output", ["value"])
        self.set_error_handler(
            ErrorHandler(
                ErrorStrategy.RETRY, max_retries=3, retry_delay=delay, retry_backoff=backoff
            )
        )

    def call(self, value: int = 1) -> None:
        attempt = self.require_execution_context().get_channel().increment("attempts")
        if attempt <= self.failures:
            raise ConnectionError(f"down (attempt {attempt})")
        self.emit("output", value=value)


class Source(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("output", ["value"])

    def send(self, values: list[int] = [1]) -> None:  # noqa: B006 (never changed)
        for value in values:
            self.emit("output", value=value)


def flaky_flow(clock: ThreadRuntime, flaky: Flaky) -> Flow:
    flow = Flow(flow_id="flaky", runtime=clock)
    flow.add_routine(Source(), "source")
    flow.add_routine(flaky, "flaky")
    flow.connect("source", "output", "flaky", "input")
    return flow


def records(*rows: tuple[str, str, dict[str, Any]]) -> list[ExecutionRecord]:
    return [ExecutionRecord(routine_id, event, data, 0.0) for routine_id, event, data in rows]


# -- the tutorials' routines ------------------------------------------------------------


@functools.cache
def tutorial(relative: str) -> dict[str, Any]:
    """The imports, functions and classes of a tutorial script, run without the rest
    of it (which runs its flows and prints). The classes are the tutorial's own code,
    not copies."""
    path = TUTORIALS / relative
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    kept = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    module = ast.Module(
        body=[node for node in tree.body if isinstance(node, kept)], type_ignores=[]
    )
    namespace: dict[str, Any] = {"__name__": f"tutorial_{path.stem}"}
    exec(compile(module, str(path), "exec"), namespace)
    return namespace


def test_quickstart_routines_each_alone() -> None:
    quickstart = tutorial("quickstart.py")
    numbers = run_routine(quickstart["Numbers"](), "trigger", {"values": [1, 2, 3]})
    assert numbers.assert_completed().emitted("output") == [{"value": v} for v in (1, 2, 3)]
    assert_history(
        numbers,
        [
            ("routine", "start", {"values": [1, 2, 3]}),
            ("routine", "output", {"value": 1}),
            ("routine", "output", {"value": 2}),
            ("routine", "output", {"value": 3}),
            ("routine", "completed"),
        ],
    )
    doubler = run_routine(quickstart["Doubler"](), "input", {"value": 21})
    assert doubler.emitted("output") == [{"value": 42}]
    collector = run_routine(
        quickstart["Collector"](), "input", deliveries=[{"value": v} for v in (2, 4, 6)]
    )
    # Its slot appends: the last of its three activations saw the three values.
    assert collector.assert_completed().routine_state == {"values": [2, 4, 6]}
    assert collector.emissions == []


def test_getting_started_routines_each_alone() -> None:
    getting_started = tutorial("getting_started.py")
    source = run_routine(getting_started["LineSource"](), "trigger", {"text": "a b\n\n c \n"})
    assert source.emitted("line") == [{"text": "a b"}, {"text": "c"}]
    counter = run_routine(getting_started["WordCounter"](), "input", {"text": "one two three"})
    assert counter.emitted("counted") == [{"text": "one two three", "words": 3}]
    report = run_routine(
        getting_started["Report"](),
        "input",
        deliveries=[{"text": "a b", "words": 2}, {"text": "c", "words": 1}],
    )
    assert report.routine_state == {"lines": 2, "words": 3}


def test_shared_data_tutorial_routines_see_the_seeded_shared_data() -> None:
    shared = tutorial("state_management/step3_shared_data.py")
    processor = run_routine(
        shared["DataProcessor"](),
        "input",
        {"data": "c"},
        shared_data={"collected_items": ["a", "b"]},
    )
    assert processor.emitted("output") == [{"result": "Processed 2 items, current: c"}]
    assert [entry["action"] for entry in processor.job.get_shared_log()] == ["processed"]
    collector = run_routine(
        shared["DataCollector"](), "input", deliveries=[{"data": "x"}, {"data": "y"}]
    )
    assert collector.shared_data == {"collected_items": ["x", "y"]}


def test_async_tutorial_fetcher_runs_its_async_handler() -> None:
    crawler = tutorial("async_handlers/step1_async_handlers.py")
    fetcher = run_routine(crawler["Fetcher"](), "input", {"url": "example.org/abc"})
    assert fetcher.assert_completed().emitted("page") == [{"url": "example.org/abc", "size": 15}]
    assert fetcher.shared_data["threads"] == ["routilux-async"]


def test_the_entry_tutorial_orders_retries_on_an_auto_clock() -> None:
    entry = tutorial("error_handling/step6_entry_routine.py")
    clock = ManualClock(auto_advance=True)
    try:
        orders = entry["Orders"]()
        orders.set_error_handler(ErrorHandler(ErrorStrategy.RETRY, max_retries=2, retry_delay=30))
        recovered = run_routine(orders, "trigger", {"failures": 2}, runtime=clock)
        assert recovered.emitted("order") == [{"order_id": "A"}, {"order_id": "B"}]
        assert clock.delays == [30.0, 60.0]
        failed = run_routine(orders, "trigger", {"failures": 3}, runtime=clock)
    finally:
        clock.shutdown()
    assert clock.delays == [30.0, 60.0, 30.0, 60.0]
    assert failed.status == "failed" and failed.emissions == []
    assert [(e["routine_id"], e["error_type"]) for e in failed.errors] == [
        ("routine", "ConnectionError")
    ]
    assert_history(
        failed,
        [("routine", "retry", {"attempt": 0}), ("routine", "retry", {"attempt": 1})],
        mode="subsequence",
    )


def test_the_router_of_the_advanced_tutorial_routes_each_ticket() -> None:
    router_tutorial = tutorial("advanced/step3_router.py")
    flow = router_tutorial["build_flow"]()
    router = flow.routines["router"]
    tickets = [
        {"data": {"id": 1, "customer": "ann", "kind": "question", "amount": 0}},
        {"data": {"id": 2, "customer": "bob", "kind": "refund", "amount": 40}},
        {"data": {"id": 4, "customer": "dan", "kind": "complaint", "amount": 900}},
        {"data": {"id": 3, "customer": "vip-cy", "kind": "question", "amount": 0}},
    ]
    run = run_routine(router, "input", deliveries=tickets, routine_id="router")
    routes = [(emission.event, emission.data["data"]["id"]) for emission in run.emissions]
    assert routes == [("general", 1), ("refunds", 2), ("escalate", 4), ("vip", 3)]
    # The tutorial's own flow still routes: run_routine took its connections back.
    job = flow.execute("tickets", {"tickets": [tickets[1]["data"]]})
    assert job.get_channel().get("deliveries") == [(2, "refunds_desk", "refunds")]


# -- run_routine ------------------------------------------------------------------------


def test_a_slot_other_than_trigger_is_fed_by_the_feeder() -> None:
    run = run_routine(Doubler(), "input", {"value": 3})
    assert isinstance(run, RoutineRun)
    assert (run.status, run.routine_id, run.slot, run.result) == (
        "completed",
        "routine",
        "input",
        6,
    )
    assert run.emissions == [Emission("output", {"value": 6})]
    assert run.emitted("output") == [{"value": 6}] and run.emitted("unused") == []
    assert run.routine_state == {"seen": [3]}
    assert run.shared_data == {"last": 3}
    assert [(o["output_type"], o["data"]) for o in run.outputs] == [("note", {"doubled": 6})]
    assert run.errors == []
    assert_history(
        run,
        [
            (FEEDER_ID, "start", {"deliveries": [{"value": 3}]}),
            (FEEDER_ID, "feed", {"value": 3}),
            ("routine", "output", {"value": 6}),
            (FEEDER_ID, "completed"),
        ],
    )
    # The collector received the emission (every event has a receiver).
    assert COLLECTOR_ID in run.job.execution_tracker.routine_executions


def test_the_trigger_slot_makes_the_routine_the_entry() -> None:
    run = run_routine(Doubler(), "trigger", {"value": 5}, routine_id="doubler")
    assert run.emitted("output") == [{"value": 10}]
    assert_history(run, [("doubler", "start"), ("doubler", "output"), ("doubler", "completed")])
    assert run.routine_state["seen"] == [5]
    assert run.routine_state["status"] == "completed"  # the entry's bookkeeping


def test_deliveries_arrive_in_order_in_one_job_and_the_state_is_seeded() -> None:
    run = run_routine(
        Doubler(),
        "input",
        deliveries=[{"value": 1}, {"value": 2}, {"value": 3}],
        routine_state={"seen": [0]},
        shared_data={"other": "kept"},
    )
    assert run.emitted("output") == [{"value": 2}, {"value": 4}, {"value": 6}]
    assert run.routine_state == {"seen": [0, 1, 2, 3]}
    assert run.shared_data == {"other": "kept", "last": 3}
    assert run.result == 6  # the last one returned


def test_deliveries_to_the_trigger_slot_go_through_the_feeder() -> None:
    run = run_routine(Doubler(), "trigger", deliveries=[{"value": 1}])
    assert run.job.current_routine_id == FEEDER_ID
    assert run.emitted("output") == [{"value": 2}]


def test_a_concurrent_run_emits_everything() -> None:
    run = run_routine(
        Doubler(),
        "input",
        deliveries=[{"value": v} for v in range(20)],
        execution_strategy="concurrent",
        max_workers=4,
    )
    assert sorted(d["value"] for d in run.emitted("output")) == [2 * v for v in range(20)]


def test_a_failure_is_recorded_and_assert_completed_shows_its_traceback() -> None:
    run = run_routine(Doubler(), "input", {"value": None})
    assert run.status == "completed"  # a downstream failure without a handler: recorded
    assert run.emissions == [] and run.result is None
    assert [(e["slot"], e["error_type"]) for e in run.errors] == [("input", "TypeError")]
    assert run.routine_state["status"] == "failed"
    with pytest.raises(AssertionError) as raised:
        run.assert_completed()
    message = str(raised.value)
    assert "routine 'routine' (slot 'input'): job completed" in message
    assert "routine.input: TypeError" in message
    assert "Traceback" in message and "in double" in message
    good = run_routine(Doubler(), "input", {"value": 1})
    assert good.assert_completed() is good


def test_an_entry_failure_fails_the_job() -> None:
    run = run_routine(Doubler(), "trigger", {"value": None})
    assert run.status == "failed"
    with pytest.raises(AssertionError, match="job failed"):
        run.assert_completed()


def test_emit_now_and_a_failure_after_it() -> None:
    class Streamer(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.stream)
            self.define_event("item", ["n"])

        def stream(self, count: int) -> None:
            for n in range(count):
                self.emit_now("item", n=n)
            raise ValueError("stream broken")

    run = run_routine(Streamer(), "input", {"count": 3})
    # What emit_now handed on stays delivered when the handler raises.
    assert run.emitted("item") == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [e["error_type"] for e in run.errors] == ["ValueError"]


def test_the_routine_is_left_as_it_was_and_runs_again() -> None:
    doubler = Doubler()
    other_flow = Flow(flow_id="production")
    other_flow.add_routine(Source(), "source")
    other_flow.add_routine(doubler, "doubler")
    other_flow.connect("source", "output", "doubler", "input")
    for _ in range(2):
        assert run_routine(doubler, "input", {"value": 4}).emitted("output") == [{"value": 8}]
    assert doubler.get_event("output").connected_slots == []  # the collector's is gone
    source_event = other_flow.routines["source"].get_event("output")
    assert doubler.get_slot("input").connected_events == [source_event]  # the feeder's too
    job = other_flow.execute("source", {"values": [7]})
    assert job.get_routine_state("doubler") == {"seen": [7]}
    assert job.get_result("doubler") == 14


def test_one_routine_object_runs_in_several_threads_at_once() -> None:
    doubler = Doubler()
    start = threading.Barrier(8)
    runs: dict[int, RoutineRun] = {}

    def one(value: int) -> None:
        start.wait(10)
        runs[value] = run_routine(doubler, "input", {"value": value})

    threads = [threading.Thread(target=one, args=(value,)) for value in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert {value: run.emitted("output") for value, run in runs.items()} == {
        value: [{"value": 2 * value}] for value in range(8)
    }
    assert {value: run.routine_state for value, run in runs.items()} == {
        value: {"seen": [value]} for value in range(8)
    }
    assert doubler.get_event("output").connected_slots == []
    assert doubler.get_slot("input").connected_events == []


def test_emitted_names_the_routine_and_its_events_for_an_unknown_event() -> None:
    run = run_routine(Doubler(), "input", {"value": 1}, routine_id="dbl")
    with pytest.raises(EventNotFoundError, match=r"'outptu' does not exist in routine 'dbl'") as e:
        run.emitted("outptu")
    assert "its events: 'output', 'unused'" in str(e.value)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: run_routine(Doubler(), "inptu", {"value": 1}),
            SlotNotFoundError,
            r"Slot 'inptu' not found in routine 'routine' \(Doubler\[0x[0-9a-f]+\]\); "
            r"its slots: 'input', 'trigger'",
        ),
        (lambda: run_routine(Doubler(), 3, {}), SlotNotFoundError, "Slot 3 not found"),
        (lambda: run_routine(Doubler, "input", {}), ConfigurationError, "Routine instance"),
        # A new user's slips: the class instead of an instance, the Slot instead of its name.
        (
            lambda: run_routine(Doubler, "input", {}),
            ConfigurationError,
            r"not the class Doubler: pass Doubler\(\) instead",
        ),
        (
            lambda: run_routine(object(), "input", {}),
            ConfigurationError,
            r"not object <object object at 0x",
        ),
        (
            lambda: run_routine(doubler := Doubler(), doubler.get_slot("input")),
            SlotNotFoundError,
            r"routine 'routine' \(Doubler\[0x[0-9a-f]+\]\) takes the slot's name, not the "
            r"Slot object: pass 'input'",
        ),
        (lambda: run_routine(Doubler(), "input", [1]), InvalidPayloadError, "data for slot"),
        (
            lambda: run_routine(Doubler(), "input", {1: 2}),
            InvalidPayloadError,
            "must have str keys",
        ),
        (
            lambda: run_routine(Doubler(), "input", {}, deliveries=[{}]),
            ConfigurationError,
            "not both",
        ),
        (
            lambda: run_routine(Doubler(), "input", deliveries={"value": 1}),
            InvalidPayloadError,
            "must be a list of dicts",
        ),
        (
            lambda: run_routine(Doubler(), "input", deliveries=[{}, "x"]),
            InvalidPayloadError,
            r"deliveries\[1\]",
        ),
        (
            lambda: run_routine(Doubler(), "input", routine_id=FEEDER_ID),
            DuplicateNameError,
            "taken by run_routine",
        ),
        (lambda: run_routine(Doubler(), "input", routine_id=""), ConfigurationError, "routine_id"),
        (
            lambda: run_routine(Doubler(), "input", shared_data=[("a", 1)]),
            InvalidPayloadError,
            "shared_data",
        ),
        (
            lambda: run_routine(Doubler(), "input", routine_state="x"),
            InvalidPayloadError,
            "routine_state",
        ),
        (lambda: run_routine(Doubler(), "input", timeout=-1), ConfigurationError, "timeout"),
        (lambda: run_routine(Doubler(), "input", timeout="1"), InvalidPayloadError, "timeout"),
        (
            lambda: run_routine(Doubler(), "input", execution_strategy="fast"),
            ConfigurationError,
            "execution strategy",
        ),
    ],
)
def test_bad_arguments_raise_a_clear_error(call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_a_bad_argument_leaves_no_connection_behind() -> None:
    doubler = Doubler()
    with pytest.raises(ConfigurationError):
        run_routine(doubler, "input", max_workers=0)
    with pytest.raises(InvalidPayloadError):
        run_routine(doubler, "input", {"value": object()}, shared_data=3)
    assert doubler.get_event("output").connected_slots == []
    assert doubler.get_slot("input").connected_events == []


class Blocker(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.jobs: list[JobState] = []
        self.define_slot("input", handler=self.block)

    def block(self) -> None:
        self.jobs.append(self.require_execution_context().job_state)
        self.entered.set()
        assert self.release.wait(10)

    async def block_async(self) -> None:
        self.jobs.append(self.require_execution_context().job_state)
        self.entered.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 10)


def test_a_job_past_its_timeout_is_cancelled_and_reported() -> None:
    blocker = Blocker()
    with pytest.raises(TimeoutError) as raised:
        try:
            run_routine(blocker, "input", timeout=0.2)
        finally:
            blocker.release.set()
    message = str(raised.value)
    assert "routine 'routine' (slot 'input') did not finish within 0.2 s" in message
    assert "_feeder.feed" in message
    (job,) = blocker.jobs
    assert job.wait_for_completion(10)
    assert job.status == "cancelled"


def test_run_routine_works_inside_a_running_event_loop() -> None:
    async def main() -> RoutineRun:
        return run_routine(Doubler(), "input", {"value": 2})

    assert asyncio.run(main()).emitted("output") == [{"value": 4}]


def test_run_routine_async_awaits_without_blocking_the_loop() -> None:
    class Looper(Routine):
        """Its plain handler waits until a task of the caller's loop has run; its async
        one tells whether it runs on the caller's loop."""

        def __init__(self, loop: asyncio.AbstractEventLoop, loop_ran: threading.Event) -> None:
            super().__init__()
            self.loop = loop
            self.loop_ran = loop_ran
            self.define_slot("plain", handler=self.plain)
            self.define_slot("async", handler=self.on_loop)
            self.define_event("output")

        def plain(self) -> None:
            self.emit("output", loop_ran=self.loop_ran.wait(10))

        async def on_loop(self) -> None:
            self.emit("output", same_loop=asyncio.get_running_loop() is self.loop)

    async def main() -> list[RoutineRun]:
        loop_ran = threading.Event()
        looper = Looper(asyncio.get_running_loop(), loop_ran)

        async def set_it() -> None:
            loop_ran.set()

        task = asyncio.create_task(set_it())  # runs only if the loop is free
        runs = [await run_routine_async(looper, "plain")]
        await task
        runs.append(await run_routine_async(looper, "async"))
        runtime = AsyncioRuntime()
        try:
            runs.append(await run_routine_async(looper, "async", runtime=runtime))
        finally:
            runtime.shutdown()
        return runs

    waited, on_threads, on_loop = asyncio.run(main())
    assert waited.emitted("output") == [{"loop_ran": True}]
    assert on_threads.emitted("output") == [{"same_loop": False}]  # the runtime's loop
    assert on_loop.emitted("output") == [{"same_loop": True}]  # the caller's loop


def test_run_routine_async_times_out_and_cancels_the_job() -> None:
    blocker = Blocker()
    blocker.define_slot("slow", handler=blocker.block_async)

    async def main() -> None:
        await run_routine_async(blocker, "slow", timeout=0.2)

    try:
        with pytest.raises(TimeoutError, match=r"did not finish within 0\.2 s"):
            asyncio.run(main())
    finally:
        blocker.release.set()
    (job,) = blocker.jobs
    assert job.wait_for_completion(10)
    assert job.status == "cancelled"


# -- assert_history ---------------------------------------------------------------------

HISTORY = records(
    ("source", "start", {"values": [1, 2]}),
    ("source", "output", {"value": 1}),
    ("sink", "stored", {"value": 1, "total": 1}),
    ("source", "output", {"value": 2}),
    ("sink", "stored", {"value": 2, "total": 3}),
    ("source", "completed", {"execution_time": 0.25}),
)


def test_exact_mode_matches_every_record_in_order_and_returns_them() -> None:
    expected = [
        ("source", "start"),
        ("source", "output", {"value": 1}),
        ("sink", "stored", {"total": 1}),
        ("source", "output", lambda data: data["value"] == 2),
        (mock.ANY, "stored"),
        ("source", "completed"),
    ]
    assert assert_history(HISTORY, expected) == HISTORY


def test_exact_mode_shows_both_lists_and_marks_the_first_difference() -> None:
    expected = [("source", "start"), ("source", "output", {"value": 2})]
    with pytest.raises(AssertionError) as raised:
        assert_history(HISTORY[:2], expected)
    assert str(raised.value) == (
        "history differs at record 1 (mode 'exact'): expected source.output with "
        "{'value': 2}, got source.output {'value': 1}\n"
        "expected (2 records):\n"
        "     0  source.start\n"
        "  >  1  source.output with {'value': 2}\n"
        "actual (2 records):\n"
        "     0  source.start {'values': [1, 2]}\n"
        "  >  1  source.output {'value': 1}"
    )


def test_exact_mode_reports_missing_and_extra_records() -> None:
    with pytest.raises(AssertionError, match=r"has 1 more record\(s\) than expected .* record 1: "):
        assert_history(HISTORY[:2], [("source", "start")])
    with pytest.raises(AssertionError, match=r"missing 1 record\(s\) .* expected record 2: sink"):
        assert_history(HISTORY[:2], [("source", "start"), ("source", "output"), ("sink", "x")])


def test_subsequence_mode_skips_other_records() -> None:
    matched = assert_history(
        HISTORY, [("source", "output"), ("source", "completed")], mode="subsequence"
    )
    assert matched == [HISTORY[1], HISTORY[5]]
    # The earliest fitting record is taken, so a later pattern can still match.
    assert assert_history(
        HISTORY, [("sink", "stored"), ("sink", "stored", {"total": 3})], mode="subsequence"
    ) == [HISTORY[2], HISTORY[4]]


def test_subsequence_mode_says_which_record_was_not_found_after_what() -> None:
    with pytest.raises(AssertionError) as raised:
        assert_history(
            HISTORY, [("source", "output"), ("sink", "stored", {"total": 9})], mode="subsequence"
        )
    message = str(raised.value)
    assert message.startswith(
        "expected record 1 (sink.stored with {'total': 9}) not found after record 1 "
        "(mode 'subsequence')"
    )
    assert "  ok 0  source.output\n  >  1  sink.stored with {'total': 9}" in message
    assert "  *  1  source.output {'value': 1}" in message


def test_unordered_mode_finds_an_assignment_greedy_matching_would_miss() -> None:
    history = records(("a", "x", {"v": 1}), ("a", "x", {"v": 2}))
    expected = [("a", "x"), ("a", "x", {"v": 1})]
    matched = assert_history(history, expected, mode="unordered")
    assert matched == [history[1], history[0]]  # in the order of expected


def test_unordered_mode_lists_what_was_not_found_and_what_was_unexpected() -> None:
    history = records(("a", "x", {"v": 1}), ("a", "y", {}))
    with pytest.raises(AssertionError) as raised:
        assert_history(history, [("a", "x"), ("a", "z")], mode="unordered")
    assert str(raised.value).splitlines()[0] == (
        "history does not match (mode 'unordered'): not found: a.z / unexpected: a.y"
    )


def test_routines_filters_the_history() -> None:
    assert_history(HISTORY, [("sink", "stored"), ("sink", "stored")], routines="sink")
    pairs = [(r.routine_id, r.event_name) for r in HISTORY]
    assert_history(HISTORY, pairs, routines={"sink", "source"})
    with pytest.raises(AssertionError):
        assert_history(HISTORY, pairs, routines="sink")


def test_a_job_state_is_read_whole() -> None:
    flow = Flow(flow_id="pairs")
    flow.add_routine(Source(), "source")
    job = flow.execute("source", {"values": [4]})
    assert_history(
        job, [("source", "start"), ("source", "output", {"value": 4}), ("source", "completed")]
    )


def test_long_data_and_long_histories_are_cut_in_the_message() -> None:
    many = records(*[("r", "e", {"n": n}) for n in range(200)])
    long = records(("r", "e", {"text": "x" * 500}))
    with pytest.raises(AssertionError) as raised:
        assert_history(long, [("r", "f")])
    assert "x" * 80 + "..." in str(raised.value) and "x" * 120 not in str(raised.value)
    with pytest.raises(AssertionError) as raised:
        assert_history(many, [("r", "e")] * 150 + [("r", "nope")])
    message = str(raised.value)
    assert "  >  150  r.nope" in message
    assert "      ... 87 more\n" in message and message.endswith("      ... 46 more")
    assert len(message.splitlines()) < 200


@pytest.mark.parametrize(
    ("history", "expected", "options", "error", "match"),
    [
        (HISTORY, [], {"mode": "fuzzy"}, ConfigurationError, "mode must be one of"),
        (HISTORY, [("a",)], {}, InvalidPayloadError, r"expected\[0\] must be"),
        (HISTORY, [["a", "b"]], {}, InvalidPayloadError, r"expected\[0\] must be"),
        (HISTORY, [("a", "b", 3)], {}, InvalidPayloadError, r"expected\[0\]: data must be"),
        (HISTORY, ("a", "b"), {}, InvalidPayloadError, r"expected\[0\] must be"),
        (HISTORY, "ab", {}, InvalidPayloadError, "expected must be a list"),
        ("job", [], {}, InvalidPayloadError, "expects a JobState"),
        ([1], [], {}, InvalidPayloadError, r"history\[0\] is a int"),
        (HISTORY, [], {"routines": 3}, InvalidPayloadError, "routines must be"),
        (HISTORY, [], {"routines": [3]}, InvalidPayloadError, "routine ids"),
    ],
)
def test_bad_arguments_to_assert_history(
    history: Any, expected: Any, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        assert_history(history, expected, **options)


# -- ManualClock ------------------------------------------------------------------------


def test_a_manual_clock_is_a_thread_runtime_a_flow_accepts() -> None:
    clock = ManualClock()
    assert isinstance(clock, ThreadRuntime) and not clock.auto_advance
    assert Flow(runtime=clock).runtime is clock
    assert (clock.now, clock.delays, clock.pending) == (0.0, [], [])
    assert repr(clock) == "ManualClock[manual, now=0.0, pending=0]"


def test_calls_are_made_by_advance_earliest_first_in_the_calling_thread() -> None:
    clock = ManualClock()
    made: list[tuple[str, str]] = []

    def record(name: str) -> None:
        made.append((name, threading.current_thread().name))

    for name, delay in [("c", 3.0), ("a", 1.0), ("b1", 2.0), ("b2", 2.0)]:
        clock.call_later(delay, record, name)
    assert clock.pending == [1.0, 2.0, 2.0, 3.0]
    assert clock.advance(0.5) == 0 and made == []
    assert clock.advance(1.5) == 3
    here = threading.current_thread().name
    assert made == [("a", here), ("b1", here), ("b2", here)]
    assert (clock.now, clock.pending) == (2.0, [3.0])
    assert clock.delays == [3.0, 1.0, 2.0, 2.0]


def test_the_clock_counts_in_decimal() -> None:
    clock = ManualClock()
    clock.advance(0.1)
    clock.advance(0.2)
    assert clock.now == 0.3
    clock.call_later(0.1, lambda: None)
    assert clock.pending == [0.4]


def test_a_call_scheduled_during_advance_counts_from_the_new_time() -> None:
    clock = ManualClock()
    made: list[str] = []

    def first() -> None:
        made.append("first")
        clock.call_later(0.5, made.append, "second")

    clock.call_later(1, first)
    assert clock.advance(10) == 1
    assert made == ["first"] and clock.pending == [10.5]


def test_cancelled_calls_are_not_made_nor_pending() -> None:
    clock = ManualClock()
    made: list[int] = []
    handle = clock.call_later(1, made.append, 1)
    clock.call_later(2, made.append, 2)
    handle.cancel()
    assert clock.pending == [2.0]
    assert clock.run_all() == 1
    assert made == [2] and clock.now == 2.0 and clock.delays == [1.0, 2.0]


def test_run_all_leaves_infinite_delays_pending() -> None:
    clock = ManualClock()
    made: list[int] = []
    clock.call_later(float("inf"), made.append, 0)
    clock.call_later(5, made.append, 5)
    assert clock.run_all() == 1 and made == [5]
    assert clock.pending == [float("inf")] and clock.now == 5.0
    assert clock.run_all() == 0 and clock.now == 5.0


def test_a_failing_call_does_not_stop_the_others() -> None:
    clock = ManualClock()
    made: list[int] = []

    def fail() -> None:
        raise RuntimeError("boom")

    clock.call_later(1, fail)
    clock.call_later(2, made.append, 2)
    with pytest.raises(RuntimeError, match="boom"):
        clock.advance(5)
    assert made == [2] and clock.pending == []


def test_retries_wait_for_the_clock_step_by_step() -> None:
    clock = ManualClock()
    flaky = Flaky(failures=3, delay=1, backoff=3)
    flow = flaky_flow(clock, flaky)
    try:
        job = flow.execute("source", wait=False)
        clock.wait_for_pending()
        assert clock.pending == [1.0]
        assert clock.advance(0.9) == 0
        assert not job.wait_for_completion(0.05)  # nothing runs until the clock moves
        assert clock.advance(0.1) == 1
        clock.wait_for_pending()
        assert clock.pending == [4.0]
        assert clock.advance(3) == 1
        clock.wait_for_pending()
        assert clock.pending == [13.0]
        assert clock.run_all() == 1
        assert job.wait_for_completion(10)
    finally:
        flow.shutdown()
    assert job.status == "completed" and clock.delays == [1.0, 3.0, 9.0] and clock.now == 13.0
    assert_history(
        job,
        [
            ("flaky", "retry", {"attempt": 0, "delay": 1.0}),
            ("flaky", "retry", {"attempt": 1, "delay": 3.0}),
            ("flaky", "retry", {"attempt": 2, "delay": 9.0}),
            ("flaky", "output", {"value": 1}),
        ],
        routines="flaky",
    )


def test_auto_advance_makes_each_delay_pass_at_once() -> None:
    clock = ManualClock(auto_advance=True)
    flow = flaky_flow(clock, Flaky(failures=3, delay=1000, backoff=10))
    started = time.monotonic()
    try:
        job = flow.execute("source")
    finally:
        flow.shutdown()
    assert time.monotonic() - started < 30  # a real run would take 111000 s
    assert job.status == "completed"
    assert clock.delays == [1000.0, 10000.0, 100000.0] and clock.now == 111000.0
    assert clock.pending == []


def test_a_pause_takes_the_pending_retry_and_a_resume_runs_it() -> None:
    clock = ManualClock()
    flow = flaky_flow(clock, Flaky(failures=1, delay=60))
    try:
        job = flow.execute("source", wait=False)
        clock.wait_for_pending()
        flow.pause(job, "inspect")
        assert job.status == "paused" and clock.pending == []
        assert clock.advance(100) == 0
        flow.resume(job, wait=True)
    finally:
        flow.shutdown()
    assert job.status == "completed" and clock.delays == [60.0]


def test_wait_for_pending_times_out_naming_what_was_asked_for() -> None:
    clock = ManualClock()
    clock.call_later(2, lambda: None)
    clock.wait_for_pending(1, timeout=0)
    with pytest.raises(
        TimeoutError, match=r"1 call\(s\) pending after 0.05 s, waited for 2; .*\[2.0\]"
    ):
        clock.wait_for_pending(2, timeout=0.05)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda c: c.advance(-1), ConfigurationError, "finite and >= 0"),
        (lambda c: c.advance(float("nan")), ConfigurationError, "finite and >= 0"),
        (lambda c: c.advance(float("inf")), ConfigurationError, "finite and >= 0"),
        (lambda c: c.advance("1"), InvalidPayloadError, "must be a number"),
        (lambda c: c.advance(True), InvalidPayloadError, "must be a number"),
        (lambda c: c.wait_for_pending(0), ConfigurationError, "count must be >= 1"),
        (lambda c: c.wait_for_pending(1.5), InvalidPayloadError, "count must be an int"),
        (lambda c: c.wait_for_pending(1, timeout=-1), ConfigurationError, "timeout"),
        (lambda c: ManualClock(auto_advance=1), InvalidPayloadError, "auto_advance must be"),
    ],
)
def test_bad_arguments_to_the_clock(call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call(ManualClock())


# -- FlowFactory and the pytest plugin --------------------------------------------------


def test_a_flow_factory_makes_flows_and_shuts_them_down() -> None:
    clock = ManualClock()
    with FlowFactory(shutdown_timeout=0.05) as make:
        flow = make("made", "concurrent", 3, runtime=clock)
        assert (flow.flow_id, flow.execution_strategy, flow.max_workers) == (
            "made",
            "concurrent",
            3,
        )
        flaky_flow_of = make("flaky", runtime=clock)
        assert make.flows == [flow, flaky_flow_of]
        flaky_flow_of.add_routine(Flaky(failures=1, delay=5), "flaky")
        job = flaky_flow_of.execute("flaky", wait=False)
        clock.wait_for_pending()
        assert make.close() is False  # the job waits for the clock
        assert make.flows == []
    clock.advance(5)
    assert job.wait_for_completion(10) and job.status == "completed"
    assert FlowFactory().close() is True
    clock.shutdown()


def test_the_fixtures(
    manual_clock: ManualClock, auto_clock: ManualClock, routilux_flow: FlowFactory
) -> None:
    assert isinstance(manual_clock, ManualClock) and not manual_clock.auto_advance
    assert auto_clock.auto_advance
    assert isinstance(routilux_flow, FlowFactory)
    flow = flaky_flow(auto_clock, Flaky(failures=2))
    assert flow.execute("source").status == "completed"
    made = routilux_flow("made", runtime=manual_clock)
    assert routilux_flow.flows == [made] and made.runtime is manual_clock


PLUGIN_TESTS = """
import warnings

from routilux import ErrorHandler, Routine
from routilux.testing import FlowFactory, ManualClock


class Flaky(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.call)
        self.set_error_handler(ErrorHandler("retry", max_retries=1, retry_delay=5))

    def call(self):
        if self.require_execution_context().get_channel().increment("n") == 1:
            raise ConnectionError("down")


def test_clocks(manual_clock, auto_clock):
    assert type(manual_clock) is ManualClock and not manual_clock.auto_advance
    assert auto_clock.auto_advance


def test_a_job_left_waiting(routilux_flow, manual_clock):
    flow = routilux_flow("left", runtime=manual_clock)
    flow.add_routine(Flaky(), "flaky")
    flow.execute("flaky", wait=False)
    manual_clock.wait_for_pending()
"""


def run_pytest(directory: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *options],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_pytest_loads_the_plugin_from_its_entry_point(tmp_path: Path) -> None:
    (tmp_path / "test_plugin.py").write_text(PLUGIN_TESTS, encoding="utf-8")
    completed = run_pytest(tmp_path, "-W", "always")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "2 passed" in completed.stdout
    # The flow left with a job waiting for the clock is reported.
    assert "RuntimeWarning: routilux_flow: a job of the flows 'left' was still running" in (
        completed.stdout
    )
    disabled = run_pytest(tmp_path, "-p", "no:routilux")
    assert disabled.returncode == 1
    assert "fixture 'manual_clock' not found" in disabled.stdout


FAILING_TESTS = """
from routilux import Routine
from routilux.testing import assert_history, run_routine


class Broken(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("output")

    def go(self, x):
        raise ValueError("broken")


def test_history():
    assert_history(run_routine(Broken(), "input", {"x": 1}), [("routine", "output")])


def test_completed():
    run_routine(Broken(), "input", {"x": 1}).assert_completed()
"""


def test_a_failed_check_points_pytest_at_the_test_not_at_routilux(tmp_path: Path) -> None:
    """pytest's report of a failed assert_history or assert_completed ends at the test's
    line, with the message: the helpers' own frames are hidden (__tracebackhide__)."""
    (tmp_path / "test_failing.py").write_text(FAILING_TESTS, encoding="utf-8")
    completed = run_pytest(tmp_path)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "2 failed" in completed.stdout
    report = completed.stdout
    assert "history differs at record 0 (mode 'exact'): expected routine.output" in report
    assert "- routine.input: ValueError: broken" in report
    assert "test_failing.py:17: AssertionError" in report
    assert "test_failing.py:21: AssertionError" in report
    assert "routilux/testing.py" not in report.replace("\\", "/")


def test_pytest_main_after_importing_routilux_with_warnings_as_errors(tmp_path: Path) -> None:
    """docs/guide/testing.rst: a script that imports routilux, then runs pytest with
    warnings as errors, is not stopped by pytest's "cannot be rewritten" warning (the
    package carries pytest's PYTEST_DONT_REWRITE marker)."""
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    pass\n", encoding="utf-8")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nfilterwarnings =\n    error\n", encoding="utf-8"
    )
    script = (
        "import sys\n"
        "import routilux, pytest\n"
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'test_plain.py']))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed" in ran.stdout
    assert "cannot be rewritten" not in ran.stdout + ran.stderr


def test_routilux_testing_imports_and_runs_without_pytest() -> None:
    script = (
        "import sys\n"
        "sys.modules['pytest'] = None  # import pytest now raises ImportError\n"
        "from routilux import Routine\n"
        "from routilux.testing import run_routine, assert_history, ManualClock\n"
        "class R(Routine):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.define_slot('input', handler=self.go)\n"
        "        self.define_event('output')\n"
        "    def go(self, x):\n"
        "        self.emit('output', x=x)\n"
        "run = run_routine(R(), 'input', {'x': 1})\n"
        "assert_history(run, [('routine', 'output', {'x': 1})], routines='routine')\n"
        "print(run.emitted('output'), '_pytest' in sys.modules)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "[{'x': 1}] False\n"

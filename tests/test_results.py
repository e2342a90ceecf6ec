"""Results: what a slot handler returns (when not None) is its routine's result in the
job, readable with ``job_state.get_result`` and, in later handlers, ``ctx.get_result``,
and saved with the job."""

from __future__ import annotations

import contextvars
import json
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from routilux import Flow, JobState, Routine
from routilux.exceptions import SerializationError
from routilux.execution_context import ExecutionContext

from helpers import Body, Emit, Step, finish


def line(
    *steps: tuple[str, Routine], flow_id: str = "results", strategy: str = "sequential"
) -> Flow:
    """The routines connected ``output`` -> ``input`` in a line."""
    flow = Flow(flow_id, strategy, max_workers=4)
    previous = None
    for routine_id, routine in steps:
        flow.add_routine(routine, routine_id)
        if previous is not None:
            flow.connect(previous, "output", routine_id, "input")
        previous = routine_id
    return flow


# -- what becomes a result ------------------------------------------------------------


def test_a_downstream_handler_reads_the_upstream_result() -> None:
    seen: list[Any] = []

    def fetch(ctx: ExecutionContext, _: dict[str, Any]) -> dict[str, Any]:
        assert ctx.get_result("fetch") is None  # not yet returned
        return {"data": [1, 2, 3]}

    def process(ctx: ExecutionContext, _: dict[str, Any]) -> dict[str, Any]:
        upstream = ctx.get_result("fetch")
        seen.append(upstream)
        assert upstream == ctx.job_state.get_result("fetch")
        return {"processed": len(upstream["data"])}

    flow = line(("fetch", Step(fetch)), ("process", Step(process)))
    job = finish(flow, flow.execute("fetch"))
    assert seen == [{"data": [1, 2, 3]}]
    assert job.get_result("fetch") == {"data": [1, 2, 3]}
    assert job.get_result("process") == {"processed": 3}
    assert job.results == {"fetch": {"data": [1, 2, 3]}, "process": {"processed": 3}}


def test_the_entry_handlers_return_value_is_a_result_too() -> None:
    flow = line(("emit", Emit()), ("sink", Step()))
    job = finish(flow, flow.execute("emit", {"count": 2}))
    assert job.get_result("emit") == 2
    assert "sink" not in job.results  # it returned None


def test_none_is_not_stored_and_an_earlier_result_stays() -> None:
    def sometimes(ctx: ExecutionContext, data: dict[str, Any]) -> Any:
        return f"got {data['value']}" if data["value"] == 1 else None

    flow = line(("emit", Emit()), ("sometimes", Step(sometimes)), ("never", Step()))
    job = finish(flow, flow.execute("emit", {"count": 4}))
    assert flow.routines["sometimes"].calls == 4
    assert job.get_result("sometimes") == "got 1"  # values 2 and 3 returned None
    assert job.get_result("never") is None
    assert job.get_result("never", "nothing") == "nothing"
    assert set(job.results) == {"emit", "sometimes"}


@pytest.mark.parametrize("falsy", [0, "", [], {}, False, 0.0])
def test_falsy_results_other_than_none_are_stored(falsy: Any) -> None:
    flow = line(("only", Step(lambda ctx, data: falsy)))
    job = finish(flow, flow.execute("only"))
    assert "only" in job.results
    result = job.get_result("only", "default")
    assert result == falsy and type(result) is type(falsy)


def test_the_last_returned_value_wins_over_several_activations() -> None:
    returned: list[int] = []

    def tenfold(ctx: ExecutionContext, data: dict[str, Any]) -> int:
        # Every activation sees what the one before returned.
        previous = ctx.get_result("tenfold")
        assert previous == (returned[-1] if returned else None)
        returned.append(data["value"] * 10)
        return returned[-1]

    flow = line(("emit", Emit()), ("tenfold", Step(tenfold)))
    job = finish(flow, flow.execute("emit", {"count": 5}))
    assert returned == [0, 10, 20, 30, 40]
    assert job.get_result("tenfold") == 40


class TwoSlots(Routine):
    """One routine, two slots with their own handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("left", handler=self.on_left)
        self.define_slot("right", handler=self.on_right)

    def on_left(self, value: int) -> str:
        return f"left {value}"

    def on_right(self, value: int) -> str:
        return f"right {value}"


@pytest.mark.parametrize(
    ("order", "expected"),
    [(["left", "right"], "right 0"), (["right", "left"], "left 0")],
)
def test_a_routine_with_several_slots_has_one_result_the_last_returned(
    order: list[str], expected: str
) -> None:
    flow = Flow("two-slots")
    flow.add_routine(Emit(), "emit")
    flow.add_routine(TwoSlots(), "both")
    for slot in order:  # the sequential strategy runs deliveries in connect order
        flow.connect("emit", "output", "both", slot)
    job = finish(flow, flow.execute("emit"))
    assert job.get_result("both") == expected
    assert list(job.results) == ["emit", "both"]


def test_a_failed_activation_leaves_the_earlier_result() -> None:
    class Fragile(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.handle)

        def handle(self, value: int) -> int:
            if value == 1:
                raise RuntimeError("boom")
            return value + 100

    flow = line(("emit", Emit()), ("fragile", Fragile()))
    job = flow.execute("emit", {"count": 2})
    # A downstream failure without an error handler is recorded; the job goes on.
    assert job.status == "completed"
    assert [error["routine_id"] for error in job.errors] == ["fragile"]
    assert job.get_result("fragile") == 100


def test_get_result_default_for_unknown_routines() -> None:
    def body(ctx: ExecutionContext, _: dict[str, Any]) -> str:
        assert ctx.get_result("no-such-routine") is None
        assert ctx.get_result("no-such-routine", "fallback") == "fallback"
        assert ctx.get_result("later", default=0) == 0  # has not run yet
        return "done"

    flow = line(("first", Step(body)), ("later", Step(lambda ctx, data: "later")))
    job = finish(flow, flow.execute("first"))
    assert job.get_result("no-such-routine") is None
    assert job.get_result("no-such-routine", 42) == 42
    assert job.get_result("later", "unused") == "later"
    assert JobState("fresh").get_result("anything", "d") == "d"
    assert JobState("fresh").results == {}


def test_results_is_a_copy() -> None:
    flow = line(("only", Step(lambda ctx, data: {"answer": 42})))
    job = finish(flow, flow.execute("only"))
    copy = job.results
    assert copy == {"only": {"answer": 42}}
    assert copy is not job.results
    copy["only"] = "replaced"
    copy["intruder"] = 1
    del copy["only"]
    assert job.results == {"only": {"answer": 42}}
    assert job.get_result("intruder") is None


def test_results_are_isolated_per_job() -> None:
    previous: list[Any] = []

    def remember(ctx: ExecutionContext, data: dict[str, Any]) -> str:
        previous.append(ctx.get_result("remember"))
        return f"run {data['run']}"

    flow = line(("remember", Step(remember)))
    first = finish(flow, flow.execute("remember", {"run": 1}))
    second = finish(flow, flow.execute("remember", {"run": 2}))
    assert previous == [None, None]  # the second job did not see the first one's result
    assert first.get_result("remember") == "run 1"
    assert second.get_result("remember") == "run 2"


def test_results_of_concurrent_jobs_never_mix() -> None:
    jobs_count = 6
    barrier = threading.Barrier(jobs_count, timeout=10)

    def produce(ctx: ExecutionContext, data: dict[str, Any]) -> dict[str, int]:
        barrier.wait()  # all jobs are in this handler at once
        return {"run": data["run"]}

    def consume(ctx: ExecutionContext, data: dict[str, Any]) -> int:
        assert ctx.get_result("produce") == {"run": data["run"]}
        return data["run"] * 100

    flow = line(("produce", Step(produce)), ("consume", Step(consume)))
    jobs: dict[int, JobState] = {}

    def start(run: int) -> None:
        jobs[run] = flow.execute("produce", {"run": run})

    threads = [threading.Thread(target=start, args=(run,)) for run in range(jobs_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(jobs) == list(range(jobs_count))
    for run, job in jobs.items():
        finish(flow, job)
        assert job.results == {"produce": {"run": run}, "consume": run * 100}


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_results_under_both_strategies(strategy: str) -> None:
    def double(ctx: ExecutionContext, data: dict[str, Any]) -> int:
        return data["value"] * 2

    flow = line(("emit", Emit()), ("double", Step(double)), strategy=strategy)
    job = finish(flow, flow.execute("emit", {"count": 1}))
    assert job.results == {"emit": 1, "double": 0}


# -- results are saved with the job ---------------------------------------------------


def rich_results_job() -> JobState:
    def fetch(ctx: ExecutionContext, _: dict[str, Any]) -> dict[str, Any]:
        return {"pair": (1, "a"), "tags": {"x", "y"}, "day": date(2024, 5, 1), 3: "int key"}

    def count(ctx: ExecutionContext, _: dict[str, Any]) -> int:
        return 3

    flow = line(("fetch", Step(fetch)), ("count", Step(count)), ("quiet", Step()))
    return finish(flow, flow.execute("fetch"))


EXPECTED_RICH = {
    "fetch": {"pair": (1, "a"), "tags": {"x", "y"}, "day": date(2024, 5, 1), 3: "int key"},
    "count": 3,
}


def test_results_round_trip_through_serialize_and_deserialize() -> None:
    job = rich_results_job()
    document = json.loads(json.dumps(job.serialize()))
    loaded = JobState.deserialize(document)
    assert loaded.results == EXPECTED_RICH
    assert type(loaded.get_result("fetch")["pair"]) is tuple
    assert type(loaded.get_result("fetch")["tags"]) is set
    assert loaded.get_result("quiet", "none") == "none"
    # Loading into an existing job replaces its results.
    other = JobState("other")
    other.deserialize(document)
    assert other.results == EXPECTED_RICH


def test_results_round_trip_through_save_and_load(tmp_path: Path) -> None:
    job = rich_results_job()
    path = tmp_path / "nested" / "job.json"
    job.save(path)
    loaded = JobState.load(path)
    assert loaded.job_id == job.job_id
    assert loaded.results == EXPECTED_RICH
    assert loaded.get_result("count") == 3


def test_results_survive_pause_save_load_and_resume(tmp_path: Path) -> None:
    seen: list[Any] = []

    def fetch(ctx: ExecutionContext, _: dict[str, Any]) -> dict[str, Any]:
        ctx.flow.pause(ctx.job_state, reason="checkpoint")
        return {"rows": (1, 2, 3)}

    def process(ctx: ExecutionContext, _: dict[str, Any]) -> int:
        rows = ctx.get_result("fetch")
        seen.append(rows)
        return sum(rows["rows"])

    def build(first: Body, second: Body) -> Flow:
        return line(("fetch", Step(first)), ("process", Step(second)), flow_id="pausing")

    flow = build(fetch, process)
    job = flow.execute("fetch")
    assert job.status == "paused"
    assert job.results == {"fetch": {"rows": (1, 2, 3)}}  # returned while pausing
    assert seen == []

    path = tmp_path / "paused.json"
    job.save(path)
    rebuilt = build(lambda ctx, data: pytest.fail("the entry does not run again"), process)
    loaded = JobState.load(path)
    assert loaded.results == {"fetch": {"rows": (1, 2, 3)}}
    rebuilt.resume(loaded, wait=True)
    finish(rebuilt, loaded)
    assert seen == [{"rows": (1, 2, 3)}]
    assert loaded.results == {"fetch": {"rows": (1, 2, 3)}, "process": 6}


def test_results_survive_an_in_process_pause_and_resume() -> None:
    release = threading.Event()
    entered = threading.Event()

    def fetch(ctx: ExecutionContext, _: dict[str, Any]) -> str:
        return "fetched"

    def wait_here(ctx: ExecutionContext, _: dict[str, Any]) -> str:
        entered.set()
        assert release.wait(10)
        return "waited"

    def last(ctx: ExecutionContext, _: dict[str, Any]) -> list[Any]:
        return [ctx.get_result("fetch"), ctx.get_result("wait")]

    flow = line(("fetch", Step(fetch)), ("wait", Step(wait_here)), ("last", Step(last)))
    job = flow.execute("fetch", wait=False)
    assert entered.wait(10)
    pauser = threading.Thread(target=flow.pause, args=(job,))
    pauser.start()
    release.set()
    pauser.join(10)
    assert job.status == "paused"
    assert job.results == {"fetch": "fetched", "wait": "waited"}
    flow.resume(job, wait=True)
    finish(flow, job)
    assert job.results == {"fetch": "fetched", "wait": "waited", "last": ["fetched", "waited"]}


def test_an_unstorable_result_makes_serialize_raise_naming_the_place(tmp_path: Path) -> None:
    lock = threading.Lock()
    flow = line(
        ("fine", Step(lambda ctx, data: {"ok": 1})),
        ("bad", Step(lambda ctx, data: {"handle": lock})),
    )
    job = finish(flow, flow.execute("fine"))
    assert job.get_result("bad") == {"handle": lock}  # kept in memory as returned
    with pytest.raises(SerializationError) as info:
        job.serialize()
    assert info.value.path == "$.results.bad.handle"
    assert "$.results.bad.handle" in str(info.value)
    path = tmp_path / "job.json"
    with pytest.raises(SerializationError, match=r"\$\.results"):
        job.save(path)
    assert not path.exists()


def test_an_unstorable_top_level_result_is_named_too() -> None:
    flow = line(("odd", Step(lambda ctx, data: object())))
    job = finish(flow, flow.execute("odd"))
    with pytest.raises(SerializationError) as info:
        job.serialize()
    assert info.value.path == "$.results.odd"
    assert "cannot store a value of type object" in str(info.value)


def test_a_routine_started_by_an_emission_reads_the_emitters_result() -> None:
    """L: under the concurrent strategy what a handler emits is released when it
    returns, after its result is recorded: the routine its emission started always
    reads that result (200 runs; before, about 1 in 10 read None)."""
    seen: list[Any] = []
    lock = threading.Lock()

    def fetch(ctx: ExecutionContext, data: dict[str, Any]) -> str:
        return f"fetched {data['n']}"

    def process(ctx: ExecutionContext, data: dict[str, Any]) -> None:
        with lock:
            seen.append((data["n"], ctx.get_result("fetch")))

    class Source(Step):
        def run(self, **data: Any) -> Any:
            for n in range(4):
                self.emit("output", n=n)

    flow = Flow(execution_strategy="concurrent", max_workers=8)
    flow.add_routine(Source(), "src")
    flow.add_routine(Step(fetch), "fetch")
    flow.add_routine(Step(process), "process")
    flow.connect("src", "output", "fetch", "input")
    flow.connect("fetch", "output", "process", "input")
    for _ in range(200):
        seen.clear()
        finish(flow, flow.execute("src"))
        assert len(seen) == 4
        # Four fetches run at once: each process sees a fetch result, at the latest
        # the one of the fetch that started it.
        assert all(result is not None and result.startswith("fetched") for _, result in seen)


def test_emissions_of_a_thread_the_handler_started_go_out_at_once_after_it_returned() -> None:
    """L: the hold ends when the handler returns; a thread it started (with its
    context) that emits later delivers straight away."""
    released = threading.Event()
    done = threading.Event()
    received: list[Any] = []

    class Spawner(Step):
        def run(self, **data: Any) -> Any:
            context = contextvars.copy_context()

            def later() -> None:
                assert released.wait(10)
                self.emit("output", late=True)
                done.set()

            threading.Thread(target=context.run, args=(later,)).start()
            self.emit("output", late=False)
            return "spawned"

    def collect(ctx: ExecutionContext, data: dict[str, Any]) -> None:
        received.append(data["late"])
        if not data["late"]:
            # The spawner has returned (its emission was released); keep the job alive
            # until the thread's late emission is in.
            released.set()
            assert done.wait(10)

    flow = Flow(execution_strategy="concurrent")
    flow.add_routine(Spawner(), "spawner")
    flow.add_routine(Step(collect, forward=False), "sink")
    flow.connect("spawner", "output", "sink", "input")
    job = flow.execute("spawner", wait=False)
    assert done.wait(10)
    assert job.wait_for_completion(10)
    assert received == [False, True]
    assert job.status == "completed"

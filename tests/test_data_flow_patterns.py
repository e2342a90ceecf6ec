"""The data flow patterns and best practices of the Graflow seed document
(``graflow-03-data-flow.md``), written the Routilux way.

Graflow tasks get their context injected; a Routilux handler asks its routine for it
with ``self.get_execution_context()``. ``ctx.get_channel()``,
``ctx.get_typed_channel(Schema)`` and ``ctx.get_result(routine_id)`` then work as in
the seed. A task's return value is a routine's result: what its slot handler returns.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, TypedDict

import pytest

from routilux import Flow, JobState, Routine
from routilux.exceptions import ChannelTypeError
from routilux.execution_context import ExecutionContext


def context_of(routine: Routine) -> ExecutionContext:
    ctx = routine.get_execution_context()
    assert ctx is not None
    return ctx


def completed(job: JobState) -> JobState:
    """The job, after checking that no handler failed (failed checks in handlers are
    recorded as routine errors of the job)."""
    assert job.errors == []
    assert job.status == "completed"
    return job


# -- pattern 1: shared configuration --------------------------------------------------


class Setup(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.setup)
        self.define_event("ready")

    def setup(self, batch_size: int = 100, **_: Any) -> None:
        context_of(self).get_channel().set("config", {"batch_size": batch_size})
        self.emit("ready")


class BatchProcessor(Routine):
    """Splits its items into batches of the configured size."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.process)

    def process(self) -> list[list[int]]:
        config = context_of(self).get_channel().get("config")
        batch_size = config["batch_size"]
        items = list(range(10))
        return [items[i : i + batch_size] for i in range(0, len(items), batch_size)]


def shared_configuration_flow() -> Flow:
    flow = Flow("shared-config")
    flow.add_routine(Setup(), "setup")
    flow.add_routine(BatchProcessor(), "process")
    flow.connect("setup", "ready", "process", "input")
    return flow


@pytest.mark.parametrize(
    ("batch_size", "batches"),
    [(100, [list(range(10))]), (4, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])],
)
def test_pattern_1_shared_configuration(batch_size: int, batches: list[list[int]]) -> None:
    flow = shared_configuration_flow()
    job = completed(flow.execute("setup", {"batch_size": batch_size}))
    assert job.get_result("process") == batches
    assert job.get_channel().get("config") == {"batch_size": batch_size}


# -- pattern 2: accumulating state ----------------------------------------------------


class Batches(Routine):
    """Entry: emits one ``batch`` event per batch."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.start)
        self.define_event("batch", ["index"])

    def start(self, batches: int = 1, **_: Any) -> None:
        for index in range(batches):
            self.emit("batch", index=index)


class ProcessBatch(Routine):
    """Adds the size of each batch it processes to ``total_processed``."""

    def __init__(self, size: int = 100) -> None:
        super().__init__()
        self.size = size
        self.define_slot("input", handler=self.process)

    def process(self, index: int) -> int:
        # channel.increment is the atomic form of the seed's get + add + set.
        return context_of(self).get_channel().increment("total_processed", self.size)


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_pattern_2_accumulating_state(strategy: str) -> None:
    flow = Flow("accumulate", strategy, max_workers=8)
    flow.add_routine(Batches(), "batches")
    sizes = {"small": 1, "medium": 100, "large": 1_000}
    for routine_id, size in sizes.items():
        flow.add_routine(ProcessBatch(size), routine_id)
        flow.connect("batches", "batch", routine_id, "input")
    job = completed(flow.execute("batches", {"batches": 50}))
    assert job.get_channel().get("total_processed") == 50 * sum(sizes.values())
    # Every activation saw a running total (its own return value) no larger than
    # the end total.
    assert 0 < job.get_result("small") <= 50 * 1_101


class NaiveProcessBatch(ProcessBatch):
    """The seed's code verbatim: get with a default, add, set."""

    def process(self, index: int) -> None:
        channel = context_of(self).get_channel()
        total = channel.get("total_processed", 0)
        total += 100
        channel.set("total_processed", total)


def test_pattern_2_the_seeds_get_and_set_is_exact_under_the_sequential_strategy() -> None:
    # Sequential: one activation at a time, so the unlocked read-modify-write is safe.
    flow = Flow("accumulate-naive")
    flow.add_routine(Batches(), "batches")
    for routine_id in ("a", "b"):
        flow.add_routine(NaiveProcessBatch(), routine_id)
        flow.connect("batches", "batch", routine_id, "input")
    job = completed(flow.execute("batches", {"batches": 20}))
    assert job.get_channel().get("total_processed") == 20 * 2 * 100


# -- pattern 3: type-safe messages ----------------------------------------------------


class MetricsMessage(TypedDict):
    count: int
    status: str
    timestamp: float


class CollectMetrics(Routine):
    def __init__(self, metrics: dict[str, Any]) -> None:
        super().__init__()
        self.metrics = metrics
        self.define_slot("trigger", handler=self.collect)
        self.define_event("collected")

    def collect(self) -> str:
        typed_channel = context_of(self).get_typed_channel(MetricsMessage)
        try:
            typed_channel.set("metrics", self.metrics)  # type: ignore[arg-type]
        except ChannelTypeError as exc:
            return f"refused: {exc}"
        self.emit("collected")
        return "stored"


class ReadMetrics(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.read)

    def read(self) -> MetricsMessage | None:
        return context_of(self).get_typed_channel(MetricsMessage).get("metrics")


def metrics_flow(metrics: dict[str, Any]) -> Flow:
    flow = Flow("metrics")
    flow.add_routine(CollectMetrics(metrics), "collect")
    flow.add_routine(ReadMetrics(), "read")
    flow.connect("collect", "collected", "read", "input")
    return flow


def test_pattern_3_type_safe_messages() -> None:
    metrics = {"count": 100, "status": "success", "timestamp": time.time()}
    job = completed(metrics_flow(metrics).execute("collect"))
    assert job.get_result("collect") == "stored"
    assert job.get_result("read") == metrics
    assert job.get_channel().get("metrics") == metrics


@pytest.mark.parametrize(
    ("wrong", "words"),
    [
        ({"count": "100", "status": "success", "timestamp": 1.0}, "metrics.count must be int"),
        ({"count": 100, "status": 200, "timestamp": 1.0}, "metrics.status must be str"),
        ({"count": 100, "status": "success", "timestamp": "now"}, "metrics.timestamp"),
        ({"count": 100, "status": "success"}, "required key(s) 'timestamp'"),
        ({"count": 1, "status": "ok", "timestamp": 1.0, "extra": 1}, "unknown key(s) 'extra'"),
    ],
)
def test_pattern_3_a_wrong_message_is_refused(wrong: dict[str, Any], words: str) -> None:
    job = completed(metrics_flow(wrong).execute("collect"))
    result = job.get_result("collect")
    assert result.startswith("refused: channel key 'metrics'")
    assert words in result
    assert not job.get_channel().exists("metrics")  # nothing stored
    assert job.get_result("read", "did not run") == "did not run"


# -- pattern 4: result dependencies ---------------------------------------------------


class Fetch(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.fetch)
        self.define_event("done")

    def fetch(self) -> dict[str, Any]:
        self.emit("done")
        return {"data": [1, 2, 3]}


class Process(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.process)

    def process(self) -> dict[str, int]:
        data = context_of(self).get_result("fetch")
        return {"processed": len(data["data"])}


def test_pattern_4_result_dependencies() -> None:
    flow = Flow("pipeline")
    flow.add_routine(Fetch(), "fetch")
    flow.add_routine(Process(), "process")
    flow.connect("fetch", "done", "process", "input")  # fetch >> process
    job = completed(flow.execute("fetch"))
    assert job.get_result("fetch") == {"data": [1, 2, 3]}
    assert job.get_result("process") == {"processed": 3}


# -- best practices -------------------------------------------------------------------


class Probe(Routine):
    """Runs ``check(ctx)`` in its handler and returns what it returns."""

    def __init__(self, check: Any) -> None:
        super().__init__()
        self.check = check
        self.define_slot("trigger", handler=self.run)

    def run(self) -> Any:
        return self.check(context_of(self))


def probe(check: Any) -> Any:
    flow = Flow("probe")
    flow.add_routine(Probe(check), "probe")
    return completed(flow.execute("probe")).get_result("probe")


def test_practice_provide_default_values() -> None:
    def check(ctx: ExecutionContext) -> list[Any]:
        channel = ctx.get_channel()
        return [channel.get("retries", default=0), channel.get("retries", 3)]

    assert probe(check) == [0, 3]


def test_practice_descriptive_keys_are_distinct_and_listed() -> None:
    def check(ctx: ExecutionContext) -> list[Any]:
        channel = ctx.get_channel()
        channel.set("user_auth_token", "t0k3n")
        channel.set("user_auth_token_expiry", 3600)
        channel.set("etl.stage1.rows", 10)
        channel.set("etl.stage2.rows", 20)
        return [channel.keys(), channel.get("user_auth_token"), channel.get("etl.stage2.rows")]

    assert probe(check) == [
        ["user_auth_token", "user_auth_token_expiry", "etl.stage1.rows", "etl.stage2.rows"],
        "t0k3n",
        20,
    ]


def test_practice_do_not_assume_key_existence() -> None:
    def check(ctx: ExecutionContext) -> dict[str, Any]:
        channel = ctx.get_channel()
        # No KeyError for a key nobody set: get returns the default.
        return {
            "plain": channel.get("never_set"),
            "with_default": channel.get("never_set", default="fallback"),
            "exists": channel.exists("never_set"),
            "listed": "never_set" in channel.keys(),  # noqa: SIM118 - the seed's idiom
        }

    assert probe(check) == {
        "plain": None,
        "with_default": "fallback",
        "exists": False,
        "listed": False,
    }


class WriteDataset(Routine):
    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.define_slot("trigger", handler=self.write)
        self.define_event("written")

    def write(self, rows: int = 1, **_: Any) -> None:
        path = self.directory / "dataset.csv"
        path.write_text("".join(f"{n},{n * n}\n" for n in range(rows)))
        context_of(self).get_channel().set("data_path", str(path))  # not the data
        self.emit("written")


class ReadDataset(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.read)

    def read(self) -> int:
        path = Path(context_of(self).get_channel().get("data_path"))
        return sum(int(line.split(",")[1]) for line in path.read_text().splitlines())


def test_practice_store_a_path_rather_than_a_large_object(tmp_path: Path) -> None:
    flow = Flow("by-reference")
    flow.add_routine(WriteDataset(tmp_path), "write")
    flow.add_routine(ReadDataset(), "read")
    flow.connect("write", "written", "read", "input")
    job = completed(flow.execute("write", {"rows": 10_000}))
    assert job.get_result("read") == sum(n * n for n in range(10_000))
    # The job, saved, holds the path and not the data.
    document = job.serialize()
    assert document["shared_data"] == {"data_path": str(tmp_path / "dataset.csv")}
    assert len(json.dumps(document["shared_data"])) < 500


class Double(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.process)

    def process(self, x: int) -> int:
        return x * 2


class Numbers(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.start)
        self.define_event("number", ["x"])

    def start(self, x: int = 0, **_: Any) -> None:
        self.emit("number", x=x)


def test_practice_parameters_rather_than_channel_for_direct_inputs() -> None:
    flow = Flow("parameters")
    flow.add_routine(Numbers(), "numbers")
    flow.add_routine(Double(), "double")
    flow.connect("numbers", "number", "double", "input")
    job = completed(flow.execute("numbers", {"x": 21}))
    # x arrived as the handler's parameter; nothing went through the channel.
    assert job.get_result("double") == 42
    assert job.get_channel().keys() == []
    emitted = [r.data for r in job.get_execution_history("numbers") if r.event_name == "number"]
    assert emitted == [{"x": 21}]


def test_practice_data_flow_by_parameters_and_channel_together() -> None:
    """Channel for what many routines share (a factor), parameters for each input."""

    class Configure(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.start)
            self.define_event("number", ["x"])

        def start(self, factor: int = 1, **_: Any) -> None:
            context_of(self).get_channel().set("shared_factor", factor)
            for x in (1, 2, 3):
                self.emit("number", x=x)

    class Scale(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.scale)

        def scale(self, x: int) -> int:
            factor = context_of(self).get_channel().get("shared_factor", 1)
            return context_of(self).get_channel().append("scaled", x * factor)[-1]

    flow = Flow("both")
    flow.add_routine(Configure(), "configure")
    flow.add_routine(Scale(), "scale")
    flow.connect("configure", "number", "scale", "input")
    job = completed(flow.execute("configure", {"factor": 10}))
    assert job.get_channel().get("scaled") == [10, 20, 30]
    assert job.get_result("scale") == 30

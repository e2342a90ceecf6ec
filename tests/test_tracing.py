"""Issue 11 (item 4): OpenTelemetry spans of jobs and activations (routilux.tracing).

Spans go to the SDK's in-memory exporter through a provider handed to
``tracing.instrument`` (never the process-wide provider, which can be set once: the
test of "no SDK configured" runs in a subprocess of its own).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine, tracing
from routilux._observe import hooks
from routilux.runtimes import AsyncioRuntime, ThreadRuntime

from helpers import Failing, Gate, Relay, Source

Runtime = ThreadRuntime | AsyncioRuntime
PATIENCE = 10.0
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    made = TracerProvider()
    made.add_span_processor(SimpleSpanProcessor(exporter))
    assert tracing.instrument(made) is True
    yield made, exporter
    tracing.uninstrument()


@pytest.fixture
def exporter(provider: tuple[TracerProvider, InMemorySpanExporter]) -> InMemorySpanExporter:
    return provider[1]


@pytest.fixture(params=["threads", "asyncio"])
def runtime(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    made: Runtime = ThreadRuntime() if request.param == "threads" else AsyncioRuntime()
    yield made
    made.shutdown(wait=False)


class Sink(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, value: Any) -> None:
        return None


class Traced(Routine):
    """Relays, inside a span of its own (made with the same provider)."""

    def __init__(self, provider: TracerProvider, asynchronous: bool = False) -> None:
        super().__init__()
        self.tracer = provider.get_tracer("app")
        self.define_slot("input", handler=self.relay_async if asynchronous else self.relay)
        self.define_event("output", ["value"])

    def relay(self, value: Any) -> None:
        with self.tracer.start_as_current_span("app work"):
            self.emit("output", value=value)

    async def relay_async(self, value: Any) -> None:
        with self.tracer.start_as_current_span("app work"):
            await asyncio.sleep(0)
            self.emit("output", value=value)


def line(runtime: Runtime | None, *middle: Routine, strategy: str = "sequential") -> Flow:
    flow = Flow("traced", execution_strategy=strategy, max_workers=4, runtime=runtime)
    flow.add_routine(Source(), "source")
    previous = "source"
    for index, routine in enumerate(middle):
        flow.add_routine(routine, f"m{index}")
        flow.connect(previous, "output", f"m{index}", "input")
        previous = f"m{index}"
    flow.add_routine(Sink(), "sink")
    flow.connect(previous, "output", "sink", "input")
    return flow


class Spans:
    """The finished spans of one run, by role."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.all: list[ReadableSpan] = list(exporter.get_finished_spans())
        self.by_id = {span.context.span_id: span for span in self.all}

    def jobs(self) -> list[ReadableSpan]:
        return [s for s in self.all if s.name.startswith("job ")]

    def of(self, routine_id: str) -> list[ReadableSpan]:
        return [
            s
            for s in self.all
            if (s.attributes or {}).get("routilux.routine_id") == routine_id
            and not s.name.startswith("job ")
            and s.kind != SpanKind.CONSUMER
        ]

    def linked(self, span: ReadableSpan) -> list[ReadableSpan]:
        return [self.by_id[link.context.span_id] for link in span.links]


def check_one_trace(spans: Spans, job_id: str) -> ReadableSpan:
    """One job span, the root of a trace; every activation span its child."""
    [job_span] = spans.jobs()
    assert job_span.parent is None
    assert job_span.attributes is not None
    assert job_span.name == f"job {job_span.attributes['routilux.flow_id']}"
    assert job_span.attributes["routilux.job_id"] == job_id
    assert job_span.attributes["routilux.routine_id"] == "source"
    for span in spans.all:
        assert span.context.trace_id == job_span.context.trace_id
    return job_span


# -- spans, parents, attributes, links --------------------------------------------------


def test_a_job_is_one_trace_of_activation_spans_linked_to_their_emitters(
    runtime: Runtime, exporter: InMemorySpanExporter
) -> None:
    job = line(runtime, Relay()).execute("source", {"count": 3})
    assert job.status == "completed"
    spans = Spans(exporter)
    job_span = check_one_trace(spans, job.job_id)
    assert job_span.attributes is not None
    assert job_span.attributes["routilux.status"] == "completed"
    assert job_span.status.status_code == StatusCode.UNSET
    [source] = spans.of("source")
    relays, sinks = spans.of("m0"), spans.of("sink")
    assert len(relays) == len(sinks) == 3
    for span in [source, *relays, *sinks]:
        assert span.parent is not None and span.parent.span_id == job_span.context.span_id
        attributes = span.attributes or {}
        assert attributes["routilux.job_id"] == job.job_id
        assert attributes["routilux.attempt"] == 0
        assert attributes["routilux.slot"] in ("trigger", "input")
        assert isinstance(attributes["routilux.activation_id"], str)
        assert span.kind == SpanKind.INTERNAL
    assert source.name == "source.trigger" and not source.links
    assert all(spans.linked(relay) == [source] for relay in relays)
    # Each sink activation links to the relay activation that emitted its value.
    relay_ids = sorted(r.context.span_id for r in relays)
    assert sorted(spans.linked(s)[0].context.span_id for s in sinks) == relay_ids


@pytest.mark.parametrize("asynchronous", [False, True])
def test_spans_made_by_a_handler_are_children_of_its_activation(
    runtime: Runtime,
    provider: tuple[TracerProvider, InMemorySpanExporter],
    asynchronous: bool,
) -> None:
    made, exporter = provider
    job = line(runtime, Traced(made, asynchronous)).execute("source", {"count": 2})
    assert job.status == "completed"
    spans = Spans(exporter)
    check_one_trace(spans, job.job_id)
    relays = {s.context.span_id for s in spans.of("m0")}
    work = [s for s in spans.all if s.name == "app work"]
    assert len(work) == 2
    assert {s.parent.span_id for s in work if s.parent is not None} == relays


def test_concurrent_activations_are_children_of_the_job_with_one_link_each(
    runtime: Runtime, exporter: InMemorySpanExporter
) -> None:
    job = line(runtime, Relay(), Relay(), strategy="concurrent").execute("source", {"count": 20})
    assert job.status == "completed"
    spans = Spans(exporter)
    job_span = check_one_trace(spans, job.job_id)
    upstream = {"m0": "source", "m1": "m0", "sink": "m1"}
    for routine_id, emitter in upstream.items():
        activations = spans.of(routine_id)
        assert len(activations) == 20
        for span in activations:
            assert span.parent is not None and span.parent.span_id == job_span.context.span_id
            [linked] = spans.linked(span)
            assert (linked.attributes or {})["routilux.routine_id"] == emitter
        # Twenty different emitters for the relays and the sink: one link each.
        if emitter != "source":
            assert len({spans.linked(s)[0].context.span_id for s in activations}) == 20


def test_fan_in_activations_link_to_each_upstream_activation(
    exporter: InMemorySpanExporter,
) -> None:
    flow = Flow("fan")
    flow.add_routine(Source(), "source")
    flow.add_routine(Relay(), "left")
    flow.add_routine(Relay(), "right")
    flow.add_routine(Sink(), "sink")
    flow.connect("source", "output", "left", "input")
    flow.connect("source", "output", "right", "input")
    flow.connect("left", "output", "sink", "input")
    flow.connect("right", "output", "sink", "input")
    job = flow.execute("source", {"count": 2})
    assert job.status == "completed"
    spans = Spans(exporter)
    emitters = [spans.linked(s)[0] for s in spans.of("sink")]
    assert sorted((e.attributes or {})["routilux.routine_id"] for e in emitters) == [
        "left",
        "left",
        "right",
        "right",
    ]
    assert len({e.context.span_id for e in emitters}) == 4


class Merging(Routine):
    """Takes what several routines send into one slot that merges (``strategy``)."""

    def __init__(self, strategy: Any) -> None:
        super().__init__()
        self.define_slot("input", handler=self.take, merge_strategy=strategy)

    def take(self, **data: Any) -> None:
        return None


def fan_in(target: Routine) -> Flow:
    """source -> left, right -> target (each value reaches the target twice)."""
    flow = Flow("fan")
    flow.add_routine(Source(), "source")
    flow.add_routine(Relay(), "left")
    flow.add_routine(Relay(), "right")
    flow.add_routine(target, "sink")
    flow.connect("source", "output", "left", "input")
    flow.connect("source", "output", "right", "input")
    flow.connect("left", "output", "sink", "input")
    flow.connect("right", "output", "sink", "input")
    return flow


def keep_both(old: Any, new: dict[str, Any]) -> dict[str, Any]:
    return {"values": [*old.get("values", []), new["value"]]}


@pytest.mark.parametrize("strategy", ["append", keep_both], ids=["append", "callable"])
def test_an_activation_that_merges_links_to_every_emission_it_combines(
    exporter: InMemorySpanExporter, strategy: Any
) -> None:
    """Its data combines what every emission merged into the slot so far sent: its span
    links to each of their activations, its own emitter's first."""
    job = fan_in(Merging(strategy)).execute("source", {"count": 2})
    assert job.status == "completed"
    spans = Spans(exporter)
    check_one_trace(spans, job.job_id)
    # Sequential: left(0), right(0), left(1), right(1) each deliver once, in order.
    emitters = [spans.linked(s)[0] for s in spans.of("sink")]
    assert [(e.attributes or {})["routilux.routine_id"] for e in emitters] == [
        "left",
        "right",
        "left",
        "right",
    ]
    for index, span in enumerate(spans.of("sink")):
        assert spans.linked(span) == emitters[index::-1]


def test_a_merging_activation_links_to_the_most_recent_emissions_only(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("routilux._observe_jobs.MERGED_LINKS", 2)
    job = fan_in(Merging("append")).execute("source", {"count": 2})
    assert job.status == "completed"
    spans = Spans(exporter)
    sinks = spans.of("sink")
    emitters = [spans.linked(s)[0] for s in sinks]
    assert [len(s.links) for s in sinks] == [1, 2, 2, 2]
    assert spans.linked(sinks[3]) == [emitters[3], emitters[2]]


def test_a_retry_links_to_the_failed_attempt_whose_span_has_the_error(
    runtime: Runtime, exporter: InMemorySpanExporter
) -> None:
    flaky = Failing(fail_on={0}, times=1)
    flaky.set_error_handler(ErrorHandler(strategy=ErrorStrategy.RETRY, retry_delay=0.0))
    job = line(runtime, flaky).execute("source", {"count": 1})
    assert job.status == "completed"
    spans = Spans(exporter)
    failed, retried = spans.of("m0")
    assert (failed.attributes or {})["routilux.attempt"] == 0
    assert failed.status.status_code == StatusCode.ERROR
    assert [event.name for event in failed.events] == ["exception"]
    assert (failed.events[0].attributes or {})["exception.message"] == "failing on 0"
    assert (retried.attributes or {})["routilux.attempt"] == 1
    assert retried.status.status_code == StatusCode.UNSET
    assert spans.linked(retried) == [failed]
    assert (retried.attributes or {})["routilux.activation_id"] == (failed.attributes or {})[
        "routilux.activation_id"
    ]


def test_a_failed_jobs_span_has_the_error_status(exporter: InMemorySpanExporter) -> None:
    failing = Failing(fail_on={0})
    failing.set_error_handler(ErrorHandler(strategy=ErrorStrategy.STOP))
    job = line(None, failing).execute("source", {"count": 1})
    assert job.status == "failed"
    [job_span] = Spans(exporter).jobs()
    assert (job_span.attributes or {})["routilux.status"] == "failed"
    assert job_span.status.status_code == StatusCode.ERROR


class Streamer(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.stream)
        self.define_event("output", ["value"])

    def stream(self, count: int = 0, **_: Any) -> None:
        for value in range(count):
            self.emit_now("output", value=value)


def test_emit_now_links_to_the_streaming_activation(exporter: InMemorySpanExporter) -> None:
    flow = Flow("stream")
    flow.add_routine(Streamer(), "source")
    flow.add_routine(Sink(), "sink")
    flow.connect("source", "output", "sink", "input")
    assert flow.execute("source", {"count": 3}).status == "completed"
    spans = Spans(exporter)
    [source] = spans.of("source")
    assert [spans.linked(s) for s in spans.of("sink")] == [[source]] * 3


def test_the_callers_span_is_linked_and_a_resumed_run_links_to_the_previous(
    provider: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    made, exporter = provider
    gate = Gate(block_on=0)
    flow = line(None, gate)
    with made.get_tracer("app").start_as_current_span("request") as request:
        job = flow.execute("source", {"count": 2}, wait=False)
    assert gate.entered.wait(PATIENCE)
    pauser = threading.Thread(target=flow.pause, args=(job,))
    pauser.start()
    gate.release.set()
    pauser.join(PATIENCE)
    assert job.wait_for_completion(PATIENCE) and job.status == "paused"
    flow.resume(job, wait=True)
    assert job.status == "completed"
    first, second = Spans(exporter).jobs()
    assert first.parent is None and second.parent is None
    assert first.context.trace_id != second.context.trace_id  # a trace per run
    assert [link.context.span_id for link in first.links] == [request.get_span_context().span_id]
    assert [link.context.span_id for link in second.links] == [first.context.span_id]
    assert (first.attributes or {})["routilux.status"] == "paused"
    assert (second.attributes or {})["routilux.resumed"] is True


def test_uninstrument_stops_tracing(exporter: InMemorySpanExporter) -> None:
    tracing.uninstrument()
    assert not tracing.is_instrumented()
    assert not hooks.activations and not hooks.jobs
    job = line(None, Relay()).execute("source", {"count": 2})
    assert job.status == "completed"
    assert exporter.get_finished_spans() == ()
    assert job._machine.watch is None


def test_a_job_traced_when_it_started_stays_traced_until_it_settles(
    runtime: Runtime, exporter: InMemorySpanExporter
) -> None:
    """Tracing switched off while a traced job runs: its job span still ends (and is
    exported) when it settles, and its later activations have their spans too."""
    gate = Gate(block_on=0)
    job = line(runtime, gate).execute("source", {"count": 2}, wait=False)
    assert gate.entered.wait(PATIENCE)
    tracing.uninstrument()
    gate.release.set()
    assert job.wait_for_completion(PATIENCE) and job.status == "completed"
    spans = Spans(exporter)
    job_span = check_one_trace(spans, job.job_id)
    assert (job_span.attributes or {})["routilux.status"] == "completed"
    assert [len(spans.of(r)) for r in ("source", "m0", "sink")] == [1, 2, 2]
    assert not hooks.activations and not hooks.jobs and hooks.traced == 0
    # A job started now is not traced.
    exporter.clear()
    assert line(runtime, Relay()).execute("source", {"count": 1}).status == "completed"
    assert exporter.get_finished_spans() == ()


def test_no_spans_and_no_hooks_without_a_tracer_provider() -> None:
    """In a fresh process (the global provider can be set once): instrument() with the
    API's default provider traces nothing and leaves the activation hooks off; a
    provider set later is used from the next job on."""
    script = textwrap.dedent(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
        from routilux import Flow, tracing
        from routilux._observe import hooks
        from helpers import Relay, Source

        flow = Flow("late")
        flow.add_routine(Source(), "source")
        flow.add_routine(Relay(), "relay")
        flow.connect("source", "output", "relay", "input")
        print("instrumented now:", tracing.instrument())
        print("activation hooks:", hooks.activations)
        job = flow.execute("source", {"count": 2})
        print("untraced job:", job.status, job._machine.watch.span)
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        job = flow.execute("source", {"count": 2})
        print("traced job:", job.status, len(exporter.get_finished_spans()))
        print("activation hooks:", hooks.activations)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT / "tests",
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "instrumented now: False",
        "activation hooks: False",
        "untraced job: completed None",
        "traced job: completed 4",
        "activation hooks: True",
    ]


# -- activations run elsewhere ------------------------------------------------------------


def check_remote(spans: Spans, job_id: str) -> None:
    """Driver spans (PRODUCER) for the activations sent away, each the parent of the
    worker's span (CONSUMER) of its handler."""
    check_one_trace(spans, job_id)
    workers = [s for s in spans.all if s.kind == SpanKind.CONSUMER]
    drivers = {s.context.span_id: s for s in spans.all if s.kind == SpanKind.PRODUCER}
    assert workers and len(workers) == len(drivers)
    for span in workers:
        assert span.parent is not None and span.parent.is_remote
        parent = drivers[span.parent.span_id]
        assert parent.name == span.name
        assert (span.attributes or {})["routilux.worker"] is True


def test_the_trace_context_travels_to_activations_run_elsewhere(
    exporter: InMemorySpanExporter,
) -> None:
    from test_lifecycle_signals import Loopback

    runtime = Loopback()
    job = line(runtime, Relay()).execute("source", {"count": 2})
    assert job.status == "completed"
    assert all(message["traceparent"].startswith("00-") for message in runtime.messages)
    check_remote(Spans(exporter), job.job_id)
    runtime.shutdown(wait=False)


def redis_flow() -> Flow:
    flow = Flow("trace-redis", execution_strategy="concurrent", max_workers=4)
    flow.add_routine(Source(), "source")
    flow.add_routine(Relay(), "relay")
    flow.add_routine(Sink(), "sink")
    flow.connect("source", "output", "relay", "input")
    flow.connect("relay", "output", "sink", "input")
    return flow


def test_a_redis_workers_spans_are_children_of_the_drivers(
    redis_url: str, tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    from redis_server import store_prefix

    from routilux.runtimes.redis import RedisRuntime, Worker

    prefix = store_prefix(tmp_path)
    worker = Worker(redis_flow(), redis_url, prefix=prefix, concurrency=2, lease=5.0)
    worker.start()
    runtime = RedisRuntime(redis_url, prefix=prefix)
    flow = redis_flow()
    flow.runtime = runtime
    try:
        job = flow.execute("source", {"count": 3})
        assert job.status == "completed", job.errors
    finally:
        runtime.shutdown()
        worker.stop()
    spans = Spans(exporter)
    check_remote(spans, job.job_id)
    assert len([s for s in spans.all if s.kind == SpanKind.CONSUMER]) == 1 + 3 + 3
    assert trace.get_current_span() is trace.INVALID_SPAN

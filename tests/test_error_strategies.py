"""Error strategies apply to every routine, at the entry and downstream."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine

from helpers import Collector, Failing, Source, chain, events


class FailingEntry(Routine):
    """Entry routine that emits ``before`` items, then raises (``times`` times)."""

    def __init__(self, before: int = 1, times: int | None = None) -> None:
        super().__init__()
        self.before = before
        self.times = times
        self.calls = 0
        self.define_slot("trigger", handler=self.go)
        self.define_event("output", ["value"])

    def go(self, **_: Any) -> None:
        self.calls += 1
        if self.times is None or self.calls <= self.times:
            for value in range(self.before):
                self.emit("output", value=value)
            raise RuntimeError("entry broke")
        self.emit("output", value="ok")


def downstream_flow(failing: Failing, count: int = 4) -> tuple[Flow, int]:
    flow = chain(("src", Source()), ("mid", failing), ("sink", Collector()))
    return flow, count


# -- no handler anywhere --------------------------------------------------------------


def test_entry_failure_without_handler_fails_the_job() -> None:
    flow = chain(("entry", FailingEntry(before=2)), ("sink", Collector()))
    job = flow.execute("entry")
    assert job.status == "failed"
    # STOP semantics: what the entry emitted before failing is discarded.
    assert job.get_routine_state("sink") is None
    state = job.get_routine_state("entry")
    assert state["status"] == "failed" and state["error"] == "entry broke"
    (error,) = job.errors
    assert error["routine_id"] == "entry" and error["slot"] == "trigger"
    assert error["error_type"] == "RuntimeError" and error["strategy"] == "default"
    assert "Traceback" in error["traceback"]
    record = job.get_execution_history()[-1]
    assert (record.routine_id, record.event_name) == ("entry", "error")
    assert record.data["error"] == "entry broke"


def test_downstream_failure_without_handler_is_recorded_and_the_job_goes_on() -> None:
    flow, count = downstream_flow(Failing(fail_on={1}))
    job = flow.execute("src", {"count": count})
    assert job.status == "completed"
    assert [r["value"] for r in job.get_routine_state("sink")["received"]] == [0, 2, 3]
    assert job.get_routine_state("mid")["status"] == "failed"
    assert [e["routine_id"] for e in job.errors] == ["mid"]
    assert ("mid", "error") in events(job)
    error_record = next(r for r in job.get_execution_history() if r.event_name == "error")
    assert error_record.data == {
        "slot": "input",
        "error": "failing on 1",
        "error_type": "RuntimeError",
        "attempt": 0,
    }


# -- each strategy downstream, routine level ------------------------------------------


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_stop_downstream_fails_the_job_and_cancels_outstanding_work(strategy: str) -> None:
    failing = Failing(fail_on={1})
    failing.set_error_handler(ErrorHandler(ErrorStrategy.STOP))
    flow = chain(("src", Source()), ("mid", failing), ("sink", Collector()), strategy=strategy)
    job = flow.execute("src", {"count": 50})
    assert job.status == "failed"
    assert len(job.errors) == 1
    if strategy == "sequential":
        # FIFO: item 0 passed, item 1 failed; the other 48 items and the sink's
        # activation for item 0 (queued behind them) were discarded unrun.
        assert failing.calls == [0, 1]
        assert job.get_routine_state("sink") is None
    assert ("src", "completed") not in events(job)


def test_continue_downstream() -> None:
    failing = Failing(fail_on={1})
    failing.set_error_handler(ErrorHandler("continue"))
    flow, count = downstream_flow(failing)
    job = flow.execute("src", {"count": count})
    assert job.status == "completed"
    assert job.get_routine_state("mid")["status"] == "error_continued"
    assert ("mid", "error_continued") in events(job)
    assert [r["value"] for r in job.get_routine_state("sink")["received"]] == [0, 2, 3]
    assert job.errors[0]["strategy"] == "continue"


def test_skip_downstream() -> None:
    failing = Failing(fail_on={2})
    failing.set_error_handler(ErrorHandler("skip"))
    flow, count = downstream_flow(failing)
    job = flow.execute("src", {"count": count})
    assert job.status == "completed"
    assert job.get_routine_state("mid")["status"] == "skipped"
    assert [r["value"] for r in job.get_routine_state("sink")["received"]] == [0, 1, 3]
    assert job.errors[0]["strategy"] == "skip"


def test_retry_downstream_succeeds_with_backoff() -> None:
    failing = Failing(fail_on={0}, times=2)
    failing.set_error_handler(
        ErrorHandler("retry", max_retries=3, retry_delay=0.05, retry_backoff=2)
    )
    flow, _ = downstream_flow(failing)
    started = time.monotonic()
    job = flow.execute("src", {"count": 1})
    elapsed = time.monotonic() - started
    assert job.status == "completed"
    assert failing.calls == [0, 0, 0]
    assert elapsed >= 0.05 + 0.1
    retries = [r.data for r in job.get_execution_history() if r.event_name == "retry"]
    assert [(r["attempt"], r["delay"]) for r in retries] == [(0, 0.05), (1, 0.1)]
    assert job.get_routine_state("sink")["received"] == [{"value": 0}]
    assert job.errors == []


def test_retry_does_not_hold_the_worker() -> None:
    failing = Failing(fail_on={0}, times=1)
    failing.set_error_handler(ErrorHandler("retry", max_retries=1, retry_delay=0.2))
    flow, _ = downstream_flow(failing)
    job = flow.execute("src", {"count": 3})
    assert job.status == "completed"
    # While item 0 waits for its retry, the single sequential driver runs 1 and 2.
    assert failing.calls == [0, 1, 2, 0]
    assert [r["value"] for r in job.get_routine_state("sink")["received"]] == [1, 2, 0]


def test_retry_exhausted_non_critical_is_recorded_and_the_job_goes_on() -> None:
    failing = Failing(fail_on={0})
    failing.set_error_handler(ErrorHandler("retry", max_retries=2, retry_delay=0))
    flow, _ = downstream_flow(failing)
    job = flow.execute("src", {"count": 2})
    assert job.status == "completed"
    assert failing.calls.count(0) == 3
    assert job.get_routine_state("mid")["status"] == "failed"
    assert [e["attempt"] for e in job.errors] == [2]


def test_retry_exhausted_critical_fails_the_job() -> None:
    failing = Failing(fail_on={0})
    failing.set_as_critical(max_retries=2, retry_delay=0.01, retry_backoff=1)
    flow, _ = downstream_flow(failing)
    job = flow.execute("src", {"count": 1})
    assert job.status == "failed"
    assert failing.calls == [0, 0, 0]


def test_retry_of_a_non_retryable_exception_fails_the_job() -> None:
    failing = Failing(fail_on={0})
    failing.set_error_handler(
        ErrorHandler("retry", max_retries=5, retry_delay=0, retryable_exceptions=(KeyError,))
    )
    flow, _ = downstream_flow(failing)
    job = flow.execute("src", {"count": 1})
    assert job.status == "failed"
    assert failing.calls == [0]


def test_retry_counts_belong_to_each_job() -> None:
    handler = ErrorHandler("retry", max_retries=2, retry_delay=0)
    barrier = threading.Barrier(4, timeout=5)

    class AlwaysFails(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.work)
            self.calls: dict[str, int] = {}
            self.lock = threading.Lock()

        def work(self, value: Any) -> None:
            ctx = self.get_execution_context()
            assert ctx is not None
            with self.lock:
                self.calls[ctx.job_state.job_id] = self.calls.get(ctx.job_state.job_id, 0) + 1
            raise RuntimeError("always")

    failing = AlwaysFails()
    failing.set_error_handler(handler)
    flow = chain(("src", Source()), ("mid", failing))
    jobs: list[Any] = []

    def run() -> None:
        barrier.wait()
        jobs.append(flow.execute("src"))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(failing.calls.values()) == [3, 3, 3, 3]
    assert all(job.status == "completed" for job in jobs)
    # And again, sequentially: 0.9's shared retry_count made later runs give up at once.
    assert flow.execute("src").status == "completed"
    assert max(failing.calls.values()) == 3


# -- at the entry ---------------------------------------------------------------------


def test_entry_continue_completes_and_drops_the_failed_attempts_emits() -> None:
    """What a failed attempt emitted is not committed (transactional activations)."""
    entry = FailingEntry(before=2)
    entry.set_error_handler(ErrorHandler("continue"))
    flow = chain(("entry", entry), ("sink", Collector()))
    job = flow.execute("entry")
    assert job.status == "completed"
    assert job.get_routine_state("sink") is None
    assert [r.event_name for r in job.get_execution_history("entry")] == [
        "start",
        "error_continued",
        "completed",
    ]
    state = job.get_routine_state("entry")
    assert state["status"] == "error_continued"  # not overwritten by "completed"
    assert "execution_time" in state


def test_entry_skip_completes() -> None:
    entry = FailingEntry(before=0)
    entry.set_error_handler(ErrorHandler("skip"))
    flow = chain(("entry", entry), ("sink", Collector()))
    job = flow.execute("entry")
    assert job.status == "completed"
    assert job.get_routine_state("entry")["status"] == "skipped"


def test_entry_retry_success_drains_downstream() -> None:
    entry = FailingEntry(before=0, times=2)
    entry.set_error_handler(ErrorHandler("retry", max_retries=3, retry_delay=0.2))
    flow = chain(("entry", entry), ("sink", Collector()))
    job = flow.execute("entry")
    # 0.9 returned right after the retry succeeded and stranded downstream work.
    assert job.status == "completed"
    assert entry.calls == 3
    assert job.get_routine_state("sink")["received"] == [{"value": "ok"}]


def test_entry_retry_exhausted_fails_even_when_not_critical() -> None:
    entry = FailingEntry(before=0)
    entry.set_error_handler(ErrorHandler("retry", max_retries=2, retry_delay=0))
    flow = chain(("entry", entry), ("sink", Collector()))
    job = flow.execute("entry")
    assert job.status == "failed"
    assert entry.calls == 3


def test_entry_stop() -> None:
    entry = FailingEntry(before=1)
    entry.set_error_handler(ErrorHandler("stop"))
    flow = chain(("entry", entry), ("sink", Collector()))
    assert flow.execute("entry").status == "failed"


# -- resolution and helpers -----------------------------------------------------------


def test_flow_level_handler_applies_downstream_and_routine_level_wins() -> None:
    first = Failing(fail_on={0})
    second = Failing(fail_on={0})
    second.set_error_handler(ErrorHandler("skip"))
    flow = chain(("src", Source()), ("first", first), ("second", Failing()))
    flow.add_routine(second, "other")
    flow.connect("src", "output", "other", "input")
    flow.set_error_handler(ErrorHandler("continue"))
    job = flow.execute("src")
    assert job.status == "completed"
    assert job.get_routine_state("first")["status"] == "error_continued"
    assert job.get_routine_state("other")["status"] == "skipped"


def test_set_as_optional_and_critical() -> None:
    optional = Failing(fail_on={0})
    optional.set_as_optional()
    job = chain(("src", Source()), ("opt", optional)).execute("src")
    assert job.status == "completed"
    assert job.get_routine_state("opt")["status"] == "error_continued"

    optional.set_as_optional(ErrorStrategy.SKIP)
    job = chain(("src", Source()), ("opt", optional)).execute("src")
    assert job.get_routine_state("opt")["status"] == "skipped"

    critical = Failing(fail_on={0}, times=1)
    critical.set_as_critical(max_retries=1, retry_delay=0)
    job = chain(("src", Source()), ("crit", critical)).execute("src")
    assert job.status == "completed"
    assert critical.calls == [0, 0]


def test_a_failing_merge_function_is_a_failure_of_that_routine() -> None:
    def bad_merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("cannot merge")

    flow = chain(("src", Source()), ("sink", Collector(bad_merge)))
    job = flow.execute("src", {"count": 2})
    assert job.status == "completed"
    assert [e["error"] for e in job.errors] == ["cannot merge", "cannot merge"]
    assert job.get_routine_state("sink")["status"] == "failed"


def test_retry_after_a_merge_failure_merges_again() -> None:
    attempts = []

    def flaky_merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        attempts.append(new)
        if len(attempts) == 1:
            raise ValueError("first merge fails")
        return {**old, **new}

    sink = Collector(flaky_merge)
    sink.set_error_handler(ErrorHandler("retry", max_retries=1, retry_delay=0))
    job = chain(("src", Source()), ("sink", sink)).execute("src")
    assert job.status == "completed"
    assert len(attempts) == 2
    assert job.get_routine_state("sink")["received"] == [{"value": 0}]


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def test_an_exception_whose_str_raises_is_recorded_under_its_strategy() -> None:
    """V: CONTINUE stays CONTINUE when the exception cannot be turned into text."""

    class Bad(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.fail)
            self.define_event("output", ["value"])

        def fail(self, value: Any) -> None:
            raise Unprintable()

    bad = Bad()
    bad.set_error_handler(ErrorHandler(strategy=ErrorStrategy.CONTINUE))
    flow = chain(("src", Source()), ("bad", bad))
    job = flow.execute("src", {"count": 2})
    assert job.status == "completed"
    assert [error["strategy"] for error in job.errors] == ["continue", "continue"]
    assert job.errors[0]["error_type"] == "Unprintable"
    assert "str() failed" in job.errors[0]["error"]
    assert job.get_routine_state("bad")["status"] == "error_continued"

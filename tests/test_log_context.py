"""Issue 11 (item 3): log records carry the job, routine and slot (routilux.log)."""

from __future__ import annotations

import contextvars
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import routilux
from routilux import ErrorHandler, ErrorStrategy, Flow, JobState, Routine, signals
from routilux.exceptions import StoreError
from routilux.log import ContextFilter, add_job_context, current_context
from routilux.output_handler import OutputHandler
from routilux.stores import SQLiteStore

from helpers import Failing, Source


class Collect(logging.Handler):
    """Keeps the records it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def app_log() -> Iterator[Collect]:
    """The records of the logger ``app`` (the handlers' own), through a handler with a
    ContextFilter: the one line a user adds."""
    handler = Collect()
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("app")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield handler
    logger.removeHandler(handler)
    logger.propagate = True


class Talker(Routine):
    """Logs in its handler, in a thread it starts with a copy of its context, and in a
    plain thread."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.talk)

    def talk(self, value: Any) -> None:
        log = logging.getLogger("app")
        log.info("in the handler %s", value)
        context = contextvars.copy_context()
        copied = threading.Thread(target=context.run, args=(log.info, "in a copied context"))
        copied.start()
        copied.join()
        plain = threading.Thread(target=log.info, args=("in a plain thread",))
        plain.start()
        plain.join()


def talker_flow() -> Flow:
    flow = Flow("talk")
    flow.add_routine(Source(), "source")
    flow.add_routine(Talker(), "talker")
    flow.connect("source", "output", "talker", "input")
    return flow


def context_of(record: logging.LogRecord) -> tuple[Any, Any, Any]:
    return (
        getattr(record, "job_id", "missing"),
        getattr(record, "routine_id", "missing"),
        getattr(record, "slot", "missing"),
    )


def test_a_context_filter_gives_handler_records_the_activation(app_log: Collect) -> None:
    job = talker_flow().execute("source", {"count": 1})
    assert job.status == "completed"
    found = [(r.getMessage(), context_of(r)) for r in app_log.records]
    assert found == [
        ("in the handler 0", (job.job_id, "talker", "input")),
        ("in a copied context", (job.job_id, "talker", "input")),
        ("in a plain thread", (None, None, None)),
    ]


def test_records_outside_an_activation_get_none(app_log: Collect) -> None:
    logging.getLogger("app").info("outside")
    assert context_of(app_log.records[0]) == (None, None, None)


def test_the_filter_keeps_what_a_record_was_given(app_log: Collect) -> None:
    logging.getLogger("app").info("given", extra={"job_id": "j", "routine_id": "r", "slot": "s"})
    assert context_of(app_log.records[0]) == ("j", "r", "s")


def test_a_record_given_its_job_gets_the_activation_of_that_job_only(app_log: Collect) -> None:
    seen: dict[str, Any] = {}

    class Tell(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.tell)

        def tell(self, **_: Any) -> None:
            ctx = self.get_execution_context()
            assert ctx is not None
            seen["job"] = ctx.job_state.job_id
            log = logging.getLogger("app")
            log.info("about this job", extra={"job_id": ctx.job_state.job_id})
            log.info("about another", extra={"job_id": "another"})

    flow = Flow("tell")
    flow.add_routine(Tell(), "tell")
    assert flow.execute("tell", {}).status == "completed"
    assert [context_of(r) for r in app_log.records] == [
        (seen["job"], "tell", "trigger"),
        ("another", None, None),
    ]


def test_a_handlers_failure_is_logged_with_its_context_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flow = Flow("failing")
    flow.add_routine(Source(), "source")
    failing = Failing(fail_on={0})
    failing.set_error_handler(ErrorHandler(strategy=ErrorStrategy.CONTINUE))
    flow.add_routine(failing, "failing")
    flow.connect("source", "output", "failing", "input")
    with caplog.at_level(logging.WARNING, logger="routilux"):
        job = flow.execute("source", {"count": 1})
    [record] = [r for r in caplog.records if r.name == "routilux"]
    assert context_of(record) == (job.job_id, "failing", "input")
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    assert "failing on 0" in caplog.text
    assert "Traceback" in caplog.text and "in handle" in caplog.text


def test_a_retry_is_logged_with_its_context_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flow = Flow("retrying")
    flow.add_routine(Source(), "source")
    flaky = Failing(fail_on={0}, times=1)
    flaky.set_error_handler(ErrorHandler(strategy=ErrorStrategy.RETRY, retry_delay=0.0))
    flow.add_routine(flaky, "flaky")
    flow.connect("source", "output", "flaky", "input")
    with caplog.at_level(logging.INFO, logger="routilux"):
        job = flow.execute("source", {"count": 1})
    assert job.status == "completed"
    [record] = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert context_of(record) == (job.job_id, "flaky", "input")
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_every_library_record_has_the_attributes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="routilux"):
        logging.getLogger("routilux").info("not about a job")
        logging.getLogger("routilux.stores.sqlite").info("nor this")
    assert [context_of(r) for r in caplog.records] == [(None, None, None)] * 2


def test_a_failing_signal_receiver_is_logged_with_the_activation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(sender: JobState, **kwargs: Any) -> None:
        raise ValueError("receiver bug")

    flow = Flow("receivers")
    flow.add_routine(Source(), "source")
    signals.activation_finished.connect(broken, weak=False)
    try:
        with caplog.at_level(logging.ERROR, logger="routilux"):
            job = flow.execute("source", {"count": 0})
    finally:
        signals.activation_finished.disconnect(broken)
    [record] = caplog.records
    assert context_of(record) == (job.job_id, "source", "trigger")
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_current_context_and_the_structlog_processor() -> None:
    seen: list[Any] = []

    class Look(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.look)

        def look(self, **_: Any) -> None:
            seen.append(current_context())
            seen.append(add_job_context(None, "info", {"event": "hi", "slot": "mine"}))

    flow = Flow("look")
    flow.add_routine(Look(), "look")
    job = flow.execute("look", {})
    assert seen == [
        {"job_id": job.job_id, "routine_id": "look", "slot": "trigger"},
        {"event": "hi", "slot": "mine", "job_id": job.job_id, "routine_id": "look"},
    ]
    # Outside an activation: nothing is added.
    assert current_context() == {}
    assert add_job_context(None, "info", {"event": "hi"}) == {"event": "hi"}


def test_every_logger_of_the_library_fills_in_the_context() -> None:
    """Each logger a module of routilux makes (by name or ``__name__``) has the filter
    that gives its records the attributes: a new one must be listed in the library's
    loggers."""
    package = Path(routilux.__file__).parent
    names = set()
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names.update(re.findall(r'getLogger\("(routilux[\w.]*)"\)', text))
        if "getLogger(__name__)" in text:
            module = path.relative_to(package.parent).with_suffix("").as_posix()
            names.add(module.replace("/", "."))
    assert {"routilux", "routilux.redis", "routilux.stores.sqlite"} <= names
    for name in sorted(names):
        logger = logging.getLogger(name)
        assert any(type(f).__name__ == "_LibraryFilter" for f in logger.filters), name


# -- records about a job, logged outside its activations ------------------------------------


class BrokenOutput(OutputHandler):
    def handle(
        self, job_id: str, routine_id: str, output_type: str, data: Any, timestamp: Any = None
    ) -> None:
        raise RuntimeError("the output sink is down")


class Sends(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.send)

    def send(self, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.send_output("sends", "report", {"n": 1})


def test_a_failed_output_handler_is_logged_with_its_job(caplog: pytest.LogCaptureFixture) -> None:
    """Called in an activation: its job, routine and slot; called outside one (as the
    driver of a Redis worker's activation does): its job all the same."""
    flow = Flow("outputs")
    flow.add_routine(Sends(), "sends")
    with caplog.at_level(logging.ERROR, logger="routilux"), pytest.warns(RuntimeWarning):
        job = flow.execute("sends", {}, output_handler=BrokenOutput())
        job.send_output("sends", "report", {"n": 2})
    inside, outside = [r for r in caplog.records if "output handler failed" in r.getMessage()]
    assert context_of(inside) == (job.job_id, "sends", "trigger")
    assert context_of(outside) == (job.job_id, None, None)
    assert outside.exc_info is not None and outside.exc_info[0] is RuntimeError


def test_a_stores_record_about_a_job_names_it(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "jobs.db")

    def refuse(job_id: str) -> None:
        raise StoreError(f"job {job_id} is not for us")

    monkeypatch.setattr(store, "acquire", refuse)
    flow = Flow("stored", store=store)
    flow.add_routine(Source(), "source")
    with caplog.at_level(logging.WARNING, logger="routilux"):
        job = flow.execute("source", {"count": 0})
    store.close()
    [record] = [r for r in caplog.records if "could not claim" in r.getMessage()]
    assert context_of(record) == (job.job_id, None, None)


def test_an_emission_dropped_by_a_wiring_change_is_logged_outside_the_machine_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another thread wires the emitting event directly to a routine outside the flow
    after the emission was checked (the handler returned) and before it is committed:
    it cannot be routed then and is dropped, loudly. The record names the job and the
    emitting routine, carries the RoutineNotFoundError, and its log handler runs outside
    the job's machine lock (log handlers are user code: one that takes the lock must
    not deadlock)."""
    from routilux._engine import fanout

    class Quiet(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=lambda **kw: None)

    machines: list[Any] = []

    class Emitter(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["value"])

        def go(self, **kwargs: Any) -> None:
            machines.append(self.require_execution_context().job_state._machine)
            self.emit("output", value=1)

    stranger = Quiet()
    emitter = Emitter()
    checked = fanout.resolve_all

    def checked_then_rewired(flow: Any, held: Any) -> Any:
        found = checked(flow, held)
        emitter.get_event("output").connect(stranger.get_slot("input"))
        return found

    monkeypatch.setattr(fanout, "resolve_all", checked_then_rewired)
    seen: list[tuple[logging.LogRecord, bool]] = []

    class TakesTheLock(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "dropped" not in record.getMessage():
                return
            machine = machines[0]
            taken = machine.lock.acquire(timeout=5)
            if taken:
                machine.lock.release()
            seen.append((record, taken))

    flow = Flow("rewired")
    flow.add_routine(emitter, "source")
    flow.add_routine(Quiet(), "member")
    flow.connect("source", "output", "member", "input")
    handler = TakesTheLock()
    logger = logging.getLogger("routilux")
    logger.addHandler(handler)
    try:
        job = flow.execute("source", wait=False)
        assert job.wait_for_completion(10)
    finally:
        logger.removeHandler(handler)
    assert seen, "the dropped emission was not logged"
    record, taken = seen[0]
    assert taken, "the record was logged under the job's machine lock"
    assert record.job_id == job.job_id  # type: ignore[attr-defined]
    assert record.routine_id == "source"  # type: ignore[attr-defined]
    assert record.exc_info is not None
    assert type(record.exc_info[1]).__name__ == "RoutineNotFoundError"


def test_the_redis_runtimes_records_about_a_job_name_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker's failed or refused commit and a pause or cancel from another process
    that did nothing: their records name the job (the worker knows it from the
    message)."""
    pytest.importorskip("redis")
    from routilux.exceptions import JobStateError
    from routilux.runtimes.redis import Worker, _quietly

    job = JobState()

    def refuses(job_state: JobState, reason: str) -> None:
        raise JobStateError("the job finished meanwhile")

    flow = Flow("named")
    flow.add_routine(Failing(fail_on=set()), "only")
    worker = Worker(flow, "redis://127.0.0.1:1/0")  # never reached: commits are stubbed
    verdicts: list[Any] = [ConnectionRefusedError("down"), b"expired"]

    def commit(**arguments: Any) -> Any:
        verdict = verdicts.pop(0)
        if isinstance(verdict, Exception):
            raise verdict
        return verdict

    worker._commit = commit  # type: ignore[assignment]
    with caplog.at_level(logging.INFO, logger="routilux"):
        _quietly(refuses, job, "from elsewhere")
        worker._finish("1-0", b"replies", {"id": "a"}, None, job.job_id)
        worker._finish("2-0", b"replies", {"id": "b"}, None, job.job_id)
    records = [r for r in caplog.records if r.name.startswith("routilux")]
    messages = [r.getMessage() for r in records]
    assert messages == [
        "a pause or cancel from another process did nothing: the job finished meanwhile",
        f"worker {worker.consumer}: commit of 1-0 failed: down",
        f"worker {worker.consumer}: commit of 2-0 refused (expired: its lease ended)",
    ]
    assert all(r.job_id == job.job_id for r in records)  # type: ignore[attr-defined]

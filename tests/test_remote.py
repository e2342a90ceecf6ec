"""issue 10: what travels to a worker and back (``routilux.runtimes._remote``), without
Redis: a loopback runtime sends every activation through the message and reply
formats (as JSON text) and runs it in this process, so the driver's side and the
worker's side meet exactly as they do over Redis."""

from __future__ import annotations

import json
import queue
import sys
import threading
import types
from typing import Any

import pytest

from routilux import ErrorHandler, Flow, Routine
from routilux.exceptions import (
    ConfigurationError,
    RemoteHandlerError,
    RoutineNotFoundError,
    SerializationError,
)
from routilux.runtimes import ThreadRuntime
from routilux.runtimes._remote import (
    PROTOCOL,
    activation_message,
    apply_reply,
    failed_to_send,
    run_message,
)

from helpers import Relay

pytestmark = pytest.mark.timeout(60)


class Loopback(ThreadRuntime):
    """Runs every activation as a worker would, in this thread, through JSON;
    ``tamper(reply)`` may change a reply on its way back."""

    runs_elsewhere = True

    def __init__(self, tamper: Any = None) -> None:
        super().__init__()
        self.tamper = tamper
        self.messages: list[dict[str, Any]] = []

    def _hand_off(
        self, machine: Any, meta: int, data: Any, seq: int, kept: Any, *, here: bool = False
    ) -> None:
        try:
            message, sent = activation_message(machine, meta, data, seq, kept)
        except Exception as exc:
            from routilux.runtimes._remote import Sent

            sent = Sent(machine, meta, data, seq, kept, machine.activation_id(seq, kept), 0)
            self.completed_async(machine, *failed_to_send(sent, exc))
            return
        message = json.loads(json.dumps(message))
        self.messages.append(message)
        reply = json.loads(json.dumps(run_message(machine.flow, message)))
        if self.tamper is not None:
            reply = self.tamper(reply)
        self.completed_async(machine, *apply_reply(sent, reply))


class Source(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("output", ["value"])

    def go(self, count: int = 3) -> str:
        for value in range(count):
            self.emit("output", value=value)
        return "fed"


class Worker(Routine):
    """Uses every kind of effect a handler has on its job."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go, merge_strategy="append")
        self.define_event("output", ["value"])

    def go(self, value: list[int]) -> int:
        ctx = self.require_execution_context()
        job = ctx.job_state
        channel = ctx.get_channel()
        channel.increment("count")
        channel.append("seen", value[-1])
        channel.set("last", value[-1])
        job.shared_data["direct"] = len(value)  # changed in place, no method
        job.update_routine_state(ctx.routine_id, {"length": len(value)})
        job.append_to_shared_log({"value": value[-1]})
        job.send_output(ctx.routine_id, "note", {"value": value[-1]})
        job.record_execution(ctx.routine_id, "checked", {"value": value[-1]})
        assert ctx.get_result("source") == "fed"  # the emitter's result travelled
        self.emit("output", value=value[-1] * 10)
        return value[-1] * 10


class Sink(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, value: int) -> None:
        self.require_execution_context().get_channel().append("sunk", value)


def effects_flow(runtime: Any = None) -> Flow:
    flow = Flow("remote-effects", runtime=runtime)
    flow.add_routine(Source(), "source")
    flow.add_routine(Worker(), "worker")
    flow.add_routine(Sink(), "sink")
    flow.connect("source", "output", "worker", "input")
    flow.connect("worker", "output", "sink", "input")
    return flow


def summary(job: Any) -> dict[str, Any]:
    return {
        "status": job.status,
        "shared": {k: v for k, v in job.shared_data.items()},
        "state": job.get_routine_state("worker"),
        "log": [entry["value"] for entry in job.get_shared_log()],
        "outputs": [entry["data"] for entry in job.output_log],
        "history": [  # timings aside
            (r.routine_id, r.event_name, None if r.event_name == "completed" else r.data)
            for r in job.get_execution_history()
        ],
        "results": job.get_result("worker"),
    }


def test_a_job_run_through_messages_has_the_effects_of_one_run_in_process() -> None:
    loopback = Loopback()
    remote = summary(effects_flow(loopback).execute("source", {"count": 3}))
    local = summary(effects_flow().execute("source", {"count": 3}))
    assert remote == local
    assert remote["shared"] == {
        "count": 3,
        "seen": [0, 1, 2],
        "last": 2,
        "direct": 3,
        "sunk": [0, 10, 20],
    }
    # The append buffer was merged in the driver: the worker got the merged lists.
    worker_messages = [m for m in loopback.messages if m["routine"] == "worker"]
    assert [m["data"] for m in worker_messages] == [
        {"value": [0]},
        {"value": [0, 1]},
        {"value": [0, 1, 2]},
    ]
    assert all(m["protocol"] == PROTOCOL and m["merged"] for m in worker_messages)


class Failing(Routine):
    def __init__(self, error: type[Exception]) -> None:
        super().__init__()
        self.error = error
        self.define_slot("input", handler=self.go)

    def go(self, value: int) -> None:
        raise self.error(f"bad {value}")


class Retryable(Exception):
    pass


def failing_flow(routine: Routine, handler: ErrorHandler, runtime: Any) -> Flow:
    flow = Flow("remote-failures", runtime=runtime)
    flow.add_routine(Source(), "source")
    routine.set_error_handler(handler)
    flow.add_routine(routine, "failing")
    flow.connect("source", "output", "failing", "input")
    return flow


def test_the_handlers_exception_class_comes_back_for_the_error_handler() -> None:
    handler = ErrorHandler(
        "retry", max_retries=2, retry_delay=0.001, retryable_exceptions=[Retryable]
    )
    job = failing_flow(Failing(Retryable), handler, Loopback()).execute("source", {"count": 1})
    retries = [r for r in job.get_execution_history() if r.event_name == "retry"]
    assert len(retries) == 2  # retried: the class matched
    assert [e["error_type"] for e in job.errors][-1] == "Retryable"


def test_an_exception_class_this_process_lacks_comes_back_as_a_remote_handler_error() -> None:
    module = types.ModuleType("routilux_test_vanishing")
    exec("class Vanishing(Exception):\n    pass\n", module.__dict__)
    sys.modules[module.__name__] = module

    def forget(reply: dict[str, Any]) -> dict[str, Any]:
        sys.modules.pop(module.__name__, None)  # the driver never imported it
        return reply

    job = failing_flow(
        Failing(module.Vanishing), ErrorHandler("continue"), Loopback(forget)
    ).execute("source", {"count": 1})
    (error,) = job.errors
    assert error["error_type"] == "RemoteHandlerError"
    assert "Vanishing: bad 0" in error["error"] and "on a worker" in error["error"]


def test_a_damaged_reply_fails_its_activation_with_a_clear_error() -> None:
    def damage(reply: dict[str, Any]) -> dict[str, Any]:
        if reply.get("held"):
            reply["held"][0][2] = "no_such_event"
        return reply

    job = effects_flow(Loopback(damage)).execute("source", {"count": 1})
    assert job.status == "failed"  # the worker's default strategy: the job stops
    assert "no_such_event" in job.errors[0]["error"]


def test_unknown_operations_in_a_reply_are_refused() -> None:
    def unknown(reply: dict[str, Any]) -> dict[str, Any]:
        reply["ops"] = [["format-disk", "/"]]
        return reply

    job = effects_flow(Loopback(unknown)).execute("source", {"count": 1})
    assert job.status == "failed"
    assert "unknown operation" in job.errors[0]["error"]


class Streaming(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("output", ["value"])

    def go(self) -> None:
        self.emit_now("output", value=1)


def test_emit_now_on_a_worker_is_refused_with_a_clear_error() -> None:
    flow = Flow("remote-streaming", runtime=Loopback())
    flow.add_routine(Streaming(), "streaming")
    job = flow.execute("streaming")
    assert job.status == "failed"
    assert "emit_now" in job.errors[0]["error"]
    assert "Redis worker" in job.errors[0]["error"]


class Unstorable:
    pass


class Poisoner(Source):
    def go(self, count: int = 3) -> str:
        self.require_execution_context().job_state.update_shared_data("x", Unstorable())
        self.emit("output", value=0)
        return "fed"


def test_a_change_that_cannot_travel_fails_its_activation_naming_the_key() -> None:
    flow = Flow("remote-unstorable", runtime=Loopback())
    flow.add_routine(Poisoner(), "source")
    flow.add_routine(Sink(), "sink")
    flow.connect("source", "output", "sink", "input")
    job = flow.execute("source", {"count": 1})
    assert job.status == "failed"
    assert "shared_data.x" in job.errors[0]["error"]
    assert "x" not in job.shared_data and "sunk" not in job.shared_data  # nothing committed


def test_a_worker_refuses_messages_it_cannot_run() -> None:
    flow = effects_flow()
    with pytest.raises(SerializationError, match="protocol"):
        run_message(flow, {"protocol": 99})
    with pytest.raises(SerializationError, match="protocol"):
        run_message(flow, ["not", "a", "message"])
    message = {
        "protocol": PROTOCOL,
        "job": "j",
        "flow": flow.flow_id,
        "id": "a",
        "attempt": 0,
        "routine": "ghost",
        "slot": "input",
        "merged": False,
        "data": {},
        "shared": {},
        "states": {},
        "results": {},
    }
    with pytest.raises(RoutineNotFoundError, match="ghost"):
        run_message(flow, message)
    with pytest.raises(ConfigurationError, match="slot"):
        run_message(flow, {**message, "routine": "sink", "slot": "nope"})
    with pytest.raises(SerializationError):
        run_message(flow, {**message, "routine": "sink", "shared": [1]})
    assert RemoteHandlerError


class Replier(ThreadRuntime):
    """Like the Redis runtime: activations are sent away, and their replies come back
    on one thread of their own (here a queue read by a thread, in this process)."""

    runs_elsewhere = True

    def __init__(self, before_reply: Any = None) -> None:
        super().__init__()
        self.before_reply = before_reply
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._replies, daemon=True)
        self.thread.start()

    def _hand_off(
        self, machine: Any, meta: int, data: Any, seq: int, kept: Any, *, here: bool = False
    ) -> None:
        message, sent = activation_message(machine, meta, data, seq, kept)
        self.inbox.put((machine, json.loads(json.dumps(message)), sent))

    def _replies(self) -> None:
        while (item := self.inbox.get()) is not None:
            machine, message, sent = item
            reply = json.loads(json.dumps(run_message(machine.flow, message)))
            if self.before_reply is not None:
                self.before_reply(machine)
            self.completed_async(machine, *apply_reply(sent, reply))

    def shutdown(self, wait: bool = True) -> None:
        self.inbox.put(None)
        self.thread.join(10)
        super().shutdown(wait)


def test_a_reply_that_queues_the_next_activation_sends_it_without_waking_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reply thread sends what a reply queues itself: the caller waiting for the
    job is not woken for it (it would find nothing to do, and contend with the reply
    thread for every hop); it is woken when the job can settle."""
    from routilux._engine.machine import JobMachine

    wakes = [0]
    waiting = JobMachine.wait_for_work_locked
    entered = threading.Event()

    def counted(self: JobMachine) -> None:
        entered.set()
        waiting(self)
        wakes[0] += 1

    def when_the_caller_waits(machine: JobMachine) -> None:
        """Each reply comes while the caller waits for work (as over a network)."""
        with machine.lock:
            waits_now = machine.caller_waiting
        if not waits_now:
            assert entered.wait(10)
        entered.clear()

    monkeypatch.setattr(JobMachine, "wait_for_work_locked", counted)
    flow = Flow("line")
    flow.add_routine(Source(), "source")
    previous = "source"
    for index in range(10):
        flow.add_routine(Relay(), f"relay{index}")
        flow.connect(previous, "output", f"relay{index}", "input")
        previous = f"relay{index}"
    flow.runtime = runtime = Replier(when_the_caller_waits)
    try:
        job = flow.execute("source", {"count": 1})
        assert job.status == "completed"
        assert len(job.get_execution_history()) >= 11
        assert wakes[0] <= 2, wakes[0]
    finally:
        runtime.shutdown()

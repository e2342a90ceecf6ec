"""Unit tests for routilux.runtimes._timers.py (TimerQueue)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from routilux.runtimes._timers import TimerHandle, TimerQueue, timers

WAIT = 5.0  # generous upper bound for events that must happen


class Recorder:
    """Collects calls and sets ``done`` once ``expected`` calls were recorded."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.calls: list[Any] = []
        self.threads: list[str] = []
        self.lock = threading.Lock()
        self.done = threading.Event()

    def make(self, label: Any) -> Any:
        def callback(*args: Any) -> None:
            with self.lock:
                self.calls.append((label, *args) if args else label)
                self.threads.append(threading.current_thread().name)
                if len(self.calls) >= self.expected:
                    self.done.set()

        return callback


def test_module_has_a_process_wide_queue() -> None:
    assert isinstance(timers, TimerQueue)


def test_callbacks_run_in_deadline_order() -> None:
    queue = TimerQueue()
    recorder = Recorder(3)
    queue.call_later(0.05, recorder.make(0.05))
    queue.call_later(0.01, recorder.make(0.01))
    queue.call_later(0.03, recorder.make(0.03))
    assert recorder.done.wait(WAIT)
    assert recorder.calls == [0.01, 0.03, 0.05]


def test_callbacks_run_on_the_timer_thread() -> None:
    queue = TimerQueue()
    recorder = Recorder(1)
    queue.call_later(0, recorder.make("x"))
    assert recorder.done.wait(WAIT)
    assert recorder.threads == ["routilux-timers"]


def test_equal_deadlines_run_in_schedule_order() -> None:
    queue = TimerQueue()
    recorder = Recorder(5)
    # Negative delays are clamped to 0: every deadline is "now" at scheduling time,
    # so they are due in the order they were scheduled.
    for label in range(5):
        queue.call_later(-1, recorder.make(label))
    assert recorder.done.wait(WAIT)
    assert recorder.calls == [0, 1, 2, 3, 4]


def test_sooner_timer_added_later_does_not_wait_for_an_earlier_long_one() -> None:
    queue = TimerQueue()
    recorder = Recorder(1)
    late = queue.call_later(3600, recorder.make("late"))
    queue.call_later(0.01, recorder.make("soon"))
    assert recorder.done.wait(WAIT)
    assert recorder.calls == ["soon"]
    late.cancel()


def test_cancelled_handles_never_run() -> None:
    queue = TimerQueue()
    ran: list[str] = []
    sentinel = threading.Event()
    handle = queue.call_later(0.01, lambda: ran.append("cancelled"))
    assert isinstance(handle, TimerHandle)
    assert handle.cancelled is False
    handle.cancel()
    assert handle.cancelled is True
    queue.call_later(0.02, lambda: (ran.append("kept"), sentinel.set()))
    # The queue runs callbacks one at a time in deadline order, so once the later
    # sentinel has run, the cancelled one has been passed over.
    assert sentinel.wait(WAIT)
    assert ran == ["kept"]


def test_raising_callback_is_logged_and_later_callbacks_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = TimerQueue()
    recorder = Recorder(2)

    def explode() -> None:
        raise RuntimeError("timer boom")

    caplog.set_level(logging.ERROR, logger="routilux")
    queue.call_later(0.0, recorder.make("before"))
    queue.call_later(0.01, explode)
    queue.call_later(0.02, recorder.make("after"))
    assert recorder.done.wait(WAIT)
    assert recorder.calls == ["before", "after"]
    failures = [r for r in caplog.records if r.name == "routilux" and r.exc_info]
    assert len(failures) == 1
    assert "timer callback" in failures[0].getMessage()
    assert failures[0].exc_info is not None
    assert isinstance(failures[0].exc_info[1], RuntimeError)
    assert str(failures[0].exc_info[1]) == "timer boom"

    # The queue is still alive for new work.
    again = Recorder(1)
    queue.call_later(0, again.make("again"))
    assert again.done.wait(WAIT)


def test_callbacks_receive_their_args() -> None:
    queue = TimerQueue()
    recorder = Recorder(2)
    payload = {"k": "v"}
    queue.call_later(0.0, recorder.make("a"), 1, "two", payload)
    queue.call_later(0.01, recorder.make("b"))
    assert recorder.done.wait(WAIT)
    assert recorder.calls == [("a", 1, "two", payload), "b"]
    assert recorder.calls[0][3] is payload


def test_handle_records_deadline_callback_and_args() -> None:
    queue = TimerQueue()
    done = threading.Event()

    def callback(x: int) -> None:
        done.set()

    handle = queue.call_later(0, callback, 42)
    assert handle.callback is callback
    assert handle.args == (42,)
    assert isinstance(handle.deadline, float)
    assert done.wait(WAIT)


def test_each_queue_has_its_own_thread() -> None:
    first, second = TimerQueue(), TimerQueue()
    r1, r2 = Recorder(1), Recorder(1)
    idents: list[int | None] = []
    first.call_later(0, lambda: (idents.append(threading.get_ident()), r1.done.set()))
    assert r1.done.wait(WAIT)
    second.call_later(0, lambda: (idents.append(threading.get_ident()), r2.done.set()))
    assert r2.done.wait(WAIT)
    assert idents[0] != idents[1]


def test_a_cancelled_handle_lets_go_of_its_callback() -> None:
    queue = TimerQueue()

    class Payload:
        def fire(self) -> None:
            raise AssertionError("cancelled timers never fire")

    payload = Payload()
    handle = queue.call_later(3600, payload.fire)
    handle.cancel()
    assert handle.callback is not payload.fire and handle.args == ()


def test_an_enormous_delay_does_not_break_the_timer_thread() -> None:
    queue = TimerQueue()
    fired = threading.Event()
    queue.call_later(float("inf"), lambda: None)
    queue.call_later(1e300, lambda: None)
    queue.call_later(0.01, fired.set)
    assert fired.wait(5)


def test_the_timer_thread_keeps_nothing_of_a_fired_callback() -> None:
    """X: once a timer fired, the timer thread holds nothing of it while it waits for
    the next one (a retry's job, flow and pool threads can be collected)."""
    import weakref

    class Payload:
        pass

    collected = threading.Event()
    payload = Payload()
    watcher = weakref.ref(payload, lambda _: collected.set())
    timers.call_later(0, lambda item: None, payload)
    del payload
    assert collected.wait(10)
    assert watcher() is None

"""Unit tests for routilux/output_handler.py."""

from __future__ import annotations

import queue
from datetime import datetime
from typing import Any

import pytest

from routilux.output_handler import (
    CallbackOutputHandler,
    NullOutputHandler,
    OutputHandler,
    QueueOutputHandler,
)


def test_output_handler_is_abstract() -> None:
    with pytest.raises(TypeError):
        OutputHandler()  # type: ignore[abstract]


def test_subclass_without_handle_is_abstract() -> None:
    class Incomplete(OutputHandler):
        pass

    with pytest.raises(TypeError):
        Incomplete()  # type: ignore[abstract]


def test_subclass_with_handle_can_be_instantiated() -> None:
    calls: list[tuple[Any, ...]] = []

    class Recorder(OutputHandler):
        def handle(self, job_id, routine_id, output_type, data, timestamp=None):  # type: ignore[no-untyped-def]
            calls.append((job_id, routine_id, output_type, data, timestamp))

    Recorder().handle("j", "r", "t", {"a": 1})
    assert calls == [("j", "r", "t", {"a": 1}, None)]


@pytest.mark.parametrize(
    "handler_class", [QueueOutputHandler, CallbackOutputHandler, NullOutputHandler]
)
def test_concrete_handlers_are_output_handlers(handler_class: type) -> None:
    assert issubclass(handler_class, OutputHandler)


def test_queue_handler_puts_dict_with_given_timestamp_as_iso() -> None:
    q: queue.Queue[dict[str, Any]] = queue.Queue()
    handler = QueueOutputHandler(q)
    assert handler.queue is q
    moment = datetime(2024, 5, 6, 7, 8, 9, 123456)
    data = {"value": 42}
    handler.handle("job-1", "routine-1", "result", data, moment)
    item = q.get_nowait()
    assert item == {
        "job_id": "job-1",
        "routine_id": "routine-1",
        "output_type": "result",
        "data": {"value": 42},
        "timestamp": "2024-05-06T07:08:09.123456",
    }
    assert item["data"] is data
    assert q.empty()


def test_queue_handler_accepts_keyword_arguments() -> None:
    q: queue.Queue[dict[str, Any]] = queue.Queue()
    moment = datetime(2020, 1, 2, 3, 4, 5)
    QueueOutputHandler(q).handle(
        job_id="j", routine_id="r", output_type="t", data={}, timestamp=moment
    )
    assert q.get_nowait()["timestamp"] == moment.isoformat()


def test_queue_handler_without_timestamp_uses_now_as_iso_string() -> None:
    q: queue.Queue[dict[str, Any]] = queue.Queue()
    before = datetime.now()
    QueueOutputHandler(q).handle("j", "r", "t", {"x": 1})
    after = datetime.now()
    item = q.get_nowait()
    assert set(item) == {"job_id", "routine_id", "output_type", "data", "timestamp"}
    assert isinstance(item["timestamp"], str)
    stamp = datetime.fromisoformat(item["timestamp"])
    assert before <= stamp <= after


def test_queue_handler_works_with_any_put_object() -> None:
    class Sink:
        def __init__(self) -> None:
            self.items: list[Any] = []

        def put(self, item: Any) -> None:
            self.items.append(item)

    sink = Sink()
    handler = QueueOutputHandler(sink)
    handler.handle("j", "r", "a", {"n": 1})
    handler.handle("j", "r", "b", {"n": 2})
    assert [(i["output_type"], i["data"]) for i in sink.items] == [("a", {"n": 1}), ("b", {"n": 2})]


def test_callback_handler_calls_positionally_with_given_datetime() -> None:
    received: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def callback(*args: Any, **kwargs: Any) -> None:
        received.append((args, kwargs))

    handler = CallbackOutputHandler(callback)
    assert handler.callback is callback
    moment = datetime(2024, 1, 1, 12, 0, 0)
    data = {"k": "v"}
    handler.handle("job", "rid", "kind", data, moment)
    assert received == [(("job", "rid", "kind", {"k": "v"}, moment), {})]
    assert received[0][0][3] is data
    assert received[0][0][4] is moment


def test_callback_handler_without_timestamp_passes_now_as_datetime() -> None:
    received: list[tuple[Any, ...]] = []

    def callback(job_id: str, routine_id: str, output_type: str, data: Any, ts: Any) -> None:
        received.append((job_id, routine_id, output_type, data, ts))

    before = datetime.now()
    CallbackOutputHandler(callback).handle("j", "r", "t", {})
    after = datetime.now()
    assert len(received) == 1
    stamp = received[0][4]
    assert isinstance(stamp, datetime)
    assert before <= stamp <= after
    assert received[0][:4] == ("j", "r", "t", {})


def test_callback_handler_propagates_callback_exception() -> None:
    def callback(*args: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        CallbackOutputHandler(callback).handle("j", "r", "t", {})


def test_null_handler_does_nothing() -> None:
    data = {"a": [1]}
    handler = NullOutputHandler()
    assert handler.handle("j", "r", "t", data) is None
    assert handler.handle("j", "r", "t", data, datetime.now()) is None
    assert data == {"a": [1]}

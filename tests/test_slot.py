"""Unit tests for routilux/slot.py used without a Flow (standalone behaviour)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from routilux.event import Event
from routilux.exceptions import InvalidPayloadError, InvalidStrategyError
from routilux.routine import Routine
from routilux.slot import Slot


class Holder(Routine):
    """A routine that only owns slots and events defined by the tests."""

    def __init__(self) -> None:
        super().__init__()


def snapshot(value: Any) -> Any:
    """Copy a handler argument (lists included) as it was at call time."""
    if isinstance(value, dict):
        return {k: list(v) if isinstance(v, list) else v for k, v in value.items()}
    return value


# -- construction and lookup -----------------------------------------------------------


def test_slot_defaults() -> None:
    slot = Slot()
    assert slot.name == ""
    assert slot.routine is None
    assert slot.handler is None
    assert slot.merge_strategy == "override"
    assert slot.connected_events == []
    assert slot._data == {}


def test_define_slot_returns_slot_owned_by_routine() -> None:
    routine = Holder()

    def handler(data: Any) -> None:
        pass

    slot = routine.define_slot("input", handler=handler, merge_strategy="append")
    assert isinstance(slot, Slot)
    assert slot.name == "input"
    assert slot.routine is routine
    assert slot.handler is handler
    assert slot.merge_strategy == "append"
    assert routine.get_slot("input") is slot
    assert routine.get_slot("missing") is None


def test_repr() -> None:
    routine = Holder()
    slot = routine.define_slot("in_1")
    assert repr(slot) == f"Slot[{routine._id}.in_1]"
    assert repr(slot).startswith("Slot[0x")
    assert repr(Slot("lonely")) == "Slot[lonely]"


# -- receive outside a job -------------------------------------------------------------


def test_receive_runs_handler_now_in_calling_thread() -> None:
    calls: list[tuple[Any, int]] = []
    slot = Slot("s", handler=lambda data: calls.append((data, threading.get_ident())))
    slot.receive({"a": 1})
    assert calls == [({"a": 1}, threading.get_ident())]


def test_receive_without_handler_only_merges() -> None:
    slot = Slot("s")
    slot.receive({"a": 1})
    assert slot._data == {"a": 1}


def test_override_strategy_replaces_buffer_with_a_copy() -> None:
    seen: list[Any] = []
    slot = Slot("s", handler=lambda data: seen.append(data))
    first = {"a": 1, "b": 2}
    slot.receive(first)
    slot.receive({"c": 3})
    assert seen == [{"a": 1, "b": 2}, {"c": 3}]
    assert slot._data == {"c": 3}
    first["a"] = 100
    assert seen[0] == {"a": 1, "b": 2}


def test_append_strategy_accumulates_lists() -> None:
    seen: list[Any] = []
    slot = Slot("s", handler=lambda data: seen.append(snapshot(data)), merge_strategy="append")
    slot.receive({"a": 1})
    slot.receive({"a": 2, "b": 3})
    slot.receive({"b": 4})
    # The handler sees only the keys just received, each with its whole list.
    assert seen == [{"a": [1]}, {"a": [1, 2], "b": [3]}, {"b": [3, 4]}]
    assert slot._data == {"a": [1, 2], "b": [3, 4]}


def test_append_strategy_with_empty_delivery_calls_handler_with_empty_dict() -> None:
    seen: list[Any] = []
    slot = Slot("s", handler=lambda data: seen.append(data), merge_strategy="append")
    slot.receive({"a": 1})
    slot.receive({})
    assert seen == [{"a": [1]}, {}]
    assert slot._data == {"a": [1]}


def test_custom_strategy_gets_old_and_new_and_handler_sees_result() -> None:
    merges: list[tuple[Any, Any]] = []
    seen: list[Any] = []

    def merge(old: Any, new: dict[str, Any]) -> dict[str, Any]:
        merges.append((dict(old), dict(new)))
        total = old.get("total", 0) + new["n"]
        return {"total": total, "last": new["n"]}

    slot = Slot("s", handler=lambda data: seen.append(data), merge_strategy=merge)
    slot.receive({"n": 2})
    slot.receive({"n": 5})
    assert merges == [({}, {"n": 2}), ({"total": 2, "last": 2}, {"n": 5})]
    assert seen == [{"total": 2, "last": 2}, {"total": 7, "last": 5}]
    assert slot._data == {"total": 7, "last": 5}


def test_custom_strategy_dict_result_is_stored_as_a_copy() -> None:
    result = {"k": 1}
    slot = Slot("s", merge_strategy=lambda old, new: result)
    slot.receive({"x": 1})
    assert slot._data == {"k": 1}
    assert slot._data is not result


def test_custom_strategy_non_dict_result_reaches_data_handler() -> None:
    seen: list[Any] = []

    def collect(old: Any, new: dict[str, Any]) -> list[Any]:
        return [*(old if isinstance(old, list) else []), new["x"]]

    slot = Slot("s", handler=lambda data: seen.append(list(data)), merge_strategy=collect)
    slot.receive({"x": 1})
    slot.receive({"x": 2})
    assert seen == [[1], [1, 2]]
    assert slot._data == [1, 2]


def test_standalone_buffer_persists_between_receives_until_reset() -> None:
    slot = Slot("s", merge_strategy="append")
    slot.receive({"a": 1})
    slot.receive({"a": 2})
    assert slot._data == {"a": [1, 2]}
    slot._data = {}
    slot.receive({"a": 3})
    assert slot._data == {"a": [3]}


def test_receive_propagates_handler_exception_after_merging() -> None:
    def handler(data: Any) -> None:
        raise KeyError("from handler")

    slot = Slot("s", handler=handler)
    with pytest.raises(KeyError, match="from handler"):
        slot.receive({"a": 1})
    assert slot._data == {"a": 1}


def test_receive_propagates_custom_merge_exception() -> None:
    called: list[Any] = []

    def merge(old: Any, new: Any) -> Any:
        raise ArithmeticError("bad merge")

    slot = Slot("s", handler=lambda data: called.append(data), merge_strategy=merge)
    with pytest.raises(ArithmeticError, match="bad merge"):
        slot.receive({"a": 1})
    assert called == []


@pytest.mark.parametrize("bad", [None, [("a", 1)], "text", 5])
def test_receive_non_dict_raises_naming_the_slot(bad: Any) -> None:
    routine = Holder()
    called: list[Any] = []
    slot = routine.define_slot("my_input", handler=lambda data: called.append(data))
    with pytest.raises(InvalidPayloadError, match="my_input") as info:
        slot.receive(bad)
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, ValueError)
    assert called == []
    assert slot._data == {}


def test_receive_non_dict_on_slot_without_routine_names_it() -> None:
    with pytest.raises(InvalidPayloadError, match="'orphan'"):
        Slot("orphan").receive(["x"])  # type: ignore[arg-type]


# -- handler dispatch through receive --------------------------------------------------


def test_kwargs_handler_receives_keywords() -> None:
    seen: list[Any] = []

    def handler(**kwargs: Any) -> None:
        seen.append(kwargs)

    Slot("s", handler=handler).receive({"a": 1, "b": 2})
    assert seen == [{"a": 1, "b": 2}]


def test_single_named_parameter_gets_value_or_whole_dict() -> None:
    seen: list[Any] = []

    def handler(text: Any) -> None:
        seen.append(text)

    slot = Slot("s", handler=handler)
    slot.receive({"text": "hi", "other": 1})
    slot.receive({"other": 1})
    assert seen == ["hi", {"other": 1}]


def test_several_parameters_get_matching_keywords() -> None:
    seen: list[Any] = []

    def handler(a: Any = None, b: Any = None) -> None:
        seen.append((a, b))

    Slot("s", handler=handler).receive({"a": 1, "b": 2, "extra": 3})
    assert seen == [(1, 2)]


def test_data_handler_gets_a_copy() -> None:
    def handler(data: dict[str, Any]) -> None:
        data["mutated"] = True

    slot = Slot("s", handler=handler)
    slot.receive({"a": 1})
    assert slot._data == {"a": 1}


def test_bound_method_handler() -> None:
    class Counter(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.values: list[Any] = []
            self.slot = self.define_slot("input", handler=self.take)

        def take(self, value: Any) -> None:
            self.values.append(value)

    counter = Counter()
    counter.slot.receive({"value": 7})
    assert counter.values == [7]


# -- call_handler ----------------------------------------------------------------------


def test_call_handler_merges_and_calls() -> None:
    seen: list[Any] = []
    slot = Slot("s", handler=lambda data: seen.append(snapshot(data)), merge_strategy="append")
    slot.call_handler({"a": 1})
    slot.call_handler({"a": 2})
    assert seen == [{"a": [1]}, {"a": [1, 2]}]


def test_call_handler_default_logs_and_swallows(caplog: pytest.LogCaptureFixture) -> None:
    routine = Holder()

    def handler(data: Any) -> None:
        raise ValueError("swallowed")

    slot = routine.define_slot("quiet", handler=handler)
    caplog.set_level(logging.ERROR, logger="routilux")
    slot.call_handler({"a": 1})
    assert slot._data == {"a": 1}
    records = [r for r in caplog.records if r.name == "routilux"]
    assert len(records) == 1
    assert "quiet" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], ValueError)


def test_call_handler_propagate_true_raises(caplog: pytest.LogCaptureFixture) -> None:
    def handler(data: Any) -> None:
        raise ValueError("loud")

    slot = Slot("s", handler=handler)
    caplog.set_level(logging.ERROR, logger="routilux")
    with pytest.raises(ValueError, match="loud"):
        slot.call_handler({"a": 1}, propagate_exceptions=True)
    assert [r for r in caplog.records if r.name == "routilux"] == []


# -- changing handler and merge strategy -----------------------------------------------


def test_setting_handler_later_takes_effect() -> None:
    first: list[Any] = []
    second: list[Any] = []
    slot = Slot("s")
    slot.receive({"n": 0})
    slot.handler = lambda data: first.append(data)
    slot.receive({"n": 1})
    slot.handler = lambda data: second.append(data)
    slot.receive({"n": 2})
    slot.handler = None
    slot.receive({"n": 3})
    assert first == [{"n": 1}]
    assert second == [{"n": 2}]
    assert slot.handler is None
    assert slot._data == {"n": 3}


def test_setting_non_callable_handler_raises_and_keeps_old_one() -> None:
    seen: list[Any] = []

    def handler(data: Any) -> None:
        seen.append(data)

    routine = Holder()
    slot = routine.define_slot("target", handler=handler)
    with pytest.raises(InvalidPayloadError, match="target"):
        slot.handler = "not callable"  # type: ignore[assignment]
    assert slot.handler is handler
    slot.receive({"a": 1})
    assert seen == [{"a": 1}]


def test_constructing_slot_with_non_callable_handler_raises() -> None:
    with pytest.raises(TypeError):
        Slot("s", handler=42)  # type: ignore[arg-type]


def test_setting_merge_strategy_later_takes_effect() -> None:
    seen: list[Any] = []
    slot = Slot("s", handler=lambda data: seen.append(snapshot(data)))
    slot.receive({"a": 1})
    slot.merge_strategy = "append"
    assert slot.merge_strategy == "append"
    slot.receive({"a": 2})
    slot.merge_strategy = lambda old, new: {"merged": True, **new}
    slot.receive({"b": 3})
    slot.merge_strategy = "override"
    slot.receive({"c": 4})
    assert seen == [{"a": 1}, {"a": [1, 2]}, {"merged": True, "b": 3}, {"c": 4}]


@pytest.mark.parametrize("bad", ["replace", "APPEND", "", None, 3])
def test_invalid_merge_strategy_raises_and_keeps_old_one(bad: Any) -> None:
    routine = Holder()
    slot = routine.define_slot("merging", merge_strategy="append")
    with pytest.raises(InvalidStrategyError, match="merging"):
        slot.merge_strategy = bad
    assert slot.merge_strategy == "append"
    slot.receive({"a": 1})
    assert slot._data == {"a": [1]}


def test_invalid_merge_strategy_in_constructor_raises() -> None:
    with pytest.raises(InvalidStrategyError, match="'s'"):
        Slot("s", merge_strategy="bogus")


# -- connect / disconnect --------------------------------------------------------------


def test_slot_connect_applies_param_mapping_and_disconnect() -> None:
    seen: list[Any] = []
    source = Holder()
    event = source.define_event("out")
    target = Holder()
    slot = target.define_slot("in", handler=lambda data: seen.append(data))

    slot.connect(event, {"value": "x"})
    assert slot.connected_events == [event]
    assert event.connected_slots == [slot]
    source.emit("out", value=1, other=2)
    assert seen == [{"x": 1, "value": 1, "other": 2}]

    slot.disconnect(event)
    assert slot.connected_events == []
    assert event.connected_slots == []
    source.emit("out", value=3)
    assert len(seen) == 1


def test_slot_connected_to_two_events_lists_them_in_order() -> None:
    source = Holder()
    first, second = source.define_event("a"), source.define_event("b")
    slot = Slot("s")
    slot.connect(second)
    slot.connect(first)
    slot.connect(second)
    assert slot.connected_events == [second, first]
    assert isinstance(slot.connected_events[0], Event)


def test_is_kwargs_handler() -> None:
    def with_kwargs(a: Any, **kw: Any) -> None:
        pass

    def without(a: Any, *args: Any) -> None:
        pass

    assert Slot._is_kwargs_handler(with_kwargs) is True
    assert Slot._is_kwargs_handler(without) is False


def test_the_0_9_batch_pattern_reads_and_resets_the_jobs_buffer() -> None:
    """0.9-break 2: inside a job, `slot._data` is that job's buffer: reading it sees
    the batch, assigning {} starts a new one (and slot.clear() does the same)."""
    from routilux import Flow

    batches: list[list[int]] = []

    class Batcher(Routine):
        def __init__(self, use_clear: bool) -> None:
            super().__init__()
            self.use_clear = use_clear
            self.input_slot = self.define_slot("input", handler=self.take, merge_strategy="append")

        def take(self, **_: Any) -> None:
            values = list(self.input_slot._data.get("value", []))
            if len(values) == 3:
                batches.append(values)
                if self.use_clear:
                    self.input_slot.clear()
                else:
                    self.input_slot._data = {}

    class Numbers(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["value"])

        def go(self) -> None:
            for value in range(7):
                self.emit("output", value=value)

    for use_clear in (False, True):
        batches.clear()
        batcher = Batcher(use_clear)
        flow = Flow()
        flow.add_routine(Numbers(), "numbers")
        flow.add_routine(batcher, "batcher")
        flow.connect("numbers", "output", "batcher", "input")
        job = flow.execute("numbers")
        assert job.status == "completed"
        assert batches == [[0, 1, 2], [3, 4, 5]]
        # Outside any job the standalone buffer was never touched.
        assert batcher.input_slot._data == {}


@pytest.mark.parametrize("bad", [5, "event", None, object()])
def test_connect_and_disconnect_refuse_what_is_not_an_event(bad: Any) -> None:
    """Y: Slot.connect/disconnect with a non-Event raise InvalidPayloadError naming the
    slot, not AttributeError."""
    routine = Routine()
    slot = routine.define_slot("input")
    with pytest.raises(InvalidPayloadError, match=r"slot .input.*connect expects an Event"):
        slot.connect(bad)
    with pytest.raises(InvalidPayloadError, match="disconnect expects an Event"):
        slot.disconnect(bad)

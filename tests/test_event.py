"""Unit tests for routilux/event.py used without a Flow (standalone behaviour)."""

from __future__ import annotations

from typing import Any

import pytest

from routilux.connection import Connection
from routilux.event import Event
from routilux.routine import Routine
from routilux.slot import Slot


class Holder(Routine):
    def __init__(self) -> None:
        super().__init__()


def recording_slot(name: str, log: list[Any]) -> Slot:
    return Slot(name, handler=lambda data: log.append((name, data)))


# -- construction ----------------------------------------------------------------------


def test_event_defaults() -> None:
    event = Event()
    assert event.name == ""
    assert event.routine is None
    assert event.output_params == []
    assert event.connected_slots == []
    assert event.connections == []


def test_define_event_returns_event_owned_by_routine() -> None:
    routine = Holder()
    params = ["a", "b"]
    event = routine.define_event("out", params)
    assert isinstance(event, Event)
    assert event.name == "out"
    assert event.routine is routine
    assert event.output_params == ["a", "b"]
    params.append("c")
    assert event.output_params == ["a", "b"]  # a copy
    assert routine.get_event("out") is event
    assert routine.get_event("missing") is None
    assert routine.define_event("bare").output_params == []


def test_repr() -> None:
    routine = Holder()
    event = routine.define_event("done_1")
    assert repr(event) == f"Event[{routine._id}.done_1]"
    assert repr(event).startswith("Event[0x")
    assert repr(Event("free")) == "Event[free]"


# -- connecting ------------------------------------------------------------------------


def test_connected_slots_in_connect_order() -> None:
    event = Event("e")
    s1, s2, s3 = Slot("one"), Slot("two"), Slot("three")
    event.connect(s2)
    event.connect(s3)
    event.connect(s1)
    assert event.connected_slots == [s2, s3, s1]
    assert [c.target_slot for c in event.connections] == [s2, s3, s1]
    assert s2.connected_events == [event]


def test_connect_returns_a_connection() -> None:
    event = Event("e")
    slot = Slot("s")
    connection = event.connect(slot, {"a": "b"})
    assert isinstance(connection, Connection)
    assert connection.source_event is event
    assert connection.target_slot is slot
    assert connection.param_mapping == {"a": "b"}
    assert connection.flow is None
    assert event.connections == [connection]


def test_connecting_same_slot_twice_keeps_one_connection_and_updates_mapping() -> None:
    log: list[Any] = []
    event = Event("e")
    slot = recording_slot("s", log)
    first = event.connect(slot, {"v": "x"})
    second = event.connect(slot, {"v": "y"})
    assert second is first
    assert event.connected_slots == [slot]
    assert len(event.connections) == 1
    assert first.param_mapping == {"v": "y"}
    assert slot.connected_events == [event]
    event.emit(v=1)
    assert log == [("s", {"y": 1, "v": 1})]


def test_reconnecting_without_mapping_clears_mapping() -> None:
    log: list[Any] = []
    event = Event("e")
    slot = recording_slot("s", log)
    event.connect(slot, {"v": "x"})
    event.connect(slot)
    event.emit(v=1)
    assert log == [("s", {"v": 1})]


def test_reconnecting_keeps_position_in_connect_order() -> None:
    log: list[Any] = []
    event = Event("e")
    a, b = recording_slot("a", log), recording_slot("b", log)
    event.connect(a)
    event.connect(b)
    event.connect(a, {"k": "renamed"})
    event.emit(k=1)
    assert [name for name, _ in log] == ["a", "b"]
    assert event.connected_slots == [a, b]


def test_disconnect_removes_both_directions_and_stops_delivery() -> None:
    log: list[Any] = []
    event = Event("e")
    a, b = recording_slot("a", log), recording_slot("b", log)
    event.connect(a)
    event.connect(b)
    event.disconnect(a)
    assert event.connected_slots == [b]
    assert a.connected_events == []
    assert b.connected_events == [event]
    event.emit(n=1)
    assert log == [("b", {"n": 1})]


def test_disconnect_unconnected_slot_is_harmless() -> None:
    event = Event("e")
    connected = Slot("c")
    event.connect(connected)
    event.disconnect(Slot("never"))
    assert event.connected_slots == [connected]


def test_connection_disconnect() -> None:
    log: list[Any] = []
    event = Event("e")
    slot = recording_slot("s", log)
    connection = event.connect(slot)
    connection.disconnect()
    assert event.connected_slots == []
    assert slot.connected_events == []
    event.emit(n=1)
    assert log == []


def test_reconnect_after_disconnect() -> None:
    log: list[Any] = []
    event = Event("e")
    slot = recording_slot("s", log)
    event.connect(slot)
    event.disconnect(slot)
    event.connect(slot, {"n": "m"})
    event.emit(n=1)
    assert log == [("s", {"m": 1, "n": 1})]
    assert slot.connected_events == [event]


# -- emitting outside a job ------------------------------------------------------------


def test_emit_calls_slots_synchronously_in_connect_order() -> None:
    log: list[Any] = []
    event = Event("e")
    for name in ("first", "second", "third"):
        event.connect(recording_slot(name, log))
    event.emit(v=1)
    assert log == [("first", {"v": 1}), ("second", {"v": 1}), ("third", {"v": 1})]


def test_emit_applies_each_connections_mapping() -> None:
    log: list[Any] = []
    event = Event("e")
    event.connect(recording_slot("plain", log))
    event.connect(recording_slot("mapped", log), {"a": "x"})
    # A mapping target that is also a key of the data is not passed through.
    event.connect(recording_slot("shadow", log), {"a": "b"})
    event.emit(a=1, b=2)
    assert log == [
        ("plain", {"a": 1, "b": 2}),
        ("mapped", {"x": 1, "a": 1, "b": 2}),
        ("shadow", {"b": 1, "a": 1}),
    ]


def test_event_emit_through_owning_routine() -> None:
    log: list[Any] = []
    routine = Holder()
    event = routine.define_event("out")
    event.connect(recording_slot("s", log))
    observed: list[Any] = []

    def observer(sender: Any, **kwargs: Any) -> None:
        observed.append(sender)

    event.signal.connect(observer)
    event.emit(k=1)
    assert log == [("s", {"k": 1})]
    assert observed == [routine]


def test_handler_exception_propagates_out_of_emit_and_stops_later_slots() -> None:
    log: list[Any] = []

    def boom(data: Any) -> None:
        raise RuntimeError("downstream failed")

    event = Event("e")
    event.connect(Slot("bad", handler=boom))
    event.connect(recording_slot("later", log))
    with pytest.raises(RuntimeError, match="downstream failed"):
        event.emit(v=1)
    assert log == []


# -- signal observers ------------------------------------------------------------------


def test_signal_observer_receives_routine_data_and_no_job_state() -> None:
    routine = Holder()
    event = routine.define_event("out")
    calls: list[tuple[Any, dict[str, Any]]] = []

    def observer(sender: Any, **kwargs: Any) -> None:
        calls.append((sender, kwargs))

    event.signal.connect(observer)
    routine.emit("out", a=1, b="two")
    assert calls == [(routine, {"data": {"a": 1, "b": "two"}, "job_state": None})]


def test_strong_signal_observer_receives_the_same() -> None:
    routine = Holder()
    event = routine.define_event("out")
    calls: list[Any] = []
    event.signal.connect(
        lambda sender, data, job_state: calls.append((sender, data, job_state)), weak=False
    )
    routine.emit("out", x=1)
    assert calls == [(routine, {"x": 1}, None)]


def test_slots_run_first_then_observers_in_connect_order() -> None:
    """Observers of ``event.signal`` hear about an emission once it took effect: after
    the connected slots ran (outside a job), after the commit (inside one)."""
    routine = Holder()
    event = routine.define_event("out")
    order: list[str] = []

    def first(sender: Any, **kwargs: Any) -> None:
        order.append("observer-1")

    def last(sender: Any, **kwargs: Any) -> None:
        order.append("observer-2")

    event.signal.connect(first)
    event.connect(Slot("s", handler=lambda data: order.append("slot")))
    event.signal.connect(last)
    routine.emit("out", v=1)
    assert order == ["slot", "observer-1", "observer-2"]


def test_signal_observer_on_event_without_routine_gets_none_sender() -> None:
    event = Event("free")
    calls: list[Any] = []

    def observer(sender: Any, **kwargs: Any) -> None:
        calls.append((sender, kwargs))

    event.signal.connect(observer)
    event.emit(k=2)
    assert calls == [(None, {"data": {"k": 2}, "job_state": None})]


def test_disconnected_observer_is_not_called() -> None:
    routine = Holder()
    event = routine.define_event("out")
    calls: list[Any] = []

    def observer(sender: Any, **kwargs: Any) -> None:
        calls.append(kwargs["data"])

    event.signal.connect(observer)
    routine.emit("out", n=1)
    event.signal.disconnect(observer)
    routine.emit("out", n=2)
    assert calls == [{"n": 1}]

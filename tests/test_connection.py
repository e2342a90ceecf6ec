"""Tests for routilux.connection: apply_param_mapping and direct Connection objects."""

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routilux import Connection, Routine
from routilux.connection import apply_param_mapping

# -- apply_param_mapping ----------------------------------------------------------------


def test_mapped_source_keys_are_also_passed_through():
    assert apply_param_mapping({"a": "x"}, {"a": 1}) == {"x": 1, "a": 1}


def test_target_key_dropped_when_its_source_is_absent():
    assert apply_param_mapping({"zz": "x"}, {"x": 9, "y": 1}) == {"y": 1}


def test_chained_renames_mapping_targets_win():
    result = apply_param_mapping({"a": "x", "b": "a"}, {"a": 1, "b": 2, "c": 3})
    assert result == {"x": 1, "a": 2, "b": 2, "c": 3}


def test_result_key_order():
    # mapped targets first (mapping order), then pass-through keys (data order)
    result = apply_param_mapping({"b": "y", "a": "x"}, {"c": 3, "a": 1, "b": 2})
    assert list(result.items()) == [("y", 2), ("x", 1), ("c", 3), ("a", 1), ("b", 2)]


def test_empty_mapping_returns_the_same_object():
    data = {"a": 1}
    assert apply_param_mapping({}, data) is data


def test_non_empty_mapping_returns_a_new_dict_and_leaves_data_alone():
    data = {"a": 1, "b": 2}
    result = apply_param_mapping({"a": "x"}, data)
    assert result is not data
    assert data == {"a": 1, "b": 2}


def test_mapping_with_no_effect_still_copies():
    data = {"a": 1}
    result = apply_param_mapping({"q": "r"}, data)
    assert result == {"a": 1}
    assert result is not data


def test_two_sources_to_one_target_last_present_wins():
    mapping = {"a": "x", "b": "x"}
    assert apply_param_mapping(mapping, {"a": 1, "b": 2}) == {"x": 2, "a": 1, "b": 2}
    assert apply_param_mapping(mapping, {"a": 1}) == {"x": 1, "a": 1}


def test_identity_mapping_entry():
    assert apply_param_mapping({"a": "a"}, {"a": 1, "b": 2}) == {"a": 1, "b": 2}
    assert apply_param_mapping({"a": "a"}, {"b": 2}) == {"b": 2}


def test_swap():
    assert apply_param_mapping({"a": "b", "b": "a"}, {"a": 1, "b": 2}) == {"b": 1, "a": 2}


KEYS = st.sampled_from(["a", "b", "c", "d", "e", "x", "y"])


@given(
    mapping=st.dictionaries(KEYS, KEYS, max_size=6),
    data=st.dictionaries(KEYS, st.integers(), max_size=7),
)
def test_apply_param_mapping_properties(mapping, data):
    original = dict(data)
    result = apply_param_mapping(mapping, data)
    assert data == original  # never mutates its input

    if not mapping:
        assert result is data
        return

    targets = set(mapping.values())
    # the value each target gets: the last source (in mapping order) present in data
    expected_target_values = {}
    for source, target in mapping.items():
        if source in data:
            expected_target_values[target] = data[source]

    # every mapping target whose source is present gets the source's value
    for target, value in expected_target_values.items():
        assert result[target] == value
    # no key that is a mapping target appears unless mapped
    for target in targets:
        assert (target in result) == (target in expected_target_values)
    # all other keys pass through unchanged
    for key, value in data.items():
        if key not in targets:
            assert result[key] == value
    # and nothing else appears
    assert set(result) == set(expected_target_values) | (set(data) - targets)


# -- direct Connection objects ----------------------------------------------------------


class Source(Routine):
    def __init__(self):
        super().__init__()
        self.define_event("out", ["a", "b"])


class Sink(Routine):
    def __init__(self, strategy="override"):
        super().__init__()
        self.received = []
        self.threads = []
        self.define_slot("input", handler=self.handle, merge_strategy=strategy)

    def handle(self, **kwargs):
        self.received.append(kwargs)
        self.threads.append(threading.get_ident())


def wire(mapping=None, strategy="override"):
    source, sink = Source(), Sink(strategy)
    conn = Connection(source.get_event("out"), sink.get_slot("input"), mapping)
    return source, sink, conn


def test_constructor_attributes():
    source, sink, conn = wire({"a": "x"})
    assert conn.source_event is source.get_event("out")
    assert conn.target_slot is sink.get_slot("input")
    assert conn.param_mapping == {"a": "x"}
    assert conn.flow is None
    assert conn.source_routine_id is None
    assert conn.target_routine_id is None


def test_constructor_copies_the_mapping():
    mapping = {"a": "x"}
    _, _, conn = wire(mapping)
    mapping["b"] = "y"
    assert conn.param_mapping == {"a": "x"}


def test_constructor_wires_both_ends():
    source, sink, conn = wire()
    event, slot = source.get_event("out"), sink.get_slot("input")
    assert event.connections == [conn]
    assert event.connected_slots == [slot]
    assert slot.connected_events == [event]


def test_emit_calls_slot_synchronously_with_mapped_data():
    source, sink, _ = wire({"a": "x"})
    source.emit("out", a=1, b=2)
    # already delivered when emit returns, in this thread
    assert sink.received == [{"x": 1, "a": 1, "b": 2}]
    assert sink.threads == [threading.get_ident()]
    source.emit("out", b=3)
    assert sink.received[-1] == {"b": 3}


def test_emit_without_mapping_delivers_data_unchanged():
    source, sink, _ = wire()
    source.emit("out", a=1)
    assert sink.received == [{"a": 1}]


def test_emit_through_event_object():
    source, sink, _ = wire({"b": "y"})
    source.get_event("out").emit(b=5)
    assert sink.received == [{"y": 5, "b": 5}]


def test_emit_fans_out_in_connect_order_each_with_its_own_mapping():
    source = Source()
    order = []

    class Tagged(Routine):
        def __init__(self, tag):
            super().__init__()
            self.tag = tag
            self.define_slot("input", handler=self.handle)

        def handle(self, **kwargs):
            order.append((self.tag, kwargs))

    sinks = [Tagged(i) for i in range(6)]
    for i, sink in enumerate(sinks):
        Connection(source.get_event("out"), sink.get_slot("input"), {"a": f"k{i}"})
    source.emit("out", a=1)
    assert order == [(i, {f"k{i}": 1, "a": 1}) for i in range(6)]


def test_mapping_applies_before_the_merge():
    source, sink, _ = wire({"a": "x"}, strategy="append")
    source.emit("out", a=1)
    source.emit("out", a=2)
    assert sink.received[-1] == {"x": [1, 2], "a": [1, 2]}
    assert sink.get_slot("input")._data == {"x": [1, 2], "a": [1, 2]}


def test_activate_delivers_with_mapping():
    _, sink, conn = wire({"a": "x", "zz": "b"})
    conn.activate({"a": 1, "b": 2, "c": 3})
    assert sink.received == [{"x": 1, "a": 1, "c": 3}]
    assert sink.threads == [threading.get_ident()]


def test_activate_without_mapping():
    _, sink, conn = wire()
    conn.activate({"a": 1})
    assert sink.received == [{"a": 1}]


def test_activate_propagates_handler_exceptions():
    class Failing(Routine):
        def __init__(self):
            super().__init__()
            self.define_slot("input", handler=self.handle)

        def handle(self, a):
            raise ZeroDivisionError(a)

    conn = Connection(Source().get_event("out"), Failing().get_slot("input"))
    with pytest.raises(ZeroDivisionError):
        conn.activate({"a": 1})


def test_activate_without_target_raises():
    conn = Connection()
    with pytest.raises(ValueError, match="no target slot"):
        conn.activate({"a": 1})


def test_disconnect_removes_the_edge():
    source, sink, conn = wire({"a": "x"})
    source.emit("out", a=1)
    conn.disconnect()
    source.emit("out", a=2)
    assert sink.received == [{"x": 1, "a": 1}]
    event, slot = source.get_event("out"), sink.get_slot("input")
    assert event.connections == []
    assert event.connected_slots == []
    assert slot.connected_events == []
    assert not event.signal.receivers


def test_disconnect_one_of_several_keeps_the_others():
    source = Source()
    sink1, sink2 = Sink(), Sink()
    conn1 = Connection(source.get_event("out"), sink1.get_slot("input"))
    Connection(source.get_event("out"), sink2.get_slot("input"))
    conn1.disconnect()
    source.emit("out", a=1)
    assert sink1.received == []
    assert sink2.received == [{"a": 1}]


def test_disconnect_without_source_raises():
    conn = Connection()
    with pytest.raises(ValueError, match="no source event"):
        conn.disconnect()


def test_disconnect_twice_is_harmless():
    source, sink, conn = wire()
    conn.disconnect()
    conn.disconnect()
    source.emit("out", a=1)
    assert sink.received == []


def test_second_direct_connection_to_same_slot_replaces_the_first():
    source, sink, first = wire({"a": "x"})
    second = Connection(source.get_event("out"), sink.get_slot("input"), {"a": "y"})
    source.emit("out", a=1)
    assert sink.received == [{"y": 1, "a": 1}]  # delivered once, with the new mapping
    assert source.get_event("out").connections == [second]
    first.disconnect()  # stale: does not remove the replacement
    source.emit("out", a=2)
    assert sink.received[-1] == {"y": 2, "a": 2}


def test_connection_with_one_end_missing_is_not_attached():
    source = Source()
    conn = Connection(source.get_event("out"), None)
    assert source.get_event("out").connections == []
    assert conn.target_slot is None
    source.emit("out", a=1)  # no receivers, no error


def test_repr():
    source, sink, conn = wire()
    assert repr(conn) == f"Connection[Event[{source._id}.out] -> Slot[{sink._id}.input]]"
    assert repr(Connection()) == "Connection[None -> None]"

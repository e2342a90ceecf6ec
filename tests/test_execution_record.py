"""Tests for routilux.execution_record.ExecutionRecord."""

import time
from datetime import datetime, timedelta

import pytest

from routilux import ExecutionRecord
from routilux.execution_record import ExecutionRecord as ModuleRecord


def test_exported_from_package():
    assert ExecutionRecord is ModuleRecord


def test_defaults():
    before = datetime.now()
    record = ExecutionRecord()
    after = datetime.now()
    assert record.routine_id == ""
    assert record.event_name == ""
    assert record.data == {}
    assert isinstance(record.timestamp, datetime)
    assert before <= record.timestamp <= after
    assert before.timestamp() <= record.time <= after.timestamp()


def test_default_data_is_not_shared():
    first, second = ExecutionRecord(), ExecutionRecord()
    first.data["x"] = 1
    assert second.data == {}


def test_data_is_stored_by_reference():
    data = {"a": 1}
    assert ExecutionRecord("r", "e", data).data is data


def test_none_data_becomes_empty_dict():
    assert ExecutionRecord("r", "e", None).data == {}


def test_positional_arguments():
    moment = datetime(2024, 5, 6, 7, 8, 9)
    record = ExecutionRecord("rid", "evt", {"k": "v"}, moment)
    assert record.routine_id == "rid"
    assert record.event_name == "evt"
    assert record.data == {"k": "v"}
    assert record.timestamp == moment


def test_timestamp_given_as_datetime():
    moment = datetime(2024, 1, 2, 3, 4, 5, 678901)
    record = ExecutionRecord("r", "e", {}, timestamp=moment)
    assert record.timestamp is moment
    assert isinstance(record.time, float)
    assert record.time == moment.timestamp()


def test_timestamp_given_as_float():
    now = time.time()
    record = ExecutionRecord("r", "e", {}, timestamp=now)
    assert record.time == now
    assert isinstance(record.time, float)
    assert isinstance(record.timestamp, datetime)
    assert record.timestamp == datetime.fromtimestamp(now)
    assert abs(record.timestamp - datetime.now()) < timedelta(minutes=1)


def test_timestamp_given_as_int():
    record = ExecutionRecord("r", "e", {}, timestamp=1_700_000_000)
    assert record.time == 1_700_000_000
    assert record.timestamp == datetime.fromtimestamp(1_700_000_000)


def test_float_and_datetime_roundtrip():
    moment = datetime(2023, 11, 14, 22, 13, 20, 500000)
    from_float = ExecutionRecord("r", "e", {}, moment.timestamp())
    assert from_float.timestamp == moment


def test_timestamp_setter():
    record = ExecutionRecord("r", "e", {}, 10.0)
    moment = datetime(2022, 2, 2, 2, 2, 2)
    record.timestamp = moment
    assert record.timestamp is moment
    assert record.time == moment.timestamp()


def test_slots_prevent_new_attributes():
    record = ExecutionRecord()
    with pytest.raises(AttributeError):
        record.extra = 1


# -- equality ---------------------------------------------------------------------------


def test_equal_records():
    a = ExecutionRecord("r", "e", {"x": 1}, 5.0)
    b = ExecutionRecord("r", "e", {"x": 1}, 5.0)
    assert a == b
    assert (a != b) is False


def test_equality_across_datetime_and_float_timestamps():
    moment = datetime(2024, 3, 4, 5, 6, 7, 250000)
    assert ExecutionRecord("r", "e", {}, moment) == ExecutionRecord(
        "r", "e", {}, moment.timestamp()
    )


@pytest.mark.parametrize(
    "other",
    [
        ExecutionRecord("other", "e", {"x": 1}, 5.0),
        ExecutionRecord("r", "other", {"x": 1}, 5.0),
        ExecutionRecord("r", "e", {"x": 2}, 5.0),
        ExecutionRecord("r", "e", {"x": 1}, 5.5),
    ],
    ids=["routine_id", "event_name", "data", "time"],
)
def test_records_differing_in_one_field_are_not_equal(other):
    base = ExecutionRecord("r", "e", {"x": 1}, 5.0)
    assert base != other
    assert (base == other) is False


def test_comparison_with_other_types():
    record = ExecutionRecord("r", "e", {}, 1.0)
    assert record != ("r", "e", {}, 1.0)
    assert record != "r"
    assert record != None  # noqa: E711
    assert record.__eq__(object()) is NotImplemented


def test_records_are_unhashable():
    with pytest.raises(TypeError):
        hash(ExecutionRecord())


# -- repr -------------------------------------------------------------------------------


def test_repr_with_datetime():
    moment = datetime(2024, 1, 2, 3, 4, 5)
    record = ExecutionRecord("source", "line", {"text": "x"}, moment)
    assert repr(record) == "ExecutionRecord[source.line@2024-01-02 03:04:05]"


def test_repr_with_microseconds():
    moment = datetime(2024, 1, 2, 3, 4, 5, 120000)
    record = ExecutionRecord("rid", "event", {}, moment)
    assert repr(record) == "ExecutionRecord[rid.event@2024-01-02 03:04:05.120000]"


def test_repr_with_float_timestamp_shows_local_datetime():
    moment = datetime(2021, 6, 7, 8, 9, 10)
    record = ExecutionRecord("a", "b", {}, moment.timestamp())
    assert repr(record) == "ExecutionRecord[a.b@2021-06-07 08:09:10]"

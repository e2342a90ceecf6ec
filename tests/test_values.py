"""Tests for routilux._values: the tagged JSON encoding of job data."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import typing
import uuid
from collections import OrderedDict
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routilux import register_serializable, registry
from routilux._values import decode_value, encode_payload, encode_value
from routilux.exceptions import SerializationError

# --------------------------------------------------------------------------- helpers


@attrs.define
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Reading:
    sensor: str
    values: tuple
    taken: datetime


class Pair(typing.NamedTuple):
    left: Any
    right: Any


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Plain:
    """A registered class that is not a record class (no attrs, dataclass, named tuple)."""


def double(value: int) -> int:
    return value * 2


@attrs.define
class UnregisteredPoint:
    x: int


@dataclasses.dataclass
class UnregisteredRecord:
    a: int


class UnregisteredPair(typing.NamedTuple):
    a: int


class UnregisteredColor(enum.Enum):
    BLUE = 1


def unregistered_function() -> None:
    """Never registered."""


# Unique names so that nothing here can collide with another test's registrations.
_SUFFIX = uuid.uuid4().hex
POINT = f"test_values.Point.{_SUFFIX}"
READING = f"test_values.Reading.{_SUFFIX}"
PAIR = f"test_values.Pair.{_SUFFIX}"
COLOR = f"test_values.Color.{_SUFFIX}"
PLAIN = f"test_values.Plain.{_SUFFIX}"
DOUBLE = f"test_values.double.{_SUFFIX}"


def _snapshot() -> tuple[dict[str, Any], dict[int, str]]:
    return dict(registry._by_name), dict(registry._names)


def _restore(saved: tuple[dict[str, Any], dict[int, str]]) -> None:
    with registry._lock:
        registry._by_name.clear()
        registry._by_name.update(saved[0])
        registry._names.clear()
        registry._names.update(saved[1])


@pytest.fixture(scope="module", autouse=True)
def _module_registrations():
    """Register the value classes of this module, and forget them afterwards."""
    saved = _snapshot()
    register_serializable(Point, name=POINT)
    register_serializable(Reading, name=READING)
    register_serializable(Pair, name=PAIR)
    register_serializable(Color, name=COLOR)
    register_serializable(Plain, name=PLAIN)
    register_serializable(double, name=DOUBLE)
    yield
    _restore(saved)


@pytest.fixture
def clean_registry():
    """Restore the registry after a test that registers things of its own."""
    saved = _snapshot()
    yield
    _restore(saved)


def roundtrip(value: Any) -> Any:
    """encode, write as strict JSON text, read back, decode."""
    text = json.dumps(encode_value(value), allow_nan=False)
    return decode_value(json.loads(text))


def typed(value: Any) -> Any:
    """A hashable description of ``value`` that includes the type of every part.

    Floats are described by ``repr`` so that nan equals nan and -0.0 differs from 0.0.
    """
    kind = type(value)
    if kind is float:
        return ("float", repr(value))
    if kind in (list, tuple):
        return (kind.__name__, tuple(typed(item) for item in value))
    if kind in (set, frozenset):
        return (kind.__name__, frozenset(typed(item) for item in value))
    if kind is dict:
        return ("dict", frozenset((typed(k), typed(v)) for k, v in value.items()))
    if kind in (datetime, time):
        return (kind.__name__, value.isoformat(), str(value.utcoffset()))
    if kind is timedelta:
        return ("timedelta", value.days, value.seconds, value.microseconds)
    return (kind.__name__, value)


def assert_same(decoded: Any, original: Any) -> None:
    assert typed(decoded) == typed(original)


# --------------------------------------------------------------------------- tagged values


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ((1, "a", None), "$tuple"),
        ((), "$tuple"),
        ({1, 2, 3}, "$set"),
        (set(), "$set"),
        (frozenset({"a", "b"}), "$frozenset"),
        (frozenset(), "$frozenset"),
        ({1: "a", 2: "b"}, "$dict"),
        ({(1, 2): "pair", (3,): "single"}, "$dict"),
        ({"$tuple": [1, 2]}, "$dict"),
        ({"$x": 1, "plain": 2}, "$dict"),
        (datetime(2024, 2, 29, 13, 45, 7, 123456), "$datetime"),
        (datetime(2024, 1, 1, 8, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))), "$datetime"),
        (datetime(2024, 1, 1, 8, 30, tzinfo=timezone.utc), "$datetime"),
        (date(1999, 12, 31), "$date"),
        (time(23, 59, 58, 999999), "$time"),
        (time(1, 2, 3, tzinfo=timezone(timedelta(hours=-3))), "$time"),
        (timedelta(days=3, seconds=17, microseconds=5), "$timedelta"),
        (timedelta(microseconds=1), "$timedelta"),
        (timedelta(days=-2, hours=4), "$timedelta"),
        (timedelta(0), "$timedelta"),
        (float("inf"), "$float"),
        (float("-inf"), "$float"),
        (b"\x00\xffbinary\n", "$bytes"),
        (b"", "$bytes"),
        (Decimal("1.50"), "$decimal"),
        (Decimal("-1E+7"), "$decimal"),
        (Decimal("0.1000000000000000000000000001"), "$decimal"),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "$uuid"),
    ],
    ids=repr,
)
def test_tagged_value_round_trips_with_type(value, tag):
    encoded = encode_value(value)
    assert isinstance(encoded, dict)
    assert list(encoded) == [tag]
    decoded = roundtrip(value)
    assert type(decoded) is type(value)
    assert decoded == value
    assert_same(decoded, value)


def test_nan_round_trips_as_a_float_nan():
    assert encode_value(float("nan")) == {"$float": "nan"}
    decoded = roundtrip(float("nan"))
    assert type(decoded) is float
    assert math.isnan(decoded)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_floats_inside_containers_are_strict_json(value):
    # allow_nan=False in roundtrip() refuses NaN/Infinity literals in the JSON text.
    data = {"a": [value, (value,)], "b": {1: value}}
    assert_same(roundtrip(data), data)


def test_tuple_stays_tuple_and_list_stays_list():
    value = [(1, [2, (3,)]), [4, 5]]
    decoded = roundtrip(value)
    assert type(decoded) is list
    assert type(decoded[0]) is tuple
    assert type(decoded[0][1]) is list
    assert type(decoded[0][1][1]) is tuple
    assert type(decoded[1]) is list
    assert decoded == value


def test_set_of_tuples_and_frozensets():
    value = {(1, 2), frozenset({3, 4}), "x", None}
    decoded = roundtrip(value)
    assert type(decoded) is set
    assert decoded == value
    assert_same(decoded, value)


def test_dict_with_mixed_keys_keeps_key_types():
    value = {1: "int", "1": "str", (1, "a"): "tuple", None: "none", 2.5: "float", False: "b"}
    decoded = roundtrip(value)
    assert decoded == value
    assert_same(decoded, value)
    assert (1, "a") in decoded
    assert "1" in decoded and 1 in decoded
    assert [type(k) for k in decoded] == [int, str, tuple, type(None), float, bool]


@pytest.mark.parametrize(
    "value",
    [
        {"$tuple": [1, 2]},
        {"$object": "x", "fields": {}},
        {"$enum": "x", "member": "RED"},
        {"$function": "builtins:eval"},
        {"$float": "nan"},
        {"$": 1},
        {"$dict": [[1, 2]]},
        {"normal": 1, "$set": [1]},
    ],
    ids=repr,
)
def test_dict_with_dollar_keys_comes_back_as_that_dict(value):
    encoded = encode_value(value)
    assert list(encoded) == ["$dict"]
    decoded = roundtrip(value)
    assert type(decoded) is dict
    assert decoded == value


def test_nested_mix_round_trips():
    value = {
        "ints": [1, -2, 10**40],
        "tuple": (1.5, "two", (3, (4,))),
        "set": {frozenset({1}), (2, 3)},
        "when": [datetime(2020, 5, 17, 1, 2, 3), date(2020, 5, 17), time(4, 5)],
        "duration": timedelta(hours=1, microseconds=7),
        "blob": b"abc",
        "money": Decimal("10.25"),
        "id": uuid.UUID(int=42),
        "keys": {(1, 2): {3: {"$deep": [None, True, False]}}},
        "floats": [0.0, -0.0, 1e308, float("inf")],
        "empty": [{}, [], (), set(), frozenset(), ""],
    }
    decoded = roundtrip(value)
    assert decoded == value
    assert_same(decoded, value)


def test_encode_value_shares_nothing_with_its_input():
    payload = {"text": "hello", "count": 3, "ratio": 0.5, "ok": True, "none": None}
    encoded = encode_value(payload)
    assert encoded == payload and encoded is not payload
    nested = {"inner": payload, "items": [payload]}
    encoded_nested = encode_value(nested)
    assert encoded_nested["inner"] is not payload
    assert encoded_nested["items"][0] is not payload
    payload["count"] = 4
    assert encoded["count"] == 3  # a snapshot: later changes do not show
    assert decode_value(encode_value(payload)) == payload


def test_encode_payload_returns_a_flat_json_dict_as_it_is():
    payload = {"text": "hello", "count": 3, "ratio": 0.5, "ok": True, "none": None}
    assert encode_payload(payload) is payload
    tricky = [{"$key": 1}, {1: "int key"}, {"x": (1, 2)}, {"x": [1]}, {"x": float("nan")}]
    for value in tricky:
        encoded = encode_payload(value)
        assert encoded is not value
        assert encoded == encode_value(value)


def test_plain_json_list_and_scalars_are_unchanged():
    assert encode_value([1, "a", None, True, 2.5]) == [1, "a", None, True, 2.5]
    for scalar in ["text", 0, -7, True, False, None, 1.25]:
        assert encode_value(scalar) is scalar
        assert decode_value(scalar) is scalar


def test_nested_json_dict_is_encoded_equal_and_copied():
    inner = {"a": 1}
    payload = {"items": [1, 2], "meta": inner}
    encoded = encode_value(payload)
    assert encoded == payload
    assert encoded["meta"] is not inner
    assert payload == {"items": [1, 2], "meta": {"a": 1}}


def test_plain_dict_with_non_finite_float_is_not_returned_as_is():
    payload = {"x": float("inf")}
    encoded = encode_value(payload)
    assert encoded is not payload
    assert encoded == {"x": {"$float": "inf"}}
    assert payload == {"x": float("inf")}  # the input is not modified


def test_subclasses_of_builtin_types_are_written_as_base_type():
    class MyStr(str):
        pass

    class MyInt(int):
        pass

    class MyFloat(float):
        pass

    class MyList(list):
        pass

    value = [MyStr("s"), MyInt(3), MyFloat(1.5), MyList([1]), OrderedDict(a=1), MyFloat("inf")]
    decoded = roundtrip(value)
    assert [type(v) for v in decoded] == [str, int, float, list, dict, float]
    assert decoded[:5] == ["s", 3, 1.5, [1], {"a": 1}]
    assert decoded[5] == float("inf")


# --------------------------------------------------------------------------- timedelta


def test_timedelta_is_written_as_days_seconds_microseconds():
    value = timedelta(days=-2, hours=4, microseconds=7)
    assert encode_value(value) == {"$timedelta": [-2, 14400, 7]}


@pytest.mark.parametrize(
    "value",
    [
        timedelta(days=100_000, microseconds=1),
        timedelta(days=999_999_999, microseconds=1),
        timedelta.max,
        timedelta.min,
        timedelta.resolution,
        -timedelta.resolution,
    ],
    ids=repr,
)
def test_extreme_timedeltas_round_trip_exactly(value):
    decoded = roundtrip(value)
    assert type(decoded) is timedelta
    assert decoded == value


# --------------------------------------------------------------------------- registered


def test_registered_attrs_class_round_trips():
    value = Point(1, 2)
    encoded = encode_value(value)
    assert encoded == {"$object": POINT, "fields": {"x": 1, "y": 2}}
    decoded = roundtrip(value)
    assert type(decoded) is Point
    assert decoded == value


def test_registered_dataclass_round_trips_with_tagged_fields():
    value = Reading("s1", (1.5, 2.5), datetime(2021, 3, 4, 5, 6, 7))
    decoded = roundtrip(value)
    assert type(decoded) is Reading
    assert decoded == value
    assert type(decoded.values) is tuple
    assert type(decoded.taken) is datetime


def test_registered_named_tuple_round_trips_as_object_not_tuple():
    value = Pair(left=(1, 2), right=Point(3, 4))
    encoded = encode_value(value)
    assert encoded["$object"] == PAIR
    assert set(encoded["fields"]) == {"left", "right"}
    decoded = roundtrip(value)
    assert type(decoded) is Pair
    assert decoded == value
    assert type(decoded.left) is tuple
    assert type(decoded.right) is Point


def test_registered_enum_member_round_trips_to_the_member():
    assert encode_value(Color.GREEN) == {"$enum": COLOR, "member": "GREEN"}
    assert roundtrip(Color.GREEN) is Color.GREEN
    assert roundtrip({"c": [Color.RED]}) == {"c": [Color.RED]}


def test_registered_function_round_trips_to_the_same_object():
    assert encode_value(double) == {"$function": DOUBLE}
    assert roundtrip(double) is double
    assert roundtrip({"f": (double,)})["f"][0] is double


def test_registered_lambda_round_trips(clean_registry):
    name = f"test_values.lambda.{uuid.uuid4().hex}"
    fn = register_serializable(lambda x: x + 1, name=name)
    decoded = roundtrip([fn])
    assert decoded[0] is fn


def test_records_in_sets_and_dict_keys(clean_registry):
    @attrs.frozen
    class Key:
        k: int

    register_serializable(Key, name=f"test_values.Key.{uuid.uuid4().hex}")
    value = {Key(1): {Key(2)}, Color.RED: frozenset({Key(3)})}
    decoded = roundtrip(value)
    assert decoded == value
    assert {type(k) for k in decoded} == {Key, Color}
    assert type(decoded[Key(1)]) is set
    assert type(decoded[Color.RED]) is frozenset


def test_registered_attrs_class_with_private_attribute_round_trips(clean_registry):
    @attrs.define
    class Private:
        _secret: int
        public: str = "p"

    name = f"test_values.Private.{uuid.uuid4().hex}"
    register_serializable(Private, name=name)
    # written under the __init__ argument name (the attrs alias), so cls(**fields) works
    assert encode_value(Private(5)) == {"$object": name, "fields": {"secret": 5, "public": "p"}}
    decoded = roundtrip(Private(5, "q"))
    assert type(decoded) is Private
    assert decoded == Private(5, "q")


def test_registered_attrs_class_with_explicit_alias_round_trips(clean_registry):
    @attrs.define
    class Aliased:
        value: int = attrs.field(alias="v")

    register_serializable(Aliased, name=f"test_values.Aliased.{uuid.uuid4().hex}")
    assert roundtrip(Aliased(v=3)) == Aliased(v=3)


def test_registered_attrs_class_with_init_false_field_round_trips(clean_registry):
    @attrs.define
    class WithDerived:
        base: int
        derived: int = attrs.field(init=False)

        def __attrs_post_init__(self):
            self.derived = self.base * 10

    name = f"test_values.WithDerived.{uuid.uuid4().hex}"
    register_serializable(WithDerived, name=name)
    assert encode_value(WithDerived(2)) == {"$object": name, "fields": {"base": 2}}
    decoded = roundtrip(WithDerived(2))
    assert decoded == WithDerived(2)
    assert decoded.derived == 20


def test_registered_dataclass_with_init_false_field_round_trips(clean_registry):
    @dataclasses.dataclass
    class Counter:
        start: int
        derived: int = dataclasses.field(init=False, default=0)

        def __post_init__(self):
            self.derived = self.start + 1

    name = f"test_values.Counter.{uuid.uuid4().hex}"
    register_serializable(Counter, name=name)
    assert encode_value(Counter(5)) == {"$object": name, "fields": {"start": 5}}
    decoded = roundtrip(Counter(5))
    assert type(decoded) is Counter
    assert decoded == Counter(5)
    assert decoded.derived == 6


# --------------------------------------------------------------------------- encode errors


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (object(), "$"),
        (UnregisteredPoint(1), "$"),
        (UnregisteredRecord(1), "$"),
        (UnregisteredPair(1), "$"),
        (UnregisteredColor.BLUE, "$"),
        (unregistered_function, "$"),
        (lambda: None, "$"),
        (len, "$"),
        (Point, "$"),  # a class, even a registered one, is not data
        (UnregisteredPoint, "$"),
        (Plain(), "$"),  # registered, but not an attrs class, dataclass or named tuple
        (bytearray, "$"),
        ({"a": [1, {"b": object()}]}, "$.a[1].b"),
        ({"a": {"b": {"c": (1, 2, UnregisteredColor.BLUE)}}}, "$.a.b.c[2]"),
        ([0, 1, (2, unregistered_function)], "$[2][1]"),
        ({1: object()}, "$[1]"),
        ({"k": 1, "$k": [object()]}, "$['$k'][0]"),
        ({object(): 1}, "$.<key>"),
        ({"s": {object()}}, "$.s[0]"),
        ({"s": frozenset({UnregisteredPair(1)})}, "$.s[0]"),
        (Point(1, object()), "$.y"),
        ([Reading("s", (1, object()), datetime(2020, 1, 1))], "$[0].values[1]"),
        (Pair(1, [2, Plain()]), "$.right[1]"),
    ],
    ids=repr,
)
def test_unstorable_values_raise_serialization_error_with_path(value, path):
    with pytest.raises(SerializationError) as info:
        encode_value(value)
    assert info.value.path == path
    assert f"(at {path})" in str(info.value)


def test_encode_error_path_starts_at_given_path():
    with pytest.raises(SerializationError) as info:
        encode_value({"a": object()}, "$.payload")
    assert info.value.path == "$.payload.a"


def test_encode_error_messages_name_the_culprit():
    with pytest.raises(SerializationError, match="UnregisteredColor"):
        encode_value(UnregisteredColor.BLUE)
    with pytest.raises(SerializationError, match="unregistered_function"):
        encode_value(unregistered_function)
    with pytest.raises(SerializationError, match="UnregisteredPoint"):
        encode_value(UnregisteredPoint(1))
    with pytest.raises(SerializationError, match="class Point"):
        encode_value(Point)


def test_unregistering_by_replacement_makes_a_value_unstorable(clean_registry):
    @dataclasses.dataclass
    class Temporary:
        a: int

    name = f"test_values.Temporary.{uuid.uuid4().hex}"
    register_serializable(Temporary, name=name)
    assert encode_value(Temporary(1)) == {"$object": name, "fields": {"a": 1}}
    register_serializable(Point, name=name)  # the name now belongs to another class
    with pytest.raises(SerializationError):
        encode_value(Temporary(1))


# --------------------------------------------------------------------------- decode errors


@pytest.mark.parametrize(
    "data",
    [
        {"$nope": 1},
        {"$": 1},
        {"$Tuple": [1]},
        {"$tuple": "abc"},
        {"$tuple": {"a": 1}},
        {"$tuple": None},
        {"$set": 5},
        {"$set": [[1, 2]]},
        {"$set": [{"a": 1}]},
        {"$frozenset": "ab"},
        {"$dict": {"a": 1}},
        {"$dict": [[1]]},
        {"$dict": [[1, 2, 3]]},
        {"$dict": [1, 2]},
        {"$dict": [[[1], 2]]},
        {"$dict": [[{"a": 1}, 2]]},
        {"$dict": [[{"$set": [1]}, 2]]},
        {"$bytes": "not base64!"},
        {"$bytes": "abc"},
        {"$bytes": "é"},
        {"$bytes": 12},
        {"$datetime": "yesterday"},
        {"$datetime": 1700000000},
        {"$date": "2021-02-30"},
        {"$date": "2021/01/01"},
        {"$time": "25:00"},
        {"$timedelta": "10"},
        {"$timedelta": True},
        {"$timedelta": None},
        {"$timedelta": 1e300},
        {"$timedelta": float("nan")},
        {"$timedelta": 10},  # seconds alone are not the [days, seconds, microseconds] form
        {"$timedelta": 1.5},
        {"$timedelta": []},
        {"$timedelta": [1, 2]},
        {"$timedelta": [1, 2, 3, 4]},
        {"$timedelta": [1, 2, 3.0]},
        {"$timedelta": [True, 0, 0]},
        {"$timedelta": ["1", 0, 0]},
        {"$timedelta": [None, 0, 0]},
        {"$timedelta": [10**10, 0, 0]},
        {"$timedelta": [0, 0, 10**30]},
        {"$float": "1.5"},
        {"$float": "NaN"},
        {"$float": "Infinity"},
        {"$float": "banana"},
        {"$float": 1.5},
        {"$decimal": "one"},
        {"$decimal": 1.5},
        {"$uuid": "not-a-uuid"},
        {"$uuid": 5},
        {"$function": "no.such:function"},
        {"$function": 5},
        {"$function": None},
        {"$object": "no.such:Class", "fields": {}},
        {"$object": "no.such:Class"},
        {"$object": 5, "fields": {}},
        {"$object": POINT},
        {"$object": POINT, "fields": []},
        {"$object": POINT, "fields": {"x": 1}},
        {"$object": POINT, "fields": {"x": 1, "y": 2, "z": 3}},
        {"$object": POINT, "fields": {"x": 1, "y": 2}, "extra": 1},
        {"$object": PLAIN, "fields": {}},  # registered, but not a record class
        {"$object": DOUBLE, "fields": {}},  # a function
        {"$object": COLOR, "fields": {}},  # an Enum
        {"$enum": COLOR, "member": "PURPLE"},
        {"$enum": COLOR, "member": "red"},
        {"$enum": COLOR, "member": 1},
        {"$enum": COLOR, "member": "__class__"},
        {"$enum": COLOR},
        {"$enum": COLOR, "member": "RED", "x": 1},
        {"$enum": POINT, "member": "x"},
        {"$enum": "no.such:Enum", "member": "RED"},
        {"$enum": None, "member": "RED"},
        {"$function": POINT},  # a class is not a function
    ],
    ids=repr,
)
def test_malformed_tagged_data_raises_serialization_error(data):
    with pytest.raises(SerializationError) as info:
        decode_value(data)
    assert info.value.path == "$"


def test_decode_error_path_names_where_the_value_is():
    with pytest.raises(SerializationError) as info:
        decode_value({"a": [1, {"b": {"$tuple": 3}}]})
    assert info.value.path == "$.a[1].b"
    with pytest.raises(SerializationError) as info:
        decode_value({"$tuple": [0, {"$float": "x"}]})
    assert info.value.path == "$[1]"
    with pytest.raises(SerializationError) as info:
        decode_value({"a": {"$bytes": "!"}}, "$.state")
    assert info.value.path == "$.state.a"


@pytest.mark.parametrize("data", [object(), (1, 2), {1, 2}, b"x", Decimal(1)], ids=repr)
def test_decode_rejects_non_json_types(data):
    with pytest.raises(SerializationError):
        decode_value(data)


@pytest.mark.parametrize(
    "data",
    [{1: "x"}, {1: "a", 2: "b"}, {"a": 1, (1, 2): "b"}, {"a": {None: 1}}, [{2.5: 1}]],
    ids=repr,
)
def test_decode_rejects_non_string_keys_with_serialization_error(data):
    with pytest.raises(SerializationError):
        decode_value(data)


def test_decode_does_not_modify_its_input():
    data = {"a": {"$tuple": [1, {"$set": [2]}]}, "b": [{"$bytes": "eA=="}]}
    snapshot = json.dumps(data)
    decode_value(data)
    assert json.dumps(data) == snapshot


# --------------------------------------------------------------------------- properties

_TAGS = [
    "$tuple",
    "$set",
    "$frozenset",
    "$dict",
    "$datetime",
    "$date",
    "$time",
    "$timedelta",
    "$float",
    "$bytes",
    "$decimal",
    "$uuid",
    "$object",
    "$enum",
    "$function",
    "$",
    "fields",
    "member",
]

_dollar_text = st.one_of(st.sampled_from(_TAGS), st.text(max_size=5).map(lambda s: "$" + s))
_texts = st.one_of(st.text(max_size=10), _dollar_text)
_floats = st.floats(allow_nan=True, allow_infinity=True)
_datetimes = st.one_of(
    st.datetimes(),
    st.datetimes(
        # Whole-second offsets: CPython 3.11's fromisoformat reads "+00:00:00.000001" as
        # +00:00, a standard library quirk outside routilux (see the report).
        timezones=st.integers(-23 * 3600, 23 * 3600).map(
            lambda seconds: timezone(timedelta(seconds=seconds))
        )
    ),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    _floats,
    _texts,
    _datetimes,
    st.timedeltas(),
    st.binary(max_size=10),
)
_hashables = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.tuples(inner, inner),
        st.lists(inner, max_size=3).map(tuple),
        st.frozensets(inner, max_size=3),
    ),
    max_leaves=6,
)
_keys = st.one_of(_texts, st.integers(), st.lists(_hashables, max_size=2).map(tuple))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.sets(_hashables, max_size=4),
        st.frozensets(_hashables, max_size=4),
        st.dictionaries(_keys, inner, max_size=4),
        st.dictionaries(_texts, inner, max_size=4),
    ),
    max_leaves=20,
)


def _has_nan(value: Any) -> bool:
    if type(value) is float:
        return math.isnan(value)
    if type(value) is dict:
        return any(_has_nan(k) or _has_nan(v) for k, v in value.items())
    if type(value) in (list, tuple, set, frozenset):
        return any(_has_nan(item) for item in value)
    return False


@settings(max_examples=300, deadline=None)
@given(_values)
def test_json_round_trip_property(value):
    encoded = encode_value(value)
    text = json.dumps(encoded, allow_nan=False)  # really JSON: no NaN/Infinity literals
    decoded = decode_value(json.loads(text))
    assert_same(decoded, value)
    if not _has_nan(value):
        assert decoded == value


_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), _floats, _texts),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(_texts, inner, max_size=4),
        st.dictionaries(_dollar_text, inner, min_size=1, max_size=1),
        st.fixed_dictionaries(
            {"$object": st.one_of(st.sampled_from([POINT, READING, PAIR, PLAIN]), inner)},
            optional={"fields": inner},
        ),
        st.fixed_dictionaries(
            {"$enum": st.one_of(st.sampled_from([COLOR, POINT]), inner)},
            optional={"member": st.one_of(st.sampled_from(["RED", "GREEN"]), inner)},
        ),
        st.builds(lambda k, v: {k: [v]}, st.sampled_from(_TAGS), inner),
        st.builds(lambda k, v: {k: [[v, v]]}, st.just("$dict"), inner),
        st.builds(
            lambda k, s: {k: s},
            st.sampled_from(["$datetime", "$date", "$time", "$bytes", "$decimal", "$uuid"]),
            st.text(max_size=30),
        ),
        st.builds(
            lambda parts: {"$timedelta": parts},
            st.lists(st.one_of(st.integers(), inner), max_size=4),
        ),
    ),
    max_leaves=15,
)


@settings(max_examples=500, deadline=None)
@given(_json)
def test_decode_arbitrary_json_returns_or_raises_serialization_error(data):
    try:
        decode_value(data)
    except SerializationError as exc:
        assert exc.path is not None and exc.path.startswith("$")


def test_equal_sets_are_written_identically_however_they_were_built() -> None:
    # -1 and -2 have the same hash, so these equal frozensets iterate (and print) in
    # different orders; ordering a set's members by Python's < or by repr would make
    # the two documents differ.
    first = {(frozenset([-1, -2]), "x"), (frozenset([-15]), "y"), "a"}
    second = {(frozenset([-2, -1]), "x"), (frozenset([-15]), "y"), "a"}
    assert first == second
    assert json.dumps(encode_value(first, "$")) == json.dumps(encode_value(second, "$"))
    again = encode_value(decode_value(encode_value(second, "$"), "$"), "$")
    assert json.dumps(again) == json.dumps(encode_value(first, "$"))


def test_numbers_and_strings_in_a_set_are_written_in_their_natural_order() -> None:
    assert encode_value({10, 9, 2.5}, "$") == {"$set": [2.5, 9, 10]}
    assert encode_value(frozenset({"b", "a"}), "$") == {"$frozenset": ["a", "b"]}


# --------------------------------------------------------------------------- limits (issue 8)


def nested_lists(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def nested_tuples(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = (value,)
    return value


@pytest.mark.parametrize("build", [nested_lists, nested_tuples], ids=["lists", "tuples"])
def test_nesting_limit_is_the_same_when_writing_and_reading(build):
    """S: data nested MAX_DEPTH levels deep is written and read back; one level more
    is refused both ways with SerializationError (not a RecursionError, and not at a
    depth that depends on how deep the caller's stack happens to be)."""
    from routilux._values import MAX_DEPTH

    deepest = build(MAX_DEPTH)
    assert roundtrip(deepest) == deepest
    with pytest.raises(SerializationError, match=f"more than {MAX_DEPTH} levels deep"):
        encode_value(build(MAX_DEPTH + 1))
    too_deep = nested_lists(MAX_DEPTH + 1)
    with pytest.raises(SerializationError, match=f"more than {MAX_DEPTH} levels deep"):
        decode_value(too_deep)
    tagged: Any = 0
    for _ in range(MAX_DEPTH + 1):
        tagged = {"$tuple": [tagged]}
    with pytest.raises(SerializationError, match=f"more than {MAX_DEPTH} levels deep"):
        decode_value(tagged)


def test_data_containing_itself_is_refused():
    """S: a list that contains itself is refused with SerializationError."""
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(SerializationError, match="containing itself"):
        encode_value({"loop": loop})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=repr)
def test_decode_refuses_raw_non_finite_floats(value):
    """S: stored data holds non-finite numbers only tagged; a raw one (from a dict that
    never was JSON) is refused, so what is loaded can always be saved as JSON again."""
    with pytest.raises(SerializationError, match="must be finite") as info:
        decode_value({"a": [1, value]})
    assert info.value.path == "$.a[1]"


def test_huge_integers_are_refused_both_ways_with_their_path():
    """S: an integer with more digits than int/str conversion allows (4300 by default)
    is a SerializationError naming where it is, writing or reading; one just below
    the limit round-trips."""
    big = 10**5000
    with pytest.raises(SerializationError, match="too many digits") as info:
        encode_value({"x": [1, big]})
    assert info.value.path == "$.x[1]"
    with pytest.raises(SerializationError, match="too many digits") as info:
        encode_payload({"x": big})
    assert info.value.path == "$.x"
    with pytest.raises(SerializationError, match="too many digits") as info:
        decode_value({"x": {"$tuple": [big]}})
    assert info.value.path == "$.x[0]"
    fits = 10**4000
    assert roundtrip({"x": fits}) == {"x": fits}


@dataclasses.dataclass
class Temperature:
    celsius: float

    def __post_init__(self) -> None:
        assert self.celsius > -273.15, "below absolute zero"


@attrs.define
class Positive:
    value: int = attrs.field(validator=attrs.validators.gt(0))


class BadHash:
    def __init__(self, *args: Any) -> None:
        pass

    def __hash__(self) -> int:
        raise RuntimeError("no hashing today")


@dataclasses.dataclass(frozen=True)
class Hashless:
    tag: Any

    def __hash__(self) -> int:
        raise RuntimeError("no hashing today")


@pytest.mark.parametrize(
    ("cls", "fields", "original"),
    [
        (Temperature, {"celsius": -500}, AssertionError),
        (Positive, {"value": -1}, ValueError),
    ],
)
def test_constructor_errors_become_serialization_errors_with_the_cause(
    clean_registry, cls, fields, original
):
    """S: whatever a registered class's constructor raises for stored fields (an
    assert in __post_init__, an attrs validator) becomes a SerializationError naming
    the class and the path, with the original exception chained."""
    name = f"test_values.{cls.__name__}.{uuid.uuid4().hex}"
    register_serializable(cls, name=name)
    with pytest.raises(SerializationError) as info:
        decode_value({"reading": [{"$object": name, "fields": fields}]})
    assert info.value.path == "$.reading[0]"
    assert f"cannot rebuild {name} ({cls.__qualname__})" in str(info.value)
    assert type(info.value.__cause__) is original


def test_a_hash_that_raises_while_rebuilding_a_set_is_a_serialization_error(clean_registry):
    """S: a set or dict key whose __hash__ raises is reported as bad stored data."""
    name = f"test_values.Hashless.{uuid.uuid4().hex}"
    register_serializable(Hashless, name=name)
    item = {"$object": name, "fields": {"tag": 1}}
    for data in ({"$set": [item]}, {"$frozenset": [item]}, {"$dict": [[item, 1]]}):
        with pytest.raises(SerializationError, match="no hashing today") as info:
            decode_value(data)
        assert info.value.path == "$"
        assert isinstance(info.value.__cause__, RuntimeError)


def test_describe_never_raises():
    """S: error messages describe values that cannot be printed."""
    from routilux._values import describe

    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert describe(10**5000).startswith("<an integer of ")
    assert describe(Unprintable()) == "<Unprintable object>"
    assert describe("x" * 500).endswith("...")
    assert len(describe("x" * 500)) == 60

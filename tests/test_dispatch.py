"""Tests for routilux._dispatch.build_invoker: how a handler's signature decides its input."""

import functools
import inspect

import pytest

from routilux._dispatch import build_invoker


class Recorder:
    """Handlers that record how they were called."""

    def __init__(self):
        self.calls = []

    def method_one(self, value):
        self.calls.append(("one", value))
        return "one"

    def method_two(self, a, b=None):
        self.calls.append(("two", a, b))
        return "two"

    def method_data(self, data):
        self.calls.append(("data", data))
        return "data"

    def method_none(self):
        self.calls.append(("none",))
        return "none"

    def method_kwargs(self, **kwargs):
        self.calls.append(("kwargs", kwargs))
        return "kwargs"

    @staticmethod
    def static_one(value):
        return ("static", value)

    @classmethod
    def class_one(cls, value):
        return (cls.__name__, value)


# -- rule 1: **kwargs ------------------------------------------------------------------


def test_kwargs_handler_gets_all_keys():
    calls = []

    def handler(**kwargs):
        calls.append(kwargs)
        return "ok"

    data = {"a": 1, "b": 2, "data": 3}
    assert build_invoker(handler)(data) == "ok"
    assert calls == [{"a": 1, "b": 2, "data": 3}]
    assert calls[0] is not data


def test_kwargs_handler_with_named_params_gets_them_and_the_rest():
    calls = []

    def handler(a, b=0, **rest):
        calls.append((a, b, rest))

    build_invoker(handler)({"a": 1, "c": 3})
    assert calls == [(1, 0, {"c": 3})]


def test_kwargs_rule_wins_over_single_data_param():
    calls = []

    def handler(data=None, **kwargs):
        calls.append((data, kwargs))

    build_invoker(handler)({"data": 1, "x": 2})
    build_invoker(handler)({"x": 2})
    assert calls == [(1, {"x": 2}), (None, {"x": 2})]


def test_kwargs_handler_with_empty_data():
    calls = []
    build_invoker(lambda **kw: calls.append(kw))({})
    assert calls == [{}]


# -- rule 2: one parameter named data ---------------------------------------------------


def test_single_data_param_gets_a_copy_of_the_whole_dict():
    received = []

    def handler(data):
        received.append(data)
        data["mutated"] = True
        data["a"] = "changed"
        return len(data)

    original = {"a": 1, "data": "inner"}
    result = build_invoker(handler)(original)
    assert received[0] is not original
    assert received[0] == {"a": "changed", "data": "inner", "mutated": True}
    assert original == {"a": 1, "data": "inner"}  # unchanged
    assert result == 3


def test_single_data_param_gets_whole_dict_even_with_data_key_absent():
    received = []
    build_invoker(lambda data: received.append(data))({"x": 1})
    assert received == [{"x": 1}]


def test_single_data_param_copy_is_shallow():
    received = []
    inner = [1]
    build_invoker(lambda data: received.append(data))({"l": inner})
    assert received[0]["l"] is inner


# -- rule 3: one parameter with another name --------------------------------------------


def test_single_other_param_gets_value_when_key_exists():
    received = []
    value = object()

    def handler(text):
        received.append(text)
        return "r"

    assert build_invoker(handler)({"text": value, "other": 2}) == "r"
    assert received == [value]
    assert received[0] is value


def test_single_other_param_gets_copy_of_dict_when_key_missing():
    received = []

    def handler(text):
        received.append(text)
        text["x"] = "mutated"

    original = {"a": 1, "b": 2}
    build_invoker(handler)(original)
    assert received == [{"a": 1, "b": 2, "x": "mutated"}]
    assert received[0] is not original
    assert original == {"a": 1, "b": 2}


def test_single_other_param_with_falsy_value():
    received = []
    build_invoker(lambda text: received.append(text))({"text": None})
    build_invoker(lambda text: received.append(text))({"text": 0})
    assert received == [None, 0]


def test_single_param_with_default_and_missing_key_gets_dict():
    """M: other keys still give the whole dict (0.9); an empty delivery keeps the
    declared default."""
    received = []

    def handler(value=42):
        received.append(value)

    build_invoker(handler)({"other": 1})
    build_invoker(handler)({})
    assert received == [{"other": 1}, 42]


def test_an_empty_delivery_keeps_the_defaults_of_several_parameters():
    """M: with nothing delivered, parameters with defaults keep them."""
    received = []

    def handler(a=1, b=2):
        received.append((a, b))

    def positional(a=1, /, b=2):
        received.append((a, b))

    def required_first(a, b=2):
        received.append((a, b))

    build_invoker(handler)({})
    build_invoker(positional)({})
    build_invoker(required_first)({})  # 0.9: the first parameter gets the dict
    build_invoker(handler)({"c": 3})  # no key matches: the dict, as in 0.9
    assert received == [(1, 2), (1, 2), ({}, 2), ({"c": 3}, 2)]


def test_single_var_positional_param_is_rule_3_with_name_args():
    received = []

    def handler(*args):
        received.append(args)

    build_invoker(handler)({"args": 5})
    build_invoker(handler)({"x": 1})
    assert received == [(5,), ({"x": 1},)]


def test_builtin_with_one_positional_only_param():
    # len has the signature (obj, /): "obj" missing -> len(copy of dict)
    assert build_invoker(len)({"a": 1, "b": 2, "c": 3}) == 3
    assert build_invoker(len)({"obj": "abcd", "x": 1}) == 4


# -- rule 4: two or more parameters -----------------------------------------------------


def test_two_params_get_only_matching_keys_as_keywords():
    calls = []

    def handler(a, b=None, c="default"):
        calls.append((a, b, c))
        return a

    invoker = build_invoker(handler)
    assert invoker({"a": 1, "b": 2, "extra": 3}) == 1
    assert invoker({"a": 4, "zzz": 0}) == 4
    assert calls == [(1, 2, "default"), (4, None, "default")]


def test_two_params_extra_keys_dropped_would_otherwise_raise():
    # a handler without **kwargs would raise TypeError if extra keys were passed
    calls = []

    def handler(a, b):
        calls.append((a, b))

    build_invoker(handler)({"a": 1, "b": 2, "c": 3, "d": 4})
    assert calls == [(1, 2)]


def test_two_params_none_matching_gets_dict_positionally():
    calls = []

    def handler(a, b=None):
        calls.append((a, b))
        a["mutated"] = True

    original = {"x": 1, "y": 2}
    build_invoker(handler)(original)
    assert calls == [({"x": 1, "y": 2, "mutated": True}, None)]
    assert calls[0][0] is not original
    assert original == {"x": 1, "y": 2}


def test_two_params_none_matching_with_empty_data():
    calls = []
    build_invoker(lambda a, b=None: calls.append((a, b)))({})
    assert calls == [({}, None)]


def test_two_params_including_data_use_keywords():
    calls = []

    def handler(data, other=None):
        calls.append((data, other))

    build_invoker(handler)({"data": 1, "other": 2, "x": 3})
    assert calls == [(1, 2)]


def test_keyword_only_params_are_passed_as_keywords():
    calls = []

    def handler(a, *, b, c=3):
        calls.append((a, b, c))

    build_invoker(handler)({"a": 1, "b": 2, "z": 0})
    assert calls == [(1, 2, 3)]


def test_two_params_missing_required_key_raises_type_error():
    def handler(a, b):
        return (a, b)

    with pytest.raises(TypeError):
        build_invoker(handler)({"a": 1})


# -- zero parameters --------------------------------------------------------------------


def test_zero_param_handler_called_with_no_arguments():
    calls = []

    def handler():
        calls.append("called")
        return 7

    invoker = build_invoker(handler)
    assert invoker({"a": 1}) == 7
    assert invoker({}) == 7
    assert calls == ["called", "called"]


# -- bound methods and other callables --------------------------------------------------


def test_bound_methods_do_not_count_self():
    rec = Recorder()
    assert build_invoker(rec.method_one)({"value": 5, "x": 1}) == "one"
    assert build_invoker(rec.method_one)({"x": 1}) == "one"
    assert build_invoker(rec.method_two)({"a": 1, "c": 3}) == "two"
    assert build_invoker(rec.method_data)({"q": 1}) == "data"
    assert build_invoker(rec.method_none)({"q": 1}) == "none"
    assert build_invoker(rec.method_kwargs)({"q": 1}) == "kwargs"
    assert rec.calls == [
        ("one", 5),
        ("one", {"x": 1}),
        ("two", 1, None),
        ("data", {"q": 1}),
        ("none",),
        ("kwargs", {"q": 1}),
    ]


def test_static_and_class_methods():
    assert build_invoker(Recorder.static_one)({"value": 1}) == ("static", 1)
    assert build_invoker(Recorder.class_one)({"value": 2}) == ("Recorder", 2)
    assert build_invoker(Recorder().class_one)({"v": 3}) == ("Recorder", {"v": 3})


def test_callable_object_uses_call_signature():
    class Handler:
        def __call__(self, item):
            return ("called", item)

    assert build_invoker(Handler())({"item": 9}) == ("called", 9)


def test_partial_uses_remaining_signature():
    def handler(prefix, value):
        return f"{prefix}{value}"

    invoker = build_invoker(functools.partial(handler, "p-"))
    assert invoker({"value": 1, "other": 2}) == "p-1"


# -- None, non-callables, uninspectable callables ---------------------------------------


def test_none_handler_does_nothing():
    invoker = build_invoker(None)
    assert invoker({"a": 1}) is None
    assert invoker({}) is None


@pytest.mark.parametrize("bad", [42, "handler", {"a": 1}, [len]])
def test_non_callable_raises_type_error(bad):
    with pytest.raises(TypeError, match="callable"):
        build_invoker(bad)


def test_builtin_without_signature_is_called_with_keywords():
    try:
        inspect.signature(dict)
    except ValueError:
        pass
    else:  # pragma: no cover - depends on the Python version
        pytest.skip("dict has an introspectable signature on this Python")
    data = {"a": 1, "b": 2}
    result = build_invoker(dict)(data)
    assert result == {"a": 1, "b": 2}
    assert result is not data


def test_bound_builtin_without_signature_is_called_with_keywords():
    fmt = "{a}-{b}".format
    try:
        inspect.signature(fmt)
    except ValueError:
        pass
    else:  # pragma: no cover - depends on the Python version
        pytest.skip("str.format has an introspectable signature on this Python")
    assert build_invoker(fmt)({"a": 1, "b": 2}) == "1-2"


def test_callable_with_broken_signature_is_called_with_keywords():
    class Odd:
        __signature__ = "not a signature"  # makes inspect.signature raise TypeError

        def __call__(self, *args, **kwargs):
            return (args, kwargs)

    with pytest.raises(TypeError):
        inspect.signature(Odd())
    assert build_invoker(Odd())({"a": 1, "b": 2}) == ((), {"a": 1, "b": 2})


# -- return values and exceptions -------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "data"),
    [
        (lambda **kw: kw.get("a"), {"a": "R"}),
        (lambda data: data["a"], {"a": "R"}),
        (lambda a: a, {"a": "R"}),
        (lambda a, b=None: a, {"a": "R"}),
        (lambda: "R", {"a": 1}),
    ],
    ids=["kwargs", "data", "single", "keywords", "none"],
)
def test_return_value_is_passed_back(handler, data):
    assert build_invoker(handler)(data) == "R"


def test_handler_exception_propagates():
    def handler(a):
        raise LookupError(a)

    with pytest.raises(LookupError, match="7"):
        build_invoker(handler)({"a": 7})


def test_signature_inspected_once_at_build_time(monkeypatch):
    def handler(a, b=None):
        return (a, b)

    invoker = build_invoker(handler)

    def fail(*args, **kwargs):
        raise AssertionError("inspect.signature called on invoke")

    monkeypatch.setattr(inspect, "signature", fail)
    assert invoker({"a": 1, "b": 2}) == (1, 2)
    assert invoker({"a": 3}) == (3, None)


def test_single_keyword_only_param_gets_value():
    def handler(*, text):
        return text

    assert build_invoker(handler)({"text": "hello"}) == "hello"


def test_positional_only_parameters_are_passed_in_order() -> None:
    seen = []

    def handler(a, b, /, c=None):
        seen.append((a, b, c))

    invoke = build_invoker(handler)
    invoke({"b": 2, "a": 1, "c": 3})
    invoke({"a": 1, "b": 2})
    assert seen == [(1, 2, 3), (1, 2, None)]


def test_keyword_only_parameter_with_default_and_missing_key() -> None:
    def handler(*, text="default"):
        return text

    assert build_invoker(handler)({"other": 1}) == "default"
    assert build_invoker(handler)({"text": "given"}) == "given"

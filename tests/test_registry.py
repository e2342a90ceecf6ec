"""Tests for routilux.registry: names for the classes and functions documents refer to."""

from __future__ import annotations

import functools
import sys
import types
import uuid

import pytest

import routilux
from routilux import Routine, registry
from routilux.exceptions import SerializationError
from routilux.flow import Flow
from routilux.registry import (
    name_of,
    reference_to_class,
    reference_to_function,
    register_serializable,
    registered,
    resolve_class,
    resolve_function,
)


@pytest.fixture(autouse=True)
def clean_registry():
    """Every test here may register things: put the registry back as it was."""
    by_name, names = dict(registry._by_name), dict(registry._names)
    yield
    with registry._lock:
        registry._by_name.clear()
        registry._by_name.update(by_name)
        registry._names.clear()
        registry._names.update(names)


def unique(prefix: str = "test_registry") -> str:
    return f"{prefix}.{uuid.uuid4().hex}"


class Outer:
    class Inner:
        class Deepest:
            pass

    def method(self) -> None:
        pass


class ModuleLevel:
    pass


class Shadowed:
    pass


class MyRoutine(Routine):
    pass


def module_function() -> int:
    return 1


def make_local_class() -> type:
    class Local:
        pass

    return Local


def make_local_function():
    def local():
        return None

    return local


@pytest.fixture
def fake_module():
    """A module object in sys.modules under a unique name, removed afterwards."""
    name = f"routilux_test_fake_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    yield module
    sys.modules.pop(name, None)


# --------------------------------------------------------------------------- register


def test_plain_decorator_registers_under_default_name_and_returns_object():
    class Thing:
        pass

    assert register_serializable(Thing) is Thing
    function = "test_plain_decorator_registers_under_default_name_and_returns_object"
    expected = f"{__name__}:{function}.<locals>.Thing"
    assert registered(expected) is Thing
    assert name_of(Thing) == expected


def test_decorator_syntax_without_arguments():
    @register_serializable
    def decorated(x):
        return x * 3

    assert decorated(2) == 6  # still the function itself
    name = name_of(decorated)
    assert name is not None
    assert name.endswith(":test_decorator_syntax_without_arguments.<locals>.decorated")
    assert registered(name) is decorated


def test_decorator_with_name():
    name = unique()

    @register_serializable(name=name)
    class Named:
        value = 7

    assert Named.value == 7
    assert isinstance(Named, type)
    assert registered(name) is Named
    assert name_of(Named) == name


def test_called_directly_with_name():
    name = unique()

    def f():
        return "f"

    assert register_serializable(f, name=name) is f
    assert registered(name) is f
    assert name_of(f) == name
    assert f() == "f"


def test_decorator_factory_with_no_arguments():
    decorator = register_serializable()
    assert callable(decorator)

    class Thing:
        pass

    assert decorator(Thing) is Thing
    assert name_of(Thing) == registry.default_name(Thing)


def test_default_name_is_module_and_qualified_name():
    namespace: dict = {"__name__": "some.package.module"}
    exec("def fn():\n    pass\nclass Cls:\n    class Sub:\n        pass\n", namespace)
    fn, cls = namespace["fn"], namespace["Cls"]
    assert registry.default_name(fn) == "some.package.module:fn"
    assert registry.default_name(cls.Sub) == "some.package.module:Cls.Sub"
    register_serializable(fn)
    register_serializable(cls.Sub)
    assert registered("some.package.module:fn") is fn
    assert registered("some.package.module:Cls.Sub") is cls.Sub
    assert name_of(cls.Sub) == "some.package.module:Cls.Sub"


def test_default_name_of_nested_class_in_this_module():
    register_serializable(Outer.Inner.Deepest)
    assert name_of(Outer.Inner.Deepest) == f"{__name__}:Outer.Inner.Deepest"


def test_reregistering_a_name_replaces_the_old_object():
    name = unique()

    class First:
        pass

    class Second:
        pass

    register_serializable(First, name=name)
    register_serializable(Second, name=name)
    assert registered(name) is Second
    assert name_of(Second) == name
    assert name_of(First) is None


def test_reregistering_the_same_object_under_the_same_name_keeps_it():
    name = unique()

    def f():
        pass

    register_serializable(f, name=name)
    register_serializable(f, name=name)
    assert registered(name) is f
    assert name_of(f) == name


def test_registering_an_object_under_a_new_name_moves_name_of():
    old, new = unique(), unique()

    def f():
        pass

    register_serializable(f, name=old)
    register_serializable(f, name=new)
    assert name_of(f) == new
    assert registered(new) is f


def test_reusing_an_old_name_keeps_the_new_name_of_a_moved_object():
    old, new = unique(), unique()

    class Moved:
        pass

    class Other:
        pass

    register_serializable(Moved, name=old)
    register_serializable(Moved, name=new)  # e.g. the class was renamed
    register_serializable(Other, name=old)  # the old name is reused
    assert registered(new) is Moved
    assert name_of(Moved) == new


@pytest.mark.parametrize(
    "obj",
    [42, "text", 3.5, [1], {"a": 1}, object(), functools.partial(print, "x")],
    ids=repr,
)
def test_registering_a_non_class_non_function_raises_type_error(obj):
    before = dict(registry._by_name)
    with pytest.raises(TypeError, match="class or a function"):
        register_serializable(obj)
    with pytest.raises(TypeError):
        register_serializable(obj, name=unique())
    with pytest.raises(TypeError):
        register_serializable(name=unique())(obj)
    assert registry._by_name == before


def test_registered_returns_none_for_unknown_names():
    assert registered(unique()) is None


def test_name_of_is_none_for_unregistered_objects():
    class Never:
        pass

    assert name_of(Never) is None
    assert name_of(lambda: None) is None
    assert name_of(42) is None


# --------------------------------------------------------------------------- resolve_class


def test_resolve_class_finds_imported_classes():
    assert resolve_class("routilux.flow:Flow", object, "$.x") is Flow
    assert resolve_class("builtins:ValueError", BaseException, "$.x") is ValueError
    assert resolve_class("routilux.exceptions:SerializationError", ValueError, "$") is (
        SerializationError
    )
    assert resolve_class(f"{__name__}:MyRoutine", Routine, "$") is MyRoutine


def test_resolve_class_finds_nested_classes_by_qualified_name():
    assert resolve_class(f"{__name__}:Outer.Inner", object, "$") is Outer.Inner
    assert resolve_class(f"{__name__}:Outer.Inner.Deepest", object, "$") is Outer.Inner.Deepest


def test_resolve_class_prefers_registered_names():
    class Replacement:
        pass

    reference = f"{__name__}:Shadowed"
    register_serializable(Replacement, name=reference)
    assert resolve_class(reference, object, "$") is Replacement


def test_resolve_class_finds_registered_names_that_are_not_module_references():
    name = unique("custom-name-without-colon")

    class Local(Routine):
        pass

    register_serializable(Local, name=name)
    assert resolve_class(name, Routine, "$") is Local


def test_resolve_class_finds_registered_local_class_by_default_name():
    cls = make_local_class()
    register_serializable(cls)
    assert resolve_class(registry.default_name(cls), object, "$") is cls


def test_resolve_class_refuses_a_module_that_is_not_imported():
    module_name = f"routilux_never_imported_{uuid.uuid4().hex}"
    assert module_name not in sys.modules
    with pytest.raises(SerializationError) as info:
        resolve_class(f"{module_name}:Thing", object, "$.routines[2].class")
    assert info.value.path == "$.routines[2].class"
    assert f"{module_name}:Thing" in str(info.value)
    assert "not imported" in str(info.value)
    assert module_name not in sys.modules


def test_resolve_class_never_imports_an_importable_module(tmp_path, monkeypatch):
    module_name = f"routilux_importable_{uuid.uuid4().hex}"
    marker = tmp_path / "imported.txt"
    (tmp_path / f"{module_name}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Thing:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SerializationError) as info:
        resolve_class(f"{module_name}:Thing", object, "$.w")
    assert info.value.path == "$.w"
    assert module_name not in sys.modules
    assert not marker.exists()


@pytest.mark.parametrize(
    "reference",
    [
        "routilux.flow:NoSuchClass",
        "routilux.flow:Flow.NoSuchInner",
        f"{__name__}:Outer.Missing",
        f"{__name__}:Outer.Inner.Missing",
        "builtins:NoSuchError",
    ],
)
def test_resolve_class_refuses_missing_attributes(reference):
    with pytest.raises(SerializationError) as info:
        resolve_class(reference, object, "$.where")
    assert info.value.path == "$.where"
    assert reference in str(info.value)


def test_resolve_class_refuses_locals_qualname():
    cls = make_local_class()
    reference = registry.default_name(cls)
    assert "<locals>" in reference
    with pytest.raises(SerializationError) as info:
        resolve_class(reference, object, "$.cls")
    assert info.value.path == "$.cls"
    assert reference in str(info.value)


def test_resolve_class_refuses_angle_bracket_parts_even_if_present(fake_module):
    class Hidden:
        pass

    namespace = types.SimpleNamespace(Hidden=Hidden)
    setattr(fake_module, "<locals>", namespace)
    fake_module.factory = types.SimpleNamespace(**{"<locals>": namespace})
    for qualname in ["<locals>.Hidden", "factory.<locals>.Hidden"]:
        reference = f"{fake_module.__name__}:{qualname}"
        with pytest.raises(SerializationError) as info:
            resolve_class(reference, object, "$.p")
        assert info.value.path == "$.p"
        assert reference in str(info.value)


@pytest.mark.parametrize(
    ("reference", "base"),
    [
        ("builtins:dict", Routine),
        ("routilux.flow:Flow", Routine),
        ("builtins:int", BaseException),
        ("routilux:register_serializable", object),  # a function, not a class
        (f"{__name__}:module_function", object),
        (f"{__name__}:Outer.method", object),
        ("routilux.flow:__name__", object),  # a string attribute
    ],
)
def test_resolve_class_refuses_objects_that_are_not_subclasses_of_base(reference, base):
    with pytest.raises(SerializationError) as info:
        resolve_class(reference, base, "$.routines[0].class")
    assert info.value.path == "$.routines[0].class"
    assert reference in str(info.value)
    assert "subclass" in str(info.value)


def test_resolve_class_checks_base_for_registered_names_too():
    name = unique()

    class NotARoutine:
        pass

    register_serializable(NotARoutine, name=name)
    with pytest.raises(SerializationError) as info:
        resolve_class(name, Routine, "$.r")
    assert info.value.path == "$.r"
    assert name in str(info.value)
    register_serializable(module_function, name=name)
    with pytest.raises(SerializationError):
        resolve_class(name, object, "$.r")


@pytest.mark.parametrize("reference", [None, 42, ["routilux.flow:Flow"], {"a": 1}, b"x:y"])
def test_resolve_class_refuses_non_string_references(reference):
    with pytest.raises(SerializationError) as info:
        resolve_class(reference, object, "$.bad")
    assert info.value.path == "$.bad"
    assert "string" in str(info.value)


@pytest.mark.parametrize(
    "reference", ["routilux.flow.Flow", "Flow", "", ":Flow", "routilux.flow:", ":"]
)
def test_resolve_class_refuses_malformed_references(reference):
    with pytest.raises(SerializationError) as info:
        resolve_class(reference, object, "$.m")
    assert info.value.path == "$.m"
    assert f"'{reference}'" in str(info.value)


def test_resolve_class_does_not_call_module_getattr(fake_module):
    calls: list[str] = []

    def module_getattr(name):
        calls.append(name)
        return Outer  # would "find" anything if it were asked

    fake_module.__getattr__ = module_getattr
    fake_module.Present = ModuleLevel
    name = fake_module.__name__
    assert resolve_class(f"{name}:Present", object, "$") is ModuleLevel
    for reference in [f"{name}:Missing", f"{name}:Missing.Inner", f"{name}:Present.Missing"]:
        with pytest.raises(SerializationError) as info:
            resolve_class(reference, object, "$.g")
        assert info.value.path == "$.g"
    assert calls == []


def test_resolve_class_does_not_run_descriptors_or_metaclass_getattr(fake_module):
    calls: list[str] = []

    class Meta(type):
        def __getattr__(cls, name):
            calls.append(f"meta:{name}")
            return ModuleLevel

    class Holder(metaclass=Meta):
        @property
        def prop(self):
            calls.append("property")
            return ModuleLevel

        @classmethod
        def cm(cls):
            calls.append("classmethod")

    fake_module.Holder = Holder
    name = fake_module.__name__
    for reference in [f"{name}:Holder.Missing", f"{name}:Holder.prop", f"{name}:Holder.cm"]:
        with pytest.raises(SerializationError):
            resolve_class(reference, object, "$")
    assert calls == []


def test_resolve_class_does_not_run_instance_getattr(fake_module):
    calls: list[str] = []

    class LazyProxy:
        __slots__ = ()

        def __getattr__(self, name):
            calls.append(name)
            raise AttributeError(name)

    fake_module.proxy = LazyProxy()
    with pytest.raises(SerializationError):
        resolve_class(f"{fake_module.__name__}:proxy.Thing", object, "$")
    assert calls == []


# --------------------------------------------------------------------------- functions


def test_resolve_function_finds_registered_functions():
    name = unique()
    register_serializable(module_function, name=name)
    assert resolve_function(name, "$.f") is module_function
    fn = make_local_function()
    register_serializable(fn)
    assert resolve_function(registry.default_name(fn), "$.f") is fn


def test_resolve_function_refuses_registered_classes():
    name = unique()
    register_serializable(ModuleLevel, name=name)
    with pytest.raises(SerializationError) as info:
        resolve_function(name, "$.merge")
    assert info.value.path == "$.merge"
    assert name in str(info.value)


@pytest.mark.parametrize(
    "name",
    [
        "builtins:print",  # imported, but not registered: functions must be registered
        "builtins:eval",
        f"{__name__}:module_function",
        "nothing.here:f",
        None,
        42,
    ],
)
def test_resolve_function_refuses_unregistered_names(name):
    with pytest.raises(SerializationError) as info:
        resolve_function(name, "$.config.fn")
    assert info.value.path == "$.config.fn"
    assert repr(name) in str(info.value)


def test_reference_to_function_returns_registered_name():
    name = unique()
    register_serializable(module_function, name=name)
    assert reference_to_function(module_function, "$.f") == name


@pytest.mark.parametrize(
    "function", [module_function, make_local_function(), print, (lambda: 0), Outer().method]
)
def test_reference_to_function_refuses_unregistered_functions(function):
    with pytest.raises(SerializationError) as info:
        reference_to_function(function, "$.routines[1].config.f")
    assert info.value.path == "$.routines[1].config.f"
    assert "not registered" in str(info.value)


# --------------------------------------------------------------------------- reference_to_class


def test_reference_to_class_for_module_level_classes():
    assert reference_to_class(ModuleLevel, "$") == f"{__name__}:ModuleLevel"
    assert reference_to_class(Outer.Inner, "$") == f"{__name__}:Outer.Inner"
    assert reference_to_class(Flow, "$") == "routilux.flow:Flow"
    # the reference it writes is one resolve_class reads back
    assert resolve_class(reference_to_class(Outer.Inner, "$"), object, "$") is Outer.Inner


def test_reference_to_class_refuses_local_classes():
    cls = make_local_class()
    with pytest.raises(SerializationError) as info:
        reference_to_class(cls, "$.routines[0].class")
    assert info.value.path == "$.routines[0].class"
    assert "Local" in str(info.value)
    assert "register" in str(info.value)


def test_reference_to_class_uses_registered_name():
    cls = make_local_class()
    register_serializable(cls)
    assert reference_to_class(cls, "$") == registry.default_name(cls)
    name = unique()
    register_serializable(ModuleLevel, name=name)
    assert reference_to_class(ModuleLevel, "$") == name
    assert resolve_class(reference_to_class(ModuleLevel, "$"), object, "$") is ModuleLevel


# --------------------------------------------------------------------------- import paths


def test_register_serializable_is_exported_from_package():
    assert routilux.register_serializable is register_serializable
    assert "register_serializable" in routilux.__all__


def test_register_serializable_importable_from_job_state():
    from routilux.job_state import register_serializable as from_job_state

    assert from_job_state is register_serializable


@pytest.mark.parametrize("name", [10**5000, -(10**5000)], ids=["huge", "negative-huge"])
def test_names_too_long_to_print_give_serialization_error(name):
    """S: a document's reference may be an integer Python cannot even print (from a
    dict that never was JSON): the error is still a SerializationError, not the
    ValueError of the int/str conversion limit."""
    with pytest.raises(SerializationError, match="an integer of") as info:
        resolve_function(name, "$.f")
    assert info.value.path == "$.f"
    with pytest.raises(SerializationError, match="must be a string, not <an integer of"):
        resolve_class(name, Routine, "$.c")


def test_long_function_name_is_shortened_in_the_message():
    """S: a megabyte of name does not make a megabyte of error message."""
    with pytest.raises(SerializationError) as info:
        resolve_function("x" * 1_000_000, "$.f")
    assert len(str(info.value)) < 400

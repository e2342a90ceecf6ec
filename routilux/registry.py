"""Names for the classes and functions that flows and jobs may store.

Loading a flow or a job never imports a module or runs code named by the document.
A routine class is restored only if the application has imported its module already
(it is a :class:`~routilux.Routine` subclass found in :data:`sys.modules`) or
registered it here. Everything else a document refers to by name (merge functions,
functions in a routine's config, value classes, exception classes that are not
built in) must be registered::

    from routilux import register_serializable

    @register_serializable
    class Temperature:             # an attrs class or dataclass stored in job data
        ...

    @register_serializable(name="merge.keep_max")
    def keep_max(old, new):        # a merge strategy, a condition, a transformation
        ...

This is also the decorator routilux 0.9 code imported from ``serilux``: change that
one import line.
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast, overload

from routilux.exceptions import SerializationError

__all__ = ["name_of", "register_serializable", "registered", "resolve_class", "resolve_function"]

T = TypeVar("T")

_lock = threading.Lock()
_by_name: dict[str, Any] = {}
_names: dict[int, str] = {}


def default_name(obj: Any) -> str:
    """``"module:QualifiedName"``, the name a class or function is stored under."""
    return f"{obj.__module__}:{obj.__qualname__}"


@overload
def register_serializable(obj: T, *, name: str | None = None) -> T: ...


@overload
def register_serializable(obj: None = None, *, name: str | None = None) -> Callable[[T], T]: ...


def register_serializable(obj: Any = None, *, name: str | None = None) -> Any:
    """Register a class or function under ``name`` (default ``"module:QualifiedName"``).

    Use it as ``@register_serializable``, ``@register_serializable(name="...")`` or
    ``register_serializable(obj, name="...")``. Registering another object under a
    name in use replaces it (so that reloading a module works). Thread safe.

    Raises:
        TypeError: if ``obj`` is neither a class nor a function.
    """

    def register(target: T) -> T:
        if not callable(target) or not hasattr(target, "__qualname__"):
            raise TypeError(f"register_serializable expects a class or a function, not {target!r}")
        key = name or default_name(target)
        with _lock:
            previous = _by_name.get(key)
            if previous is not None and _names.get(id(previous)) == key:
                del _names[id(previous)]
            _by_name[key] = target
            _names[id(target)] = key
        return target

    if obj is None:
        return register
    return register(obj)


def registered(name: str) -> Any | None:
    """The object registered under ``name``, or None."""
    with _lock:
        return _by_name.get(name)


def name_of(obj: Any) -> str | None:
    """The name ``obj`` was registered under, or None."""
    with _lock:
        key = _names.get(id(obj))
        if key is not None and _by_name.get(key) is obj:
            return key
    return None


def _namespace(target: Any) -> Mapping[str, Any]:
    """A module's or class's own namespace, read without any attribute lookup (so no
    ``__getattr__``, ``__getattribute__`` or descriptor of the application runs).
    Anything else has no namespace a reference may walk into."""
    if isinstance(target, type):
        return cast(Mapping[str, Any], _CLASS_DICT.__get__(target))
    if isinstance(target, types.ModuleType):
        return cast(Mapping[str, Any], _MODULE_DICT.__get__(target))
    return {}


_CLASS_DICT: Any = vars(type)["__dict__"]
_MODULE_DICT: Any = vars(types.ModuleType)["__dict__"]


def _imported_attribute(reference: str, where: str) -> Any:
    """Find ``"module:Qual.Name"`` among already imported modules, without running
    any code (no import, no module ``__getattr__``, no descriptors)."""
    module_name, _, qualname = reference.partition(":")
    if not module_name or not qualname:
        raise SerializationError(f"'{reference}' is not a 'module:QualifiedName' reference", where)
    module = sys.modules.get(module_name)
    if module is None:
        raise SerializationError(
            f"class '{reference}' is not available: module '{module_name}' is not imported. "
            "Import it before loading, or register the class with register_serializable",
            where,
        )
    target: Any = module
    for part in qualname.split("."):
        namespace = _namespace(target)
        if part.startswith("<") or part not in namespace:
            raise SerializationError(
                f"class '{reference}' is not available: '{module_name}' has no '{qualname}'",
                where,
            )
        target = namespace[part]
    return target


def resolve_class(reference: Any, base: type, where: str) -> type:
    """The class stored as ``reference``, which must be a subclass of ``base``.

    Registered names are looked up first, then already imported modules.

    Raises:
        SerializationError: naming the class and ``where`` in the document.
    """
    if not isinstance(reference, str):
        from routilux._values import describe

        raise SerializationError(
            f"a class reference must be a string, not {describe(reference)}", where
        )
    target = registered(reference)
    if target is None:
        target = _imported_attribute(reference, where)
    if not (isinstance(target, type) and issubclass(target, base)):
        raise SerializationError(
            f"'{reference}' is not a {base.__name__} subclass; refusing to restore it", where
        )
    return target


def resolve_function(name: Any, where: str) -> Callable[..., Any]:
    """The function registered as ``name``.

    Raises:
        SerializationError: if nothing callable is registered under ``name``.
    """
    target = registered(name) if isinstance(name, str) else None
    if target is None or isinstance(target, type) or not callable(target):
        from routilux._values import describe

        raise SerializationError(
            f"no function is registered as {describe(name, 200)}; register it with "
            "register_serializable",
            where,
        )
    return target  # type: ignore[no-any-return]


def reference_to_class(cls: type, where: str) -> str:
    """The name to store ``cls`` under: its registered name, else ``module:Qualname``.

    Raises:
        SerializationError: if the class could not be found again when loading (it is
            defined inside a function and not registered).
    """
    registered_name = name_of(cls)
    if registered_name is not None:
        return registered_name
    if "<locals>" in cls.__qualname__:
        raise SerializationError(
            f"class {cls.__qualname__} is defined inside a function, so a loader could not "
            "find it; register it with register_serializable",
            where,
        )
    return default_name(cls)


def reference_to_function(function: Any, where: str) -> str:
    """The registered name of ``function``.

    Raises:
        SerializationError: if it is not registered.
    """
    registered_name = name_of(function)
    if registered_name is None:
        raise SerializationError(
            f"function {getattr(function, '__qualname__', function)!r} is not registered; "
            "register it with register_serializable to store it",
            where,
        )
    return registered_name

"""How a slot handler's signature decides what it receives.

The signature is inspected once, when the handler is set, and turned into an
*invoker*: a small function ``invoker(data) -> result`` that calls the handler the
right way. The rules are routilux 0.9's, first match wins:

1. a ``**kwargs`` parameter: ``handler(**data)``;
2. exactly one parameter, named ``data``: ``handler(data)`` (the whole dict);
3. exactly one parameter with another name ``p``: ``handler(data[p])`` when ``p`` is a
   key of ``data``, else ``handler(data)``;
4. two or more parameters: the parameters whose names are keys of ``data`` are passed
   as keywords (other keys are dropped); when none match, ``handler(data)``.

An empty delivery never overrides a declared default: under rules 3 and 4, when
``data`` is empty and the (first) parameter has a default, the handler is called with
no arguments (0.9 passed ``{}``).

Deliberate differences, for handlers 0.9 could never call successfully: a handler
with no parameters is called with none; a single keyword-only parameter is passed by
keyword (or omitted when its key is missing); positional-only parameters are passed
positionally, in order, while their keys are present.

Whenever a handler receives the dict itself it receives a shallow copy, so a handler
that mutates its argument cannot change what other slots or the history see.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["Invoker", "build_invoker", "is_async_callable"]

Invoker = Callable[[dict[str, Any]], Any]

_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _no_handler(data: dict[str, Any]) -> None:
    return None


def is_async_callable(handler: Any) -> bool:
    """Whether calling ``handler`` makes a coroutine or an async generator (an
    ``async def`` function or method, a partial of one, or an object whose
    ``__call__`` is one)."""
    if inspect.iscoroutinefunction(handler) or inspect.isasyncgenfunction(handler):
        return True
    if inspect.isfunction(handler) or inspect.ismethod(handler):
        return False
    call = inspect.getattr_static(type(handler), "__call__", None)
    return inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)


def build_invoker(handler: Callable[..., Any] | None) -> Invoker:
    """Return the invoker for ``handler`` (``None`` gives an invoker that does nothing).

    Raises:
        TypeError: if ``handler`` is neither ``None`` nor callable.
    """
    if handler is None:
        return _no_handler
    if not callable(handler):
        raise TypeError(f"slot handler must be callable, not {type(handler).__name__}")
    try:
        parameters = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        # Callables without an introspectable signature (some builtins): keywords.
        return lambda data: handler(**data)

    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return lambda data: handler(**data)
    if not parameters:
        return lambda data: handler()
    if len(parameters) == 1:
        (parameter,) = parameters
        name = parameter.name
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            return _keyword_only(handler, name)
        if name == "data":
            return lambda data: handler(dict(data))

        if parameter.default is not inspect.Parameter.empty:

            def single_with_default(data: dict[str, Any]) -> Any:
                if name in data:
                    return handler(data[name])
                if not data:
                    return handler()  # nothing delivered: the default applies
                return handler(dict(data))

            return single_with_default

        def single(data: dict[str, Any]) -> Any:
            if name in data:
                return handler(data[name])
            return handler(dict(data))

        return single

    positional = tuple(p.name for p in parameters if p.kind is inspect.Parameter.POSITIONAL_ONLY)
    names = tuple(p.name for p in parameters if p.kind in _KEYWORD_KINDS)
    # With nothing delivered, a first parameter that has a default keeps it.
    empty_keeps_defaults = parameters[0].default is not inspect.Parameter.empty
    if positional:
        return _with_positional_only(handler, positional, names, empty_keeps_defaults)

    def by_keywords(data: dict[str, Any]) -> Any:
        kwargs = {name: data[name] for name in names if name in data}
        if kwargs:
            return handler(**kwargs)
        if not data and empty_keeps_defaults:
            return handler()
        return handler(dict(data))

    return by_keywords


def _keyword_only(handler: Callable[..., Any], name: str) -> Invoker:
    """A single keyword-only parameter: pass the value by keyword, or nothing."""

    def keyword(data: dict[str, Any]) -> Any:
        if name in data:
            return handler(**{name: data[name]})
        return handler()

    return keyword


def _with_positional_only(
    handler: Callable[..., Any],
    positional: tuple[str, ...],
    names: tuple[str, ...],
    empty_keeps_defaults: bool,
) -> Invoker:
    """Positional-only parameters are filled in order while their keys are present."""

    def call(data: dict[str, Any]) -> Any:
        args = []
        for name in positional:
            if name not in data:
                break
            args.append(data[name])
        kwargs = {name: data[name] for name in names if name in data}
        if args or kwargs:
            return handler(*args, **kwargs)
        if not data and empty_keeps_defaults:
            return handler()
        return handler(dict(data))

    return call

"""Routines from plain functions, wired with ``>>``.

For simple pipelines, decorate functions with :func:`routine` and connect them with
``>>`` inside a ``with Flow(...)`` block::

    from routilux import Flow
    from routilux.functional import routine

    @routine
    def fetch():
        return {"numbers": [1, 2, 3]}

    @routine
    def total(numbers):
        return sum(numbers)

    with Flow("pipeline") as flow:
        fetch >> total

    job = flow.execute("fetch")
    job.get_result("total")  # 6

Each decorated function becomes a :class:`FunctionRoutine`: slots ``trigger`` (so it
can start a job) and ``input`` both call the function; its return value is the
routine's result in the job and is emitted on the event ``output`` -- a dict as its
keys, anything else as ``value``, None not at all. The function receives a delivery's
keys as keyword arguments by name; a function with one parameter receives a
one-key delivery's value whatever the key; a parameter named ``ctx`` receives the
:class:`~routilux.ExecutionContext`.

``a >> b`` adds ``a`` and ``b`` to the flow of the enclosing ``with`` block (under
their function names) and connects ``a``'s ``output`` to ``b``'s ``input``; it
returns ``b``, so ``a >> b >> c`` is a chain, ``a >> [b, c]`` fans out and
``[a, b] >> c`` fans in. The result is an ordinary flow: it validates, serializes and
runs like a hand-written one. The decorated function is registered with
:func:`~routilux.register_serializable`, so a loader finds it once its module is
imported. Calling the decorated object calls the function.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, overload

from routilux.exceptions import ConfigurationError
from routilux.registry import register_serializable
from routilux.routine import Routine

if TYPE_CHECKING:
    from routilux.flow import Flow

__all__ = ["FunctionRoutine", "routine"]

#: The flow of the innermost ``with Flow(...)`` block in this context.
building_flow: ContextVar[Flow | None] = ContextVar("routilux_building_flow", default=None)


class FunctionRoutine(Routine):
    """A routine that calls one function (see :mod:`routilux.functional`).

    Config: ``function`` (a registered function) and ``name`` (the id it prefers in a
    flow).
    """

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.call)
        self.define_slot("input", handler=self.call)
        self.define_event("output", ["value"])

    @property
    def function(self) -> Callable[..., Any]:
        """The wrapped function (kept in the config; :func:`routine` registers it, so
        that a saved flow can be loaded once its module is imported).

        Raises:
            ConfigurationError: for a FunctionRoutine created without one.
        """
        function = self.get_config("function")
        if function is None:
            raise ConfigurationError(f"{self!r} has no function; create it with @routine")
        return function  # type: ignore[no-any-return]

    def call(self, **data: Any) -> Any:
        """Call the function with a delivery; emit and return what it returns."""
        result = _call(self.function, data, self)
        if result is None:
            return None
        if isinstance(result, dict) and all(isinstance(key, str) for key in result):
            self.emit("output", **result)
        else:
            self.emit("output", value=result)
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly (handy in tests)."""
        return self.function(*args, **kwargs)

    def __rshift__(self, other: Any) -> Any:
        for target in other if isinstance(other, (list, tuple)) else [other]:
            _connect(self, target)
        return other

    def __rrshift__(self, other: Any) -> FunctionRoutine:
        for source in other if isinstance(other, (list, tuple)) else [other]:
            _connect(source, self)
        return self

    def __repr__(self) -> str:
        return f"FunctionRoutine[{self.get_config('name', '?')}]"


_plans: dict[Any, tuple[tuple[str, ...], bool, bool, bool]] = {}


def _plan(function: Callable[..., Any]) -> tuple[tuple[str, ...], bool, bool, bool]:
    """(parameter names, takes **kwargs, takes ctx, has exactly one data parameter)."""
    plan = _plans.get(function)
    if plan is None:
        parameters = [
            p
            for p in inspect.signature(function).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        takes_kwargs = any(
            p.kind is p.VAR_KEYWORD for p in inspect.signature(function).parameters.values()
        )
        names = tuple(p.name for p in parameters if p.name != "ctx")
        takes_ctx = any(p.name == "ctx" for p in parameters)
        plan = _plans[function] = (names, takes_kwargs, takes_ctx, len(names) == 1)
    return plan


def _call(function: Callable[..., Any], data: dict[str, Any], owner: Routine) -> Any:
    """Call ``function`` with a delivery (see the module documentation)."""
    names, takes_kwargs, takes_ctx, single = _plan(function)
    bound: dict[str, Any] = {}
    if takes_ctx:
        bound["ctx"] = owner.get_execution_context()
    if single and len(data) == 1 and names[0] not in data:
        bound[names[0]] = next(iter(data.values()))
    else:
        for name in names:
            if name in data:
                bound[name] = data[name]
        if takes_kwargs:
            bound.update({key: value for key, value in data.items() if key not in bound})
    try:
        arguments = inspect.signature(function).bind(**bound)
    except TypeError as exc:
        raise TypeError(
            f"{function.__qualname__} cannot take a delivery with keys {sorted(data)}: {exc}"
        ) from None
    return function(*arguments.args, **arguments.kwargs)


def _connect(source: Any, target: Any) -> None:
    flow = building_flow.get()
    if flow is None:
        raise ConfigurationError(
            "a >> b connects routines of the flow being built: use it inside "
            "`with Flow(...) as flow:`"
        )
    for routine in (source, target):
        if not isinstance(routine, Routine):
            raise ConfigurationError(f"cannot connect {routine!r}: it is not a routine")
    flow.connect(_member_id(flow, source), "output", _member_id(flow, target), "input")


def _member_id(flow: Flow, routine: Routine) -> str:
    """The id of ``routine`` in ``flow``, adding it under its preferred name."""
    existing = flow._get_routine_id(routine)
    if existing is not None:
        return existing
    preferred = str(routine.get_config("name") or routine._id)
    routine_id, counter = preferred, 2
    while routine_id in flow.routines:
        routine_id = f"{preferred}_{counter}"
        counter += 1
    return flow.add_routine(routine, routine_id)


@overload
def routine(function: Callable[..., Any], *, name: str | None = None) -> FunctionRoutine: ...


@overload
def routine(
    function: None = None, *, name: str | None = None
) -> Callable[[Callable[..., Any]], FunctionRoutine]: ...


def routine(function: Any = None, *, name: str | None = None) -> Any:
    """Turn ``function`` into a :class:`FunctionRoutine` (``@routine`` or
    ``@routine(name="...")``); ``name`` is the id it prefers in a flow (default: the
    function's name)."""

    def make(target: Callable[..., Any]) -> FunctionRoutine:
        if not callable(target):
            raise ConfigurationError(f"@routine decorates functions, not {target!r}")
        register_serializable(target)
        made = FunctionRoutine()
        made.set_config(function=target, name=name or target.__name__)
        functools.update_wrapper(made, target, updated=())
        return made

    if function is None:
        return make
    return make(function)

"""ConditionalRouter: sends each delivery to the routes whose condition holds."""

from __future__ import annotations

import ast
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from routilux.builtin_routines._expressions import compile_condition, evaluate
from routilux.builtin_routines._inputs import payload
from routilux.exceptions import ConfigurationError
from routilux.routine import Routine

__all__ = ["ConditionalRouter"]

logger = logging.getLogger("routilux")

_ARGUMENTS = ("data", "config", "stats")


class ConditionalRouter(Routine):
    """Emits each delivery on the event of every route (or the first route) whose
    condition holds.

    Slot ``input``; default event ``output`` with ``data`` and ``route``; one event per
    route, each emitting ``data`` and ``route`` (the route's name).

    Config: ``routes`` (a list of ``(name, condition)``), ``default_route`` (None: the
    event for deliveries no route matches; without it they go to ``output`` with route
    ``"unmatched"``), ``route_priority`` (``"first_match"``; any other value emits on
    every matching route).

    A condition is

    - a string, evaluated safely (see :mod:`routilux.builtin_routines._expressions`)
      with the names ``data`` (the delivery), ``config`` (this router's config) and
      ``stats`` (this router's state in the job, including ``route_counts``);
    - a callable, called with the documented arguments: by keyword for parameters
      named ``data``, ``config`` and ``stats``, otherwise positionally as ``(data)``,
      ``(data, config)`` or ``(data, config, stats)``;
    - a dict, which holds when ``data`` is a dict with every key, equal to the expected
      value, or satisfying it when the expected value is a callable.

    A condition that raises counts as not matching (and is logged). Routes and their
    events are declared before the flow runs (:meth:`add_route`, or
    ``set_config(routes=...)``): the router never defines events while a job runs.
    Conditions are checked when they are added: an invalid expression raises
    :class:`~routilux.exceptions.ConfigurationError` then, not at run time. To save a
    flow, callable conditions must be registered functions.
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(routes=[], default_route=None, route_priority="first_match")
        self.input_slot = self.define_slot("input", handler=self.route)
        self.output_event = self.define_event("output", ["data", "route"])

    # -- configuration ----------------------------------------------------------------

    def add_route(self, name: str, condition: Any) -> None:
        """Add a route called ``name`` (and its event) taken when ``condition`` holds.

        Raises:
            ConfigurationError: for an invalid condition, or when called while this
                routine runs in a job.
        """
        routes = list(self.get_config("routes") or [])
        routes.append((name, condition))
        self.set_config(routes=routes)

    def set_config(self, **kwargs: Any) -> None:
        """Update the config; new routes and the default route get their events."""
        if ("routes" in kwargs or "default_route" in kwargs) and self.get_execution_context():
            raise ConfigurationError(
                f"{self!r}: routes cannot change while the router runs in a job"
            )
        names = _check_routes(kwargs.get("routes", ()), kwargs.get("default_route"))
        super().set_config(**kwargs)
        for name in names:
            if self.get_event(name) is None:
                self.define_event(name, ["data", "route"])

    def _validate_config(self) -> None:
        """Check the routes of a loaded document as :meth:`set_config` would."""
        for name in _check_routes(self.get_config("routes"), self.get_config("default_route")):
            if self.get_event(name) is None:
                raise ConfigurationError(f"{self!r} has no event for route '{name}'")

    # -- routing ----------------------------------------------------------------------

    def route(self, data: Any = None, **kwargs: Any) -> None:
        """The ``input`` handler: emit the delivery on the routes it takes."""
        value = payload(data, kwargs)
        ctx = self.get_execution_context()
        stats: dict[str, Any] = {}
        if ctx is not None:
            stats = dict(ctx.job_state.get_routine_state(ctx.routine_id) or {})
        matched = self.matching_routes(value, stats)
        if not matched:
            default = self.get_config("default_route")
            matched = [default] if default else []
            if not matched:
                self.emit("output", data=value, route="unmatched")
        for name in matched:
            self.emit(name, data=value, route=name)
        if ctx is not None and matched:
            ctx.job_state._update_routine_state(
                ctx.routine_id, functools.partial(_count_routes, matched)
            )

    def matching_routes(self, data: Any, stats: dict[str, Any] | None = None) -> list[str]:
        """The names of the routes ``data`` takes (at most one under first_match)."""
        first_only = self.get_config("route_priority", "first_match") == "first_match"
        config = self.config()
        matched = []
        for name, condition in _pairs(self.get_config("routes") or []):
            if self._holds(name, condition, data, config, stats or {}):
                matched.append(name)
                if first_only:
                    break
        return matched

    def _holds(
        self, name: str, condition: Any, data: Any, config: dict[str, Any], stats: dict[str, Any]
    ) -> bool:
        try:
            if isinstance(condition, str):
                tree = _compiled(condition)
                return bool(evaluate(tree, {"data": data, "config": config, "stats": stats}))
            if isinstance(condition, dict):
                return _dict_holds(condition, data)
            return bool(_call(condition, data, config, stats))
        except Exception as exc:
            logger.warning("condition of route '%s' raised %s: %s", name, type(exc).__name__, exc)
            return False


def _count_routes(matched: list[str], state: dict[str, Any]) -> None:
    counts = dict(state.get("route_counts", {}))
    for name in matched:
        counts[name] = counts.get(name, 0) + 1
    state["route_counts"] = counts


def _check_routes(routes: Any, default_route: Any) -> list[str]:
    """The route names (and the default route) after checking every name and condition.

    Raises:
        ConfigurationError: for a malformed route, name or condition.
    """
    names = []
    for name, condition in _pairs(routes):
        _check_name(name)
        _check_condition(name, condition)
        names.append(name)
    if default_route is not None:
        _check_name(default_route)
        names.append(default_route)
    return names


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"a route name must be a non-empty string, not {name!r}")


def _pairs(routes: Any) -> list[tuple[Any, Any]]:
    pairs = []
    for entry in routes or ():
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            raise ConfigurationError(f"a route is a (name, condition) pair, not {entry!r}")
        pairs.append((entry[0], entry[1]))
    return pairs


_cache: dict[str, ast.Expression] = {}


def _compiled(text: str) -> ast.Expression:
    tree = _cache.get(text)
    if tree is None:
        tree = _cache[text] = compile_condition(text)
    return tree


def _check_condition(name: Any, condition: Any) -> None:
    if isinstance(condition, str):
        _compiled(condition)
    elif isinstance(condition, dict):
        return
    elif callable(condition):
        _plan(condition)
    else:
        raise ConfigurationError(
            f"condition of route {name!r} must be a string, a dict or a callable, "
            f"not {type(condition).__name__}"
        )


_plans: dict[Any, tuple[str, tuple[str, ...]]] = {}


def _plan(function: Callable[..., Any]) -> tuple[str, tuple[str, ...]]:
    """How to call a condition: ``("keywords", names)`` or ``("positional", names)``."""
    plan = _plans.get(function)
    if plan is None:
        plan = _plans[function] = _make_plan(function)
    return plan


def _make_plan(function: Callable[..., Any]) -> tuple[str, tuple[str, ...]]:
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return "positional", ("data",)
    named = [p.name for p in parameters if p.name in _ARGUMENTS]
    if named:
        others = [
            p.name
            for p in parameters
            if p.name not in _ARGUMENTS
            and p.default is p.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if others:
            raise ConfigurationError(
                f"condition {function!r} has parameters {others}; conditions receive "
                "data, config and stats"
            )
        return "keywords", tuple(named)
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    takes_more = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    if len(required) > len(_ARGUMENTS) or not (positional or takes_more):
        raise ConfigurationError(
            f"condition {function!r} must accept (data), (data, config) or (data, config, stats)"
        )
    count = max(1, min(len(positional), 3))
    return "positional", _ARGUMENTS[:count]


def _call(function: Callable[..., Any], data: Any, config: Any, stats: Any) -> Any:
    kind, names = _plan(function)
    values = {"data": data, "config": config, "stats": stats}
    if kind == "keywords":
        return function(**{name: values[name] for name in names})
    return function(*(values[name] for name in names))


def _dict_holds(condition: dict[str, Any], data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    for key, expected in condition.items():
        if key not in data:
            return False
        actual = data[key]
        if callable(expected):
            if not expected(actual):
                return False
        elif actual != expected:
            return False
    return True

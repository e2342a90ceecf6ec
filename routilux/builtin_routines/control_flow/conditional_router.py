"""ConditionalRouter: sends each delivery to the routes whose condition holds."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from routilux.builtin_routines._expressions import compile_condition, evaluate
from routilux.builtin_routines._inputs import payload
from routilux.event import Event
from routilux.exceptions import ConfigurationError, DuplicateNameError
from routilux.routine import Routine

__all__ = ["ConditionalRouter"]

logger = logging.getLogger("routilux")

_ARGUMENTS = ("data", "config", "stats")
_ROUTE_PARAMS = ["data", "route"]

# Parsed conditions shared by every router, so that many routers with the same
# condition hold one tree. Bounded: a tree of a 2,000-character condition takes about
# 360 kB, so 64 of them stay under 25 MB, and a few kB each for usual conditions.
_SHARED_TREES = 64
_compile = functools.lru_cache(maxsize=_SHARED_TREES)(compile_condition)

# A router remembers the prepared form of its own conditions (keyed by the
# condition's id, the condition kept alongside so the id stays valid); when
# conditions it no longer uses pile up past this many, it starts again.
_SPARE_PREPARED = 16


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

    - a string, evaluated safely (see :doc:`/guide/builtin_routines` for what it may
      use and its bounds) with the names ``data`` (the delivery), ``config`` (this
      router's config) and ``stats`` (this router's state in the job, including
      ``route_counts``);
    - a callable, called with the documented arguments: by keyword for parameters
      named ``data``, ``config`` and ``stats``, otherwise positionally as ``(data)``,
      ``(data, config)`` or ``(data, config, stats)``;
    - a dict, which holds when ``data`` is a dict with every key, equal to the expected
      value, or satisfying it when the expected value is a callable.

    A condition that raises counts as not matching (and is logged), including one
    that passes a bound of the safe evaluator (``condition too costly: ...``).
    Routes and their events are declared before the flow runs (:meth:`add_route`, or
    ``set_config(routes=...)``): the router never defines events while a job runs.
    Conditions are checked when they are added: an invalid expression raises
    :class:`~routilux.exceptions.ConfigurationError` then, not at run time. To save a
    flow, callable conditions must be registered functions.

    Caches: a router keeps the parsed form of its string conditions and the calling
    plan of its callable conditions only while it uses them, and they go with it;
    parsed conditions are also shared between routers through a cache of at most 64
    entries. Nothing keeps a dropped router's conditions alive.
    """

    def __init__(self) -> None:
        super().__init__()
        self._prepared: dict[int, tuple[Any, Any]] = {}
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
        names, prepared = _check_routes(kwargs.get("routes", ()), kwargs.get("default_route"))
        super().set_config(**kwargs)
        if "routes" in kwargs:
            self._prepared = prepared
        for name in names:
            if self.get_event(name) is None:
                super().define_event(name, list(_ROUTE_PARAMS))

    def _validate_config(self) -> None:
        """Check the routes of a loaded document as :meth:`set_config` would."""
        names, prepared = _check_routes(self.get_config("routes"), self.get_config("default_route"))
        for name in names:
            if self.get_event(name) is None:
                raise ConfigurationError(f"{self!r} has no event for route '{name}'")
        self._prepared = prepared

    def define_event(self, name: str, output_params: list[str] | None = None) -> Event:
        """Define an output event, or return the router's own event of that name.

        The router declares the events of its routes, of ``default_route`` and
        ``output`` itself, with ``data`` and ``route``. As in 0.9, where code
        configured routes and then called ``router.define_event("high")``, declaring
        one of them again returns the existing event when ``output_params`` is None or
        names only keys it carries.

        Raises:
            DuplicateNameError: for another shape of one of the router's events, or
                any event of another name defined twice.
        """
        existing = self.get_event(name)
        if existing is None or name not in self._own_event_names():
            return super().define_event(name, output_params)
        carried = set(existing.output_params or _ROUTE_PARAMS)
        if set(output_params or ()) <= carried:
            return existing
        raise DuplicateNameError(
            f"Event '{name}' already exists in {self!r}: the router declares it with "
            f"output_params {sorted(carried)}, not {list(output_params or ())}"
        )

    def _own_event_names(self) -> set[str]:
        names = {"output"}
        for entry in self.get_config("routes") or ():
            if isinstance(entry, (tuple, list)) and len(entry) == 2 and isinstance(entry[0], str):
                names.add(entry[0])
        default = self.get_config("default_route")
        if isinstance(default, str):
            names.add(default)
        return names

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
            if isinstance(condition, dict):
                return _dict_holds(condition, data)
            prepared = self._prepare(condition)
            if isinstance(condition, str):
                names = {"data": data, "config": config, "stats": stats}
                return bool(evaluate(prepared, names))
            return bool(_call(condition, prepared, data, config, stats))
        except Exception as exc:
            logger.warning("condition of route '%s' raised %s: %s", name, type(exc).__name__, exc)
            return False

    def _prepare(self, condition: Any) -> Any:
        """The parsed tree or calling plan of one of this router's conditions."""
        # self.__dict__ rather than self._prepared: a subclass may skip our __init__
        prepared: dict[int, tuple[Any, Any]] = self.__dict__.setdefault("_prepared", {})
        entry = prepared.get(id(condition))
        if entry is not None and entry[0] is condition:
            return entry[1]
        result = _prepare(condition)
        if len(prepared) >= 2 * len(self.get_config("routes") or ()) + _SPARE_PREPARED:
            prepared.clear()
        prepared[id(condition)] = (condition, result)
        return result


def _count_routes(matched: list[str], state: dict[str, Any]) -> None:
    counts = dict(state.get("route_counts", {}))
    for name in matched:
        counts[name] = counts.get(name, 0) + 1
    state["route_counts"] = counts


def _check_routes(routes: Any, default_route: Any) -> tuple[list[str], dict[int, tuple[Any, Any]]]:
    """The route names (and the default route) after checking every name and
    condition, and the prepared form of each string or callable condition.

    Raises:
        ConfigurationError: for a malformed route, name or condition.
    """
    names = []
    prepared: dict[int, tuple[Any, Any]] = {}
    for name, condition in _pairs(routes):
        _check_name(name)
        if isinstance(condition, dict):
            pass
        elif isinstance(condition, str) or callable(condition):
            prepared[id(condition)] = (condition, _prepare(condition))
        else:
            raise ConfigurationError(
                f"condition of route {name!r} must be a string, a dict or a callable, "
                f"not {type(condition).__name__}"
            )
        names.append(name)
    if default_route is not None:
        _check_name(default_route)
        names.append(default_route)
    return names, prepared


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


def _prepare(condition: Any) -> Any:
    """A string condition's tree, or how to call a callable one."""
    if isinstance(condition, str):
        return _compile(condition)
    return _make_plan(condition)


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


def _call(
    function: Callable[..., Any],
    plan: tuple[str, tuple[str, ...]],
    data: Any,
    config: Any,
    stats: Any,
) -> Any:
    kind, names = plan
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

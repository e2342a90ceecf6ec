"""Checking a flow's wiring before running it (:meth:`Flow.validate`)."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from routilux.connection import Connection
    from routilux.flow import Flow
    from routilux.slot import Slot

__all__ = ["ERROR", "WARNING", "ValidationIssue", "validate_flow"]

ERROR = "error"
WARNING = "warning"


@attrs.frozen
class ValidationIssue:
    """One problem found by :meth:`Flow.validate`.

    Attributes:
        severity: ``"error"`` (the flow cannot run as asked) or ``"warning"``.
        message: what is wrong, naming the routines, slots and events involved.
        routine_id: the routine concerned, when there is one.
    """

    severity: str
    message: str
    routine_id: str | None = None

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


def _receivable(slot: Slot) -> set[str] | None:
    """The keys a slot's handler can receive by name, or None if it takes any."""
    handler = slot.handler
    if handler is None:
        return None
    try:
        parameters = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    if len(parameters) == 1:
        return None  # a one-parameter handler receives the whole delivery if need be
    return {p.name for p in parameters if p.kind is not p.VAR_POSITIONAL}


def _missing(slot: Slot, delivered: set[str]) -> list[str]:
    """The required parameters of a slot's handler that ``delivered`` keys leave
    without a value, by the dispatch rules (docs/guide/slots.rst): a handler
    taking ``**kwargs`` or a single parameter always runs, and one whose parameters
    match none of the keys receives the whole delivery as its first argument."""
    handler = slot.handler
    if handler is None:
        return []
    try:
        parameters = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        return []
    if len(parameters) <= 1 or any(p.kind is p.VAR_KEYWORD for p in parameters):
        return []
    named = [p for p in parameters if p.kind is not p.VAR_POSITIONAL]
    if not any(p.name in delivered for p in named):
        named = named[1:]  # called as handler(delivery)
    return [p.name for p in named if p.default is p.empty and p.name not in delivered]


def _delivered(connection: Connection) -> set[str] | None:
    """The keys a connection delivers, or None when its event declares none (an event
    may emit any keys, so nothing can be said)."""
    declared = set(connection.source_event.output_params)  # type: ignore[union-attr]
    if not declared:
        return None
    targets = set(connection.param_mapping.values())
    mapped = {target for source, target in connection.param_mapping.items() if source in declared}
    return mapped | (declared - targets)


def validate_flow(flow: Flow, entry_routine_id: str | None = None) -> list[ValidationIssue]:
    """The issues of ``flow`` (see :meth:`Flow.validate`)."""
    issues: list[ValidationIssue] = []
    targeted: set[tuple[str, str]] = set()
    edges: dict[str, set[str]] = {rid: set() for rid in flow.routines}

    if entry_routine_id is not None:
        entry = flow.routines.get(entry_routine_id)
        if entry is None:
            issues.append(
                ValidationIssue(ERROR, f"entry routine '{entry_routine_id}' is not in the flow")
            )
        elif entry.get_slot("trigger") is None:
            issues.append(
                ValidationIssue(
                    ERROR,
                    f"entry routine '{entry_routine_id}' has no 'trigger' slot",
                    entry_routine_id,
                )
            )

    for connection in flow.connections:
        source, target = connection.source_routine_id, connection.target_routine_id
        event, slot = connection.source_event, connection.target_slot
        if source not in flow.routines or target not in flow.routines or not event or not slot:
            issues.append(
                ValidationIssue(ERROR, f"connection {source} -> {target} names a missing routine")
            )
            continue
        assert source is not None and target is not None
        edges[source].add(target)
        targeted.add((target, slot.name))
        where = f"{source}.{event.name} -> {target}.{slot.name}"
        mapped = dict(connection.param_mapping)
        receivable = _receivable(slot)
        keys = set(event.output_params)
        if mapped:
            keys = {mapped.get(key, key) for key in keys} | set(mapped.values())
        if receivable is not None:
            for key in sorted(keys - receivable):
                issues.append(
                    ValidationIssue(
                        WARNING,
                        f"{where}: key '{key}' is dropped, the handler of slot "
                        f"'{slot.name}' has no parameter '{key}'",
                        target,
                    )
                )
        if event.output_params:
            for source_key in sorted(set(mapped) - set(event.output_params)):
                issues.append(
                    ValidationIssue(
                        WARNING,
                        f"{where}: maps '{source_key}', which event '{event.name}' does not "
                        f"declare (it declares {list(event.output_params)})",
                        source,
                    )
                )

    issues.extend(_missing_parameters(flow))
    fed = {target for target, _ in targeted}
    for rid, routine in flow.routines.items():
        if "trigger" in routine._slots and rid not in fed:
            continue  # an entry routine: its other slots are alternatives, not gaps
        for name in routine._slots:
            if name != "trigger" and (rid, name) not in targeted:
                issues.append(
                    ValidationIssue(
                        WARNING, f"slot '{name}' of routine '{rid}' is not connected", rid
                    )
                )

    if entry_routine_id in flow.routines:
        reached = {entry_routine_id}
        frontier = [entry_routine_id]
        while frontier:
            for nxt in edges[frontier.pop()]:
                if nxt not in reached:
                    reached.add(nxt)
                    frontier.append(nxt)
        for rid in flow.routines:
            if rid not in reached:
                issues.append(
                    ValidationIssue(
                        WARNING, f"routine '{rid}' is not reached from '{entry_routine_id}'", rid
                    )
                )

    for cycle in _cycles(edges):
        issues.append(
            ValidationIssue(WARNING, "cycle: " + " -> ".join([*cycle, cycle[0]]), cycle[0])
        )
    return sorted(issues, key=lambda issue: issue.severity != ERROR)


def _missing_parameters(flow: Flow) -> list[ValidationIssue]:
    """Required handler parameters that no connection into the slot delivers."""
    incoming: dict[tuple[str, str], list[Connection]] = {}
    for connection in flow.connections:
        target, slot = connection.target_routine_id, connection.target_slot
        if target in flow.routines and slot is not None and connection.source_event:
            incoming.setdefault((target, slot.name), []).append(connection)
    issues = []
    for (target, slot_name), connections in incoming.items():
        slot = connections[0].target_slot
        assert slot is not None
        delivered: set[str] = set()
        for connection in connections:
            keys = _delivered(connection)
            if keys is None:
                break
            delivered |= keys
        else:
            sources = ", ".join(
                f"{c.source_routine_id}.{c.source_event.name}"  # type: ignore[union-attr]
                for c in connections
            )
            for name in _missing(slot, delivered):
                issues.append(
                    ValidationIssue(
                        WARNING,
                        f"the handler of slot '{slot_name}' of routine '{target}' needs "
                        f"'{name}', which no connection delivers (from {sources})",
                        target,
                    )
                )
            lone = _lone_parameter(slot)
            if lone is not None and lone not in delivered:
                issues.append(
                    ValidationIssue(
                        WARNING,
                        f"the handler of slot '{slot_name}' of routine '{target}' takes one "
                        f"parameter, '{lone}', which no connection delivers (from {sources}, "
                        f"delivering {sorted(delivered)}): it receives the whole delivery "
                        f"as a dict. Name it after a delivered key (or 'data' to take the "
                        "dict on purpose)",
                        target,
                    )
                )
    return issues


def _lone_parameter(slot: Slot) -> str | None:
    """The name of a slot handler's only parameter when a delivery without that key
    hands it the whole dict (not for ``data``, which always takes the dict)."""
    handler = slot.handler
    if handler is None:
        return None
    try:
        parameters = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        return None
    if len(parameters) != 1:
        return None
    (parameter,) = parameters
    if parameter.kind not in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
        return None
    return None if parameter.name == "data" else parameter.name


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of routines that loops (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in edges[node]:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found

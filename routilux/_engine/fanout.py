"""Where an event's emissions go in one flow, resolved once per event.

A *route* is what the job machine needs to commit an emission: the slot index of the
only target when the event has exactly one target, no param mapping and no observers
(the common case, committed with two appends), else ``(targets, observed)``.

An emission inside a job is queued for every slot connected to the event, in connect
order: the connections the flow made, and direct connections (``event.connect(slot)``)
to slots of routines in the flow. Connections another flow made for a routine this flow
shares are not this flow's. :func:`targets` works that out the first time an event of
the flow emits and keeps it in the flow's table, which ``Flow.connect`` empties.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routilux._signals import wiring_version
from routilux.event import Event
from routilux.exceptions import RoutineNotFoundError

if TYPE_CHECKING:
    from routilux._engine.graph import FlowGraph

__all__ = ["Target", "resolve_all", "route", "table", "targets"]

#: ``(slot index in the flow's slot table, param mapping or None)``.
Target = tuple[int, "dict[str, str] | None"]


def table(flow: FlowGraph) -> dict[Any, Any]:
    """The flow's table of resolved events, emptied whenever any connection anywhere
    changed since it was filled (connections are rarely changed while jobs run)."""
    version = wiring_version[0]
    if flow._fanout_version != version:
        flow._fanout = {}
        flow._fanout_version = version
    return flow._fanout


Route = "int | tuple[tuple[Target, ...], bool]"


def route(flow: FlowGraph, event: Event) -> Any:
    """The route of ``event`` in ``flow`` (see the module documentation).

    Raises:
        RoutineNotFoundError: see :func:`targets`.
    """
    resolved = table(flow)
    found = resolved.get(event)
    if found is None:
        found = resolved[event] = _route(flow, event)
    return found


def targets(flow: FlowGraph, event: Event) -> tuple[Target, ...]:
    """The targets of ``event`` in ``flow``.

    Raises:
        RoutineNotFoundError: a direct connection to a routine that is not in the flow.
    """
    found = route(flow, event)
    if type(found) is int:
        return ((found, None),)
    return found[0]  # type: ignore[no-any-return]


def _route(flow: FlowGraph, event: Event) -> Any:
    resolved = _resolve(flow, event)
    observed = bool(event.signal.receivers)
    if len(resolved) == 1 and resolved[0][1] is None and not observed:
        return resolved[0][0]
    return (resolved, observed)


def _resolve(flow: FlowGraph, event: Event) -> tuple[Target, ...]:
    """Raises RoutineNotFoundError for a direct connection to a routine that is not in
    the flow (the emission cannot be delivered in a job of this flow)."""
    routine_ids = flow._routine_ids
    resolved: list[Target] = []
    for connection in event.connections:
        slot = connection.target_slot
        if slot is None:
            continue
        if connection.flow is None:
            if slot.routine is None or id(slot.routine) not in routine_ids:
                raise RoutineNotFoundError(
                    f"{slot!r}, connected directly to event '{event.name}', belongs to a "
                    f"routine that is not in flow '{flow.flow_id}'; connect routines with "
                    "Flow.connect"
                )
        elif connection.flow is not flow:
            continue  # another flow's connection of a routine the flows share
        mapping = connection.param_mapping or None
        resolved.append((flow._slot_index(slot), mapping))
    return tuple(resolved)


def resolve_all(flow: FlowGraph, held: list[tuple[str, Any, Any, float]]) -> None:
    """Resolve the events of held emissions before they are committed (outside the
    machine's lock), so that an emission that cannot be delivered fails its activation.

    Raises:
        RoutineNotFoundError: see :func:`targets`.
    """
    resolved = table(flow)
    for _, target, _, _ in held:
        if type(target) is Event and target not in resolved:
            resolved[target] = _route(flow, target)

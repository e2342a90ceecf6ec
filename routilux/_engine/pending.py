"""Activations leaving the machine and coming back, by routine id and slot name.

Inside a run an activation is ``(meta, data)`` with the slot given by its index in the
flow's slot table (see :mod:`routilux._engine.queue`). Whenever work leaves the run --
parked in ``job_state.pending_tasks`` by a pause, handed to a store at a checkpoint,
waiting for a retry -- it becomes a public :class:`~routilux.activation.Activation`;
:func:`from_activation` turns one back, checking that the flow still has its slot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routilux._activation_parts import ActivationParts
from routilux._engine.queue import ENTRY, MERGED, pack, unpack
from routilux.activation import Activation, ActivationRow, Activations
from routilux.exceptions import EventNotFoundError, RoutineNotFoundError, SlotNotFoundError

if TYPE_CHECKING:
    from routilux._engine.graph import FlowGraph
    from routilux.event import Event
    from routilux.routine import Routine
    from routilux.slot import Slot

__all__ = [
    "RowMaker",
    "activations_of",
    "buffers_by_index",
    "from_activation",
    "resolve_deferred",
    "slot_named",
    "to_activation",
]


def to_activation(flow: FlowGraph, meta: int, data: Any, activation_id: str) -> Activation:
    """The public form of a queued activation of ``flow``."""
    index, attempt, flags = unpack(meta)
    slot = flow._slot_table[index]
    routine = slot.routine
    routine_id = flow._routine_ids.get(id(routine)) if routine is not None else None
    return Activation(
        routine_id=routine_id or "",
        slot_name=slot.name,
        data=data,
        activation_id=activation_id,
        attempt=attempt,
        entry=bool(flags & ENTRY),
        merged=bool(flags & MERGED),
    )


class RowMaker:
    """Turns queued activations of one flow into :data:`~routilux.activation.ActivationRow`
    tuples, looking each slot's names up once."""

    __slots__ = ("flow", "names")

    def __init__(self, flow: FlowGraph) -> None:
        self.flow = flow
        self.names: dict[int, tuple[str, str]] = {}

    def __call__(self, meta: int, data: Any, activation_id: str) -> ActivationRow:
        index, attempt, flags = unpack(meta)
        names = self.names.get(index)
        if names is None:
            slot = self.flow._slot_table[index]
            routine = slot.routine
            routine_id = self.flow._routine_ids.get(id(routine)) if routine is not None else None
            names = self.names[index] = (routine_id or "", slot.name)
        return (
            names[0],
            names[1],
            data,
            activation_id,
            attempt,
            bool(flags & ENTRY),
            bool(flags & MERGED),
        )


def activations_of(
    flow: FlowGraph,
    start: int,
    metas: list[int],
    datas: list[Any],
    kept_ids: dict[int, str],
    id_prefix: str,
) -> Activations:
    """Queued activations (numbered from ``start``; ids ``id_prefix + seq`` unless
    ``kept_ids`` has one) as :class:`~routilux.activation.Activations` kept by column,
    each distinct meta looked up once."""
    make_row = RowMaker(flow)
    table = list(dict.fromkeys(metas))
    position = {meta: index for index, meta in enumerate(table)}
    kinds = []
    for meta in table:
        routine_id, slot_name, _, _, attempt, entry, merged = make_row(meta, None, "")
        kinds.append((routine_id, slot_name, attempt, entry, merged))
    return Activations._of_parts(
        ActivationParts(
            kinds,
            list(map(position.__getitem__, metas)),
            datas,
            id_prefix=id_prefix,
            first_seq=start,
            kept_ids=dict(kept_ids),
        )
    )


def slot_named(flow: FlowGraph, job_id: str, routine_id: Any, slot_name: Any, what: str) -> Slot:
    """The slot ``routine_id.slot_name`` of ``flow``.

    Raises:
        RoutineNotFoundError, SlotNotFoundError: naming the job and ``what`` names it.
    """
    routine = flow.routines.get(routine_id) if isinstance(routine_id, str) else None
    if routine is None:
        raise RoutineNotFoundError(
            f"{what} of job '{job_id}' names routine '{routine_id}', which is not in flow "
            f"'{flow.flow_id}'"
        )
    slot = routine.get_slot(slot_name) if isinstance(slot_name, str) else None
    if slot is None:
        raise SlotNotFoundError(
            f"{what} of job '{job_id}' names slot '{slot_name}', which routine "
            f"'{routine_id}' does not have"
        )
    return slot


def from_activation(flow: FlowGraph, job_id: str, activation: Any) -> tuple[int, Any, str]:
    """``(meta, data, activation id)`` of an activation coming back into a run.

    Raises:
        RoutineNotFoundError, SlotNotFoundError: the flow lacks its slot.
    """
    slot = slot_named(
        flow, job_id, activation["slot_routine_id"], activation["slot_name"], "Pending work"
    )
    flags = (MERGED if activation["merged"] else 0) | (ENTRY if activation["is_entry"] else 0)
    meta = pack(flow._slot_index(slot), int(activation["retry_count"] or 0), flags)
    activation_id = getattr(activation, "activation_id", None) or ""
    return meta, activation["data"] or {}, activation_id


def resolve_deferred(
    flow: FlowGraph, job_id: str, entry: dict[str, Any]
) -> tuple[str, Routine, Event, Any]:
    """A deferred event of a paused job: ``(routine id, routine, event, data)``.

    Raises:
        RoutineNotFoundError, EventNotFoundError: the flow lacks it.
    """
    routine_id = entry.get("routine_id")
    routine = flow.routines.get(routine_id) if isinstance(routine_id, str) else None
    if routine is None:
        raise RoutineNotFoundError(
            f"Deferred event of job '{job_id}' names routine '{routine_id}', which is not "
            f"in flow '{flow.flow_id}'"
        )
    name = entry.get("event_name")
    event = routine.get_event(name) if isinstance(name, str) else None
    if event is None:
        raise EventNotFoundError(
            f"Deferred event '{name}' of job '{job_id}' does not exist in routine '{routine_id}'"
        )
    assert isinstance(routine_id, str)
    return routine_id, routine, event, entry.get("data") or {}


def buffers_by_index(
    flow: FlowGraph, job_id: str, buffers: dict[str, dict[str, Any]]
) -> dict[int, Any]:
    """A paused job's merge buffers (routine id -> slot name -> buffer) by slot index.

    Raises:
        RoutineNotFoundError, SlotNotFoundError: the flow lacks one of the slots.
    """
    return {
        flow._slot_index(slot_named(flow, job_id, routine_id, slot_name, "Merge buffer")): buffer
        for routine_id, slots in buffers.items()
        for slot_name, buffer in slots.items()
    }

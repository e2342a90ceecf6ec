"""A slot activation as it leaves the engine: pending work of a paused or stored job.

Inside a running job the engine keeps activations in a compact form of its own. Every
activation that leaves it -- parked in ``job_state.pending_tasks`` when the job pauses,
written to a store at a checkpoint, waiting for a retry, and later sent to a remote
worker -- is an :class:`Activation`: it names its slot by routine id and slot name (never
by an index that means something only in one process), carries an id that is unique in
its job and stays the same across retries, and the number of attempts already made.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import attrs

__all__ = ["Activation", "ActivationRow", "Activations"]

#: An activation as a plain tuple, in the order of :class:`Activation`'s fields:
#: ``(routine_id, slot_name, data, activation_id, attempt, entry, merged)``.
ActivationRow = tuple[str, str, Any, str, int, bool, bool]

# The 0.9 names of the keys of a pending task, as ``job_state.pending_tasks`` showed them.
_KEYS = ("slot_routine_id", "slot_name", "data", "retry_count", "merged", "is_entry")


@attrs.frozen(slots=True)
class Activation(Mapping[str, Any]):
    """One slot activation waiting to run (immutable).

    Attributes:
        routine_id: the id of the routine in its flow.
        slot_name: the slot of that routine.
        data: what the slot receives (already renamed by the connection's mapping; for
            ``merged`` activations, what the handler receives).
        activation_id: unique in its job; a retry keeps the id of the failed attempt.
        attempt: how many attempts were made before (0 for a first run).
        entry: whether it is the job's entry activation (its failure fails the job
            when no error handler says otherwise).
        merged: whether ``data`` was already merged into the slot's buffer (a retry
            must not merge it twice).

    For code written against routilux 0.9, an activation also reads as the dict 0.9
    kept in ``job_state.pending_tasks``: ``activation["slot_routine_id"]``,
    ``["slot_name"]``, ``["data"]``, ``["retry_count"]``, ``["merged"]``,
    ``["is_entry"]`` (and ``dict(activation)``).
    """

    routine_id: str
    slot_name: str
    data: Any
    activation_id: str
    attempt: int = 0
    entry: bool = False
    merged: bool = False

    def __getitem__(self, key: str) -> Any:
        if key == "slot_routine_id":
            return self.routine_id
        if key == "slot_name":
            return self.slot_name
        if key == "data":
            return self.data
        if key == "retry_count":
            return self.attempt
        if key == "merged":
            return self.merged
        if key == "is_entry":
            return self.entry
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(_KEYS)

    def __len__(self) -> int:
        return len(_KEYS)

    # Mapping's __eq__ would compare as a dict; attrs' field-wise one is meant. Both
    # are set explicitly so the two bases cannot disagree about it.
    def __eq__(self, other: object) -> bool:
        if type(other) is not Activation:
            if isinstance(other, Mapping):
                return dict(self) == dict(other)  # 0.9 code compares with dicts
            return NotImplemented
        return (
            self.routine_id == other.routine_id
            and self.slot_name == other.slot_name
            and self.activation_id == other.activation_id
            and self.attempt == other.attempt
            and self.entry == other.entry
            and self.merged == other.merged
            and self.data == other.data
        )

    def __hash__(self) -> int:
        return hash((self.routine_id, self.slot_name, self.activation_id, self.attempt))


class Activations(Sequence[Activation]):
    """A read-only sequence of activations kept as rows (see :data:`ActivationRow`).

    The engine hands stores the activations of a checkpoint this way: an
    :class:`Activation` is made only when an item is read, and :meth:`rows` gives the
    plain tuples, which is what a store that writes many of them wants.
    """

    __slots__ = ("_rows",)

    def __init__(self, rows: Sequence[ActivationRow] = ()) -> None:
        self._rows = list(rows)

    def rows(self) -> list[ActivationRow]:
        """The activations as plain tuples (the sequence's own list: do not change it)."""
        return self._rows

    @overload
    def __getitem__(self, index: int) -> Activation: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Activation]: ...

    def __getitem__(self, index: int | slice) -> Activation | Sequence[Activation]:
        if isinstance(index, slice):
            return Activations(self._rows[index])
        return Activation(*self._rows[index])

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Activation]:
        for row in self._rows:
            yield Activation(*row)

    def __repr__(self) -> str:
        return f"Activations({len(self._rows)})"

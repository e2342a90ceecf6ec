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

from routilux._activation_parts import ActivationParts

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
    :func:`routilux.documents.compact_activations` turns the sequence into JSON data
    without making either (the engine keeps a checkpoint's activations by column).
    """

    __slots__ = ("_parts", "_rows")

    def __init__(self, rows: Sequence[ActivationRow] = ()) -> None:
        self._rows: list[ActivationRow] | None = list(rows)
        self._parts: ActivationParts | None = None

    @classmethod
    def _of_parts(cls, parts: ActivationParts) -> Activations:
        """Activations kept as ``parts`` (not copied)."""
        activations = cls()
        activations._rows = None
        activations._parts = parts
        return activations

    def _parts_of(self) -> ActivationParts:
        """The activations as :class:`ActivationParts` (the sequence's own, when it was
        made of them: do not change them)."""
        parts = self._parts
        if parts is not None:
            return parts
        rows = self.rows()
        kinds: dict[tuple[str, str, int, bool, bool], int] = {}
        kind_of = [
            kinds.setdefault((row[0], row[1], row[4], row[5], row[6]), len(kinds)) for row in rows
        ]
        return ActivationParts(
            list(kinds), kind_of, [row[2] for row in rows], [row[3] for row in rows]
        )

    def rows(self) -> list[ActivationRow]:
        """The activations as plain tuples (the sequence's own list: do not change it)."""
        rows = self._rows
        if rows is None:
            parts = self._parts
            assert parts is not None
            # Two threads may both make the list; they make equal ones.
            rows = self._rows = [
                (kind[0], kind[1], data, activation_id, kind[2], kind[3], kind[4])
                for kind, data, activation_id in zip(
                    map(parts.kinds.__getitem__, parts.kind_of),
                    parts.datas,
                    parts.ids(),
                    strict=True,
                )
            ]
        return rows

    @overload
    def __getitem__(self, index: int) -> Activation: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Activation]: ...

    def __getitem__(self, index: int | slice) -> Activation | Sequence[Activation]:
        if isinstance(index, slice):
            return Activations(self.rows()[index])
        return Activation(*self.rows()[index])

    def __len__(self) -> int:
        rows = self._rows
        if rows is None:
            return len(self._parts.datas) if self._parts is not None else 0
        return len(rows)

    def __iter__(self) -> Iterator[Activation]:
        for row in self.rows():
            yield Activation(*row)

    def __repr__(self) -> str:
        return f"Activations({len(self)})"

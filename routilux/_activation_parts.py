"""Activations kept by column: how the engine hands a checkpoint's queued work over.

A checkpoint of a long job can hold hundreds of thousands of activations, most of them
of a few slots; keeping them as a table of distinct slots plus one index per
activation, and their ids as a numbering, lets a store write them without making an
object (or even a tuple) per activation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["ActivationParts"]


@attrs.frozen(slots=True)
class ActivationParts:
    """Activations by column, as the engine keeps a checkpoint's (private).

    ``kinds`` are the distinct ``(routine_id, slot_name, attempt, entry, merged)`` of
    the activations, ``kind_of`` each activation's index into them; ``datas`` their
    data; the ids are ``id_prefix + seq`` (seq counting from ``first_seq``), but for
    those in ``kept_ids`` (by seq) -- or ``given_ids`` when not None.
    """

    kinds: list[tuple[str, str, int, bool, bool]]
    kind_of: list[int]
    datas: list[Any]
    given_ids: list[str] | None = None
    id_prefix: str = ""
    first_seq: int = 0
    kept_ids: Mapping[int, str] = attrs.Factory(dict)

    def ids(self) -> list[str]:
        if self.given_ids is not None:
            return self.given_ids
        prefix, kept = self.id_prefix, self.kept_ids
        seqs = range(self.first_seq, self.first_seq + len(self.datas))
        if kept:
            return [kept.get(seq) or f"{prefix}{seq}" for seq in seqs]
        return [f"{prefix}{seq}" for seq in seqs]

"""The queue of one job: activations waiting to run, oldest first, and its bound.

An activation is kept as two items of two deques: an int ``meta`` packing the slot's
index in the flow's slot table with the attempt number and two flags, and the data.
Queueing creates no container object per activation: a long queue of tuples made the
garbage collector's full collections more frequent and slower as a job grew.

Each queued activation has a sequence number, ``seq``: the number of activations queued
before it in this run. It is also the activation's id, unless the activation brought an
id of its own (a retry keeps the id of its first attempt; work restored from a paused or
stored job keeps its ids): those are kept in ``ids`` by sequence number.

Not thread safe: the job machine's lock guards it.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

__all__ = ["ENTRY", "MERGED", "PLAIN_LIMIT", "ActivationQueue", "pack", "unpack"]

#: Flag: the job's entry activation.
ENTRY = 1
#: Flag: the data was already merged into the slot's buffer (a retry).
MERGED = 2

#: Metas below this are a bare slot index: attempt 0, no flags (the common case).
PLAIN_LIMIT = 1 << 32


def pack(index: int, attempt: int, flags: int) -> int:
    """The meta of an activation of slot ``index``."""
    if not attempt and not flags:
        return index
    return index | (flags << 32) | (attempt << 34)


def unpack(meta: int) -> tuple[int, int, int]:
    """``(slot index, attempt, flags)`` of a meta."""
    return meta & (PLAIN_LIMIT - 1), meta >> 34, (meta >> 32) & 3


class ActivationQueue:
    """FIFO of activations (see the module documentation)."""

    __slots__ = ("appended", "datas", "ids", "metas")

    def __init__(self) -> None:
        self.metas: deque[int] = deque()
        self.datas: deque[Any] = deque()
        #: How many activations were ever queued: the next one's sequence number.
        self.appended = 0
        #: seq -> activation id, for activations whose id is not their seq.
        self.ids: dict[int, str] = {}

    def push(self, meta: int, data: Any, activation_id: str | None = None) -> None:
        if activation_id is not None:
            self.ids[self.appended] = activation_id
        self.metas.append(meta)
        self.datas.append(data)
        self.appended += 1

    @property
    def first_seq(self) -> int:
        """The sequence number of the oldest queued activation."""
        return self.appended - len(self.metas)

    def pop(self) -> tuple[int, Any, int, str | None]:
        """Remove the oldest activation: ``(meta, data, seq, kept id or None)``."""
        seq = self.appended - len(self.metas)
        kept = self.ids.pop(seq, None) if self.ids else None
        return self.metas.popleft(), self.datas.popleft(), seq, kept

    def entries(self, since: int = 0) -> list[tuple[int, Any, int]]:
        """``(meta, data, seq)`` of the queued activations with ``seq >= since``."""
        start, metas, datas = self.columns(since)
        return [
            (meta, data, start + offset)
            for offset, (meta, data) in enumerate(zip(metas, datas, strict=True))
        ]

    def columns(self, since: int = 0) -> tuple[int, list[int], list[Any]]:
        """``(first seq, metas, datas)`` of the queued activations with ``seq >=
        since``, as two new lists."""
        first = self.first_seq
        start = max(since, first)
        count = self.appended - start
        if count <= 0:
            return start, [], []
        if start == first:
            return start, list(self.metas), list(self.datas)
        # The newest ``count``: a deque is walked from its right end, not skipped.
        metas = list(itertools.islice(reversed(self.metas), count))
        datas = list(itertools.islice(reversed(self.datas), count))
        metas.reverse()
        datas.reverse()
        return start, metas, datas

    def clear(self) -> None:
        self.metas.clear()
        self.datas.clear()
        self.ids.clear()

    def __len__(self) -> int:
        return len(self.metas)

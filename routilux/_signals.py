"""The blinker signal behind every :class:`~routilux.Event`.

blinker's :class:`~blinker.Signal` has two defaults that are wrong for a dataflow
engine: it keeps receivers by weak reference (a bound method of a temporary object
silently disappears) and it calls them in an unspecified order. Routilux connects
its own receivers with ``weak=False`` and uses :class:`FanoutSignal`, which calls
receivers in the order they were first connected, including receivers connected for
one sender only.

``FanoutSignal.send`` also keeps a resolved tuple of receivers while every receiver is
strong, synchronous and connected for any sender (the case for every signal Routilux
wires itself), which makes a send cost one call per receiver instead of a walk of
blinker's bookkeeping. Any other case falls back to blinker's own ``send``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator
from inspect import iscoroutinefunction
from typing import Any

from blinker import ANY, Signal
from blinker._utilities import make_id  # the ids blinker keys its bookkeeping by
from blinker.base import ANY_ID

__all__ = ["FanoutSignal", "OrderedIdSet", "ordered_receivers", "wiring_version"]

#: Bumped whenever a connection or an observer is added or removed anywhere; flows
#: work out again where their events' emissions go when it changed (see
#: ``routilux._engine.fanout``).
wiring_version = [0]


class OrderedIdSet:
    """A small insertion-ordered set, the ``set_class`` blinker uses for bookkeeping.

    It implements exactly the operations blinker calls: ``add``, ``discard``,
    ``copy``, ``|``, iteration, ``len``, ``in`` and truth.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._items: dict[Any, None] = dict.fromkeys(items)

    def add(self, item: Any) -> None:
        self._items[item] = None

    def discard(self, item: Any) -> None:
        self._items.pop(item, None)

    def copy(self) -> OrderedIdSet:
        return OrderedIdSet(self._items)

    def __or__(self, other: Iterable[Any]) -> OrderedIdSet:
        merged = OrderedIdSet(self._items)
        for item in other:
            merged.add(item)
        return merged

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __bool__(self) -> bool:
        return bool(self._items)

    def __repr__(self) -> str:
        return f"OrderedIdSet({list(self._items)!r})"


def ordered_receivers(signal: Signal, sender: Any) -> Generator[Callable[..., Any], None, None]:
    """The receivers of ``signal`` for ``sender`` (and for any sender), in the order
    they were first connected (the signal's ``set_class`` keeps that order).

    Dead weak receivers are disconnected and skipped, as in blinker.
    """
    if not signal.receivers:
        return
    any_sender = signal._by_sender.get(ANY_ID, ())
    this_sender = signal._by_sender.get(make_id(sender), ()) if sender is not ANY else ()
    for receiver_id, receiver in list(signal.receivers.items()):
        if receiver_id not in any_sender and receiver_id not in this_sender:
            continue
        if isinstance(receiver, weakref.ref):
            strong = receiver()
            if strong is None:
                signal._disconnect(receiver_id, ANY_ID)
                continue
            yield strong
        else:
            yield receiver


class FanoutSignal(Signal):
    """A blinker signal that calls receivers in connect order.

    Receivers are called as blinker always calls them, ``receiver(sender, **kwargs)``.
    An exception raised by a receiver propagates and the remaining receivers are not
    called (blinker's behaviour); the receivers Routilux installs never raise.

    Thread safety: ``send`` may be called from many threads at once. ``connect`` and
    ``disconnect`` are not safe to call concurrently with each other; Routilux calls
    them only while wiring a flow, under the flow's lock.
    """

    set_class = OrderedIdSet  # type: ignore[assignment]

    def __init__(self, doc: str | None = None) -> None:
        super().__init__(doc)
        # Reentrant: blinker disconnects dead weak receivers from GC callbacks, which
        # can run in a thread that already holds the lock.
        self._resolve_lock = threading.RLock()
        # None: not resolved yet; False: not cacheable; tuple: receivers in order.
        self._resolved: tuple[Callable[..., Any], ...] | bool | None = None

    def connect(self, receiver: Any, sender: Any = ANY, weak: bool = True) -> Any:
        with self._resolve_lock:
            try:
                return super().connect(receiver, sender, weak)
            finally:
                self._resolved = None
                wiring_version[0] += 1

    def _disconnect(self, receiver_id: Any, sender_id: Any) -> None:
        with self._resolve_lock:
            try:
                super()._disconnect(receiver_id, sender_id)
            finally:
                self._resolved = None
                wiring_version[0] += 1

    def _resolve(self) -> tuple[Callable[..., Any], ...] | bool:
        """The receivers in connect order if every one of them is strong, synchronous
        and connected for any sender only; else False (use blinker's bookkeeping)."""
        for sender_id, bucket in self._by_sender.items():
            if sender_id != ANY_ID and bucket:
                return False
        any_sender = self._by_sender.get(ANY_ID, ())
        receivers = []
        for receiver_id, receiver in self.receivers.items():
            if receiver_id not in any_sender:
                return False  # e.g. left over from a sender-specific connection
            if isinstance(receiver, weakref.ref) or iscoroutinefunction(receiver):
                return False
            receivers.append(receiver)
        return tuple(receivers)

    def receivers_for(self, sender: Any) -> Generator[Callable[..., Any], None, None]:
        """Yield the receivers for ``sender`` (and for any sender) in connect order.

        Dead weak receivers are disconnected and skipped, as in blinker.
        """
        return ordered_receivers(self, sender)

    def _receivers(self) -> tuple[Callable[..., Any], ...] | bool:
        resolved = self._resolved
        if resolved is None:
            with self._resolve_lock:
                resolved = self._resolved
                if resolved is None:
                    resolved = self._resolved = self._resolve()
        return resolved

    def emit_data(self, sender: Any, data: dict[str, Any], job_state: Any) -> None:
        """``send(sender, data=data, job_state=job_state)`` without collecting results.

        The engine's hot path: every receiver is called in order, exactly as
        :meth:`send` would call it.
        """
        resolved = self._resolved
        if resolved is None:
            resolved = self._receivers()
        if resolved is False or self.is_muted:
            self.send(sender, data=data, job_state=job_state)
            return
        for receiver in resolved:  # type: ignore[union-attr]
            receiver(sender, data=data, job_state=job_state)

    def send(
        self,
        sender: Any | None = None,
        /,
        *,
        _async_wrapper: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Callable[..., Any], Any]]:
        resolved = self._resolved
        if resolved is None:
            resolved = self._receivers()
        if resolved is False or _async_wrapper is not None or self.is_muted:
            return super().send(sender, _async_wrapper=_async_wrapper, **kwargs)
        results = []
        for receiver in resolved:  # type: ignore[union-attr]
            results.append((receiver, receiver(sender, **kwargs)))
        return results

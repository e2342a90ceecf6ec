"""The switchboard of observation: the flags the engine tests before it observes.

Observing a job costs something (a record per activation, signal deliveries, spans);
not observing must cost nothing. The engine therefore tests the attributes of
:data:`hooks`, a single module-level object, at its few observation points: once per
activation (or per batch of the sequential strategy's fast path) and once per job
start and settle. Nothing else is looked at while they are false.

The flags are recomputed here whenever a receiver is connected to or disconnected from
a lifecycle signal (:class:`LifecycleSignal`, the signals of :mod:`routilux.signals`),
whenever tracing is switched on or off (:mod:`routilux.tracing`) and whenever a traced
job run starts or settles (a run traced when it started stays observed until it
settles, tracing switched off meanwhile or not). They are plain attributes read
without a lock: a receiver connected while a job runs is seen from its next activation
(or batch) on.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Generator, Iterable
from typing import Any, cast

from blinker import ANY, NamedSignal, Namespace
from blinker.base import ANY_ID

from routilux._signals import OrderedIdSet, ordered_receivers

__all__ = [
    "ACTIVATION",
    "JOB",
    "Hooks",
    "LifecycleNamespace",
    "LifecycleSignal",
    "hooks",
    "namespace",
    "refresh",
    "set_tracing",
    "traced_run",
]

#: The level of a signal about a whole job (started, settled).
JOB = "job"
#: The level of a signal about one activation (or one of its emissions).
ACTIVATION = "activation"


class Hooks:
    """What the engine observes now (see the module documentation).

    ``activations``: activations are observed (a receiver of an activation-level
    signal is connected, or tracing is on). ``receivers``: a receiver of an
    activation-level signal is connected. ``jobs``: job starts and settles are
    observed (any receiver, tracing on, or tracing waiting for a tracer provider).
    ``tracing``: the tracer in use (``routilux._observe_trace.Tracing``), or None.
    ``pending``: tracing was switched on before a tracer provider was configured; each
    job start checks again. ``traced``: how many job runs that have a span have not
    settled yet (their activations and their settle stay observed while tracing is off).
    """

    __slots__ = ("activations", "jobs", "pending", "receivers", "traced", "tracing")

    def __init__(self) -> None:
        self.activations = False
        self.jobs = False
        self.receivers = False
        self.tracing: Any = None
        self.pending: Any = None
        self.traced = 0


#: The flags the engine tests (one object for the whole process).
hooks = Hooks()

# Reentrant: blinker disconnects dead weak receivers from GC callbacks, which can run
# in a thread that already holds it.
_lock = threading.RLock()


class LifecycleSignal(NamedSignal):
    """A blinker signal of the job lifecycle (see :mod:`routilux.signals`).

    It is blinker's :class:`~blinker.NamedSignal` with three differences: receivers are
    called in the order they were first connected, connecting or disconnecting a
    receiver switches the engine's observation of its level (``"job"`` or
    ``"activation"``) on or off, and a coroutine function cannot be connected.
    Routilux sends it itself; senders outside the engine are not expected.
    """

    set_class = OrderedIdSet  # type: ignore[assignment]

    def __init__(self, name: str, doc: str | None = None, *, level: str = ACTIVATION) -> None:
        super().__init__(name, doc)
        self.level = level
        # None: not resolved yet; False: some receiver is for one sender only; else the
        # receivers (or weak references to them) in connect order.
        self._resolved: tuple[Any, ...] | bool | None = None

    def connect(self, receiver: Any, sender: Any = ANY, weak: bool = True) -> Any:
        """Connect ``receiver`` as blinker does.

        Raises:
            TypeError: ``receiver`` is a coroutine function (the engine calls receivers,
                it never awaits them).
        """
        if inspect.iscoroutinefunction(receiver):
            raise TypeError(
                f"{receiver!r} is a coroutine function: a receiver of {self.name!r} must "
                "be a plain function (it is called, never awaited)"
            )
        with _lock:
            try:
                return super().connect(receiver, sender, weak)
            finally:
                self._changed()

    def _disconnect(self, receiver_id: Any, sender_id: Any) -> None:
        with _lock:
            try:
                super()._disconnect(receiver_id, sender_id)
            finally:
                self._changed()

    def _clear_state(self) -> None:
        with _lock:
            try:
                super()._clear_state()
            finally:
                self._changed()

    def _make_cleanup_sender(self, sender_id: Any) -> Callable[[Any], None]:
        cleanup = super()._make_cleanup_sender(sender_id)

        def cleanup_and_forget(ref: Any) -> None:
            with _lock:
                try:
                    cleanup(ref)
                finally:
                    self._changed()

        return cleanup_and_forget

    def _changed(self) -> None:
        self._resolved = None
        refresh()

    def receivers_for(self, sender: Any) -> Generator[Callable[..., Any], None, None]:
        """Yield the receivers for ``sender`` (and for any sender) in connect order.

        Dead weak receivers are disconnected and skipped, as in blinker.
        """
        return ordered_receivers(self, sender)

    def receivers_now(self, sender: Any) -> Iterable[Any]:
        """The receivers to call for ``sender``, in connect order; some may be weak
        references (call them for the receiver; None: it is gone). Cheaper than
        :meth:`receivers_for` while every receiver is connected for any sender."""
        resolved = self._resolved
        if resolved is None:
            with _lock:
                resolved = self._resolved = self._resolve()
        if resolved is False:
            return list(self.receivers_for(sender))
        return resolved  # type: ignore[return-value]

    def _resolve(self) -> tuple[Any, ...] | bool:
        for sender_id, bucket in self._by_sender.items():
            if sender_id != ANY_ID and bucket:
                return False
        any_sender = self._by_sender.get(ANY_ID, ())
        if any(receiver_id not in any_sender for receiver_id in self.receivers):
            return False
        return tuple(self.receivers.values())


class LifecycleNamespace(Namespace):
    """A blinker :class:`~blinker.Namespace` whose signals are
    :class:`LifecycleSignal`\\ s."""

    def signal(
        self, name: str, doc: str | None = None, *, level: str = ACTIVATION
    ) -> LifecycleSignal:
        if name not in self:
            self[name] = LifecycleSignal(name, doc, level=level)
        return cast(LifecycleSignal, self[name])


#: The namespace of Routilux's lifecycle signals (filled by :mod:`routilux.signals`).
namespace = LifecycleNamespace()


def refresh() -> None:
    """Recompute :data:`hooks` from the receivers connected now and the tracer."""
    with _lock:
        job_level = activation_level = False
        for signal in list(namespace.values()):
            if signal.receivers:
                if cast(LifecycleSignal, signal).level == JOB:
                    job_level = True
                else:
                    activation_level = True
        hooks.receivers = activation_level
        hooks.activations = activation_level or hooks.tracing is not None or hooks.traced > 0
        hooks.jobs = job_level or hooks.activations or hooks.pending is not None


def traced_run(change: int) -> None:
    """A job run with a span started (``+1``) or settled (``-1``): until it settles,
    its activations are traced and its settle observed, even if tracing is switched off
    meanwhile (its span must end)."""
    with _lock:
        hooks.traced += change
        refresh()


def set_tracing(tracing: Any, pending: Any = None) -> None:
    """Switch tracing on with ``tracing`` (or off with None); ``pending``: a tracer
    factory to try again at each job start (no tracer provider is configured yet)."""
    with _lock:
        hooks.tracing = tracing
        hooks.pending = pending
        refresh()

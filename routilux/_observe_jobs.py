"""What the engine tells observers about a job and its activations.

The engine calls these functions only when :data:`routilux._observe.hooks` says
something observes (see that module), never under a machine's lock unless the name
ends in ``_locked`` (those only keep span links: they call no receiver). They send the
signals of :mod:`routilux.signals` and, when the job is traced, make its spans (through
the :class:`routilux._observe_trace.Tracing` in use; this module never imports
OpenTelemetry).

A job observed has a :class:`JobWatch` (``machine.watch``); each activation attempt
observed has an :class:`Attempt`, kept by its queue sequence number from its start to
its end. A receiver's exception is logged and goes no further.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from contextvars import Context, Token
from time import time
from typing import TYPE_CHECKING, Any

import routilux._observe as _observe
import routilux.signals as signals
from routilux._context import Frame, Held, SlotInfo, current_frame
from routilux._observe import hooks
from routilux._observe_log import extra
from routilux.event import Event

# The machine imports this module: it is named here, not imported (no import circle).
JobMachine = Any

if TYPE_CHECKING:
    from routilux._observe import LifecycleSignal
    from routilux._observe_trace import Tracing
    from routilux.job_state import JobState

__all__ = [
    "MERGED_LINKS",
    "Attempt",
    "JobWatch",
    "activation_failed",
    "activation_finished",
    "activation_interrupted",
    "activation_retried",
    "activation_started",
    "emitted_now",
    "job_settled",
    "job_started",
    "leave",
    "link_current_locked",
    "link_held_locked",
    "remote_finished",
    "remote_sent",
    "worker_finished",
    "worker_started",
]

logger = logging.getLogger("routilux")

# Taken only to make a job's watch, which two of its drivers may want at once.
_making = threading.Lock()
# Taken only to update the emitters merged into a slot's buffer (traced jobs only).
_merging = threading.Lock()

#: How many emitters' spans an activation of a merging slot links to, at most (the
#: most recent ones).
MERGED_LINKS = 32


class JobWatch:
    """The observation of one job (kept on its machine while it lives)."""

    __slots__ = (
        "attempts",
        "held_spans",
        "links",
        "merged",
        "previous",
        "retry_links",
        "span",
        "start",
        "tracing",
    )

    def __init__(self, start: float) -> None:
        #: When the current run of the job started.
        self.start = start
        #: The span of the current run (traced jobs only), and what made it.
        self.span: Any = None
        self.tracing: Tracing | None = None
        #: The span context of the previous run's span (linked from the next one).
        self.previous: Any = None
        #: Attempts started and not ended yet, by queue sequence number.
        self.attempts: dict[int, Attempt] = {}
        #: id(held) -> span context of the activation whose emissions ``held`` are,
        #: until they are committed; then seq -> that span context for each activation
        #: they queued, until it starts.
        self.held_spans: dict[int, Any] = {}
        self.links: dict[int, Any] = {}
        #: activation id -> span context of its last failed attempt.
        self.retry_links: dict[str, Any] = {}
        #: slot index -> span contexts of the activations whose emissions were merged
        #: into that slot's buffer in this run (slots that do not override only).
        self.merged: dict[int, list[Any]] = {}


class Attempt:
    """One observed activation attempt."""

    __slots__ = (
        "activation_id",
        "attempt",
        "frame",
        "info",
        "seq",
        "span",
        "start",
        "token",
        "tracing",
    )

    def __init__(
        self, info: SlotInfo, attempt: int, seq: int, activation_id: str, start: float
    ) -> None:
        self.info = info
        self.attempt = attempt
        self.seq = seq
        self.activation_id = activation_id
        self.start = start
        self.span: Any = None
        self.tracing: Tracing | None = None
        self.token: object = None
        self.frame: Frame | None = None


def _watch(machine: JobMachine) -> JobWatch:
    """The job's watch, made when first needed (by one thread only)."""
    watch: JobWatch | None = machine.watch
    if watch is None:
        with _making:
            watch = machine.watch
            if watch is None:
                watch = machine.watch = JobWatch(machine.started_at)
    return watch


def _send(signal: LifecycleSignal, job_state: JobState, kwargs: dict[str, Any]) -> None:
    """Call each receiver of ``signal`` for ``job_state`` with ``kwargs`` (none while
    the signal is muted, as blinker's ``send`` does)."""
    if signal.is_muted:
        return
    for receiver in signal.receivers_now(job_state):
        if isinstance(receiver, weakref.ref):
            receiver = receiver()
            if receiver is None:
                continue  # gone (blinker disconnects it)
        try:
            receiver(job_state, **kwargs)
        except BaseException:
            # KeyboardInterrupt and SystemExit too: raised here they would cut the
            # engine's bookkeeping short (an activation lost, a job never settling).
            logger.exception(
                "a receiver of signal %r failed",
                signal.name,
                extra=extra(job_state.job_id, kwargs.get("routine_id"), kwargs.get("slot")),
            )


def _enter(record: Attempt) -> Token[Frame | None]:
    """Make a frame of the record's activation current for its receivers (as its
    handler's is; its ``held`` is None, so that nothing a receiver emits is taken for
    the handler's); reset with the returned token."""
    frame = record.frame
    if frame is None:
        frame = record.frame = Frame(record.info)
        frame.held = None
    return current_frame.set(frame)


def _tracing() -> Tracing | None:
    tracing: Tracing | None = hooks.tracing
    if tracing is None:
        pending: Callable[[], Tracing | None] | None = hooks.pending
        if pending is not None:
            tracing = pending()
    return tracing


# -- jobs ---------------------------------------------------------------------------------


def job_started(machine: JobMachine, *, resumed: bool) -> None:
    """A run of the job starts (its work is queued; no driver runs it yet)."""
    now = time()
    watch = _watch(machine)
    watch.start = now
    job_state = machine.job_state
    flow_id = machine.flow.flow_id
    routine_id = machine.entry_routine_id
    tracing = _tracing()
    if tracing is not None:
        span = tracing.job_span(job_state.job_id, flow_id, routine_id, resumed, watch.previous)
        if span is not None:
            watch.span = span
            watch.tracing = tracing
            machine.set_linking(True)
            _observe.traced_run(+1)
    if signals.job_started.receivers:
        _send(
            signals.job_started,
            job_state,
            {
                "job_id": job_state.job_id,
                "flow_id": flow_id,
                "routine_id": routine_id,
                "start": now,
                "resumed": resumed,
            },
        )


def job_settled(machine: JobMachine, status: str) -> None:
    """The job settled with ``status`` (before it counts as settled)."""
    watch = _watch(machine)
    job_state = machine.job_state
    if signals.job_settled.receivers:
        _send(
            signals.job_settled,
            job_state,
            {
                "job_id": job_state.job_id,
                "flow_id": machine.flow.flow_id,
                "routine_id": machine.entry_routine_id,
                "status": status,
                "start": watch.start,
                "duration": time() - watch.start,
            },
        )
    span, tracing = watch.span, watch.tracing
    if span is not None and tracing is not None:
        machine.set_linking(False)
        watch.previous = tracing.context_of(span)
        watch.span = watch.tracing = None
        try:
            tracing.end_job(span, status)
        finally:
            _observe.traced_run(-1)
    watch.attempts.clear()
    watch.held_spans.clear()
    watch.links.clear()
    watch.retry_links.clear()
    watch.merged.clear()


# -- activations ----------------------------------------------------------------------------


def activation_started(
    machine: JobMachine,
    info: SlotInfo,
    attempt: int,
    seq: int,
    kept: str | None,
    *,
    remote: bool = False,
) -> Attempt | None:
    """An attempt starts (in the context its handler runs in, its span made current
    there unless ``remote``); None if nothing observes it (run it as is)."""
    watch = _watch(machine)
    tracing = watch.tracing
    if tracing is None and not hooks.receivers:
        return None
    record = Attempt(info, attempt, seq, machine.activation_id(seq, kept), time())
    if tracing is not None:
        link = watch.links.pop(seq, None)
        if kept is not None:  # a retry (its data merged already): the failed attempt
            if link is None:
                link = watch.retry_links.pop(kept, None)
            links: tuple[Any, ...] = () if link is None else (link,)
        elif info.slot._merge_kind:  # merges into the slot's buffer: all it combines
            links = _merged(watch, info.index, link)
        else:
            links = () if link is None else (link,)
        record.tracing = tracing
        record.span = tracing.activation_span(
            watch.span,
            machine.job_state.job_id,
            info.routine_id,
            info.slot.name,
            attempt,
            record.activation_id,
            links,
            remote,
        )
        if not remote:
            record.token = tracing.attach(record.span)
    watch.attempts[seq] = record
    if signals.activation_started.receivers:
        token = _enter(record)
        try:
            _send(signals.activation_started, machine.job_state, _keywords(machine, record))
        finally:
            current_frame.reset(token)
    return record


def _merged(watch: JobWatch, index: int, link: Any) -> tuple[Any, ...]:
    """The links of an activation of a slot that merges (``"append"``, a callable):
    the span of each activation whose emission went into the slot's buffer in this run
    (its data combines them), the most recent :data:`MERGED_LINKS`, newest (``link``,
    that of its own emission) first."""
    with _merging:
        emitters = watch.merged.get(index)
        if emitters is None:
            emitters = watch.merged[index] = []
        if link is not None:
            emitters.append(link)
            if len(emitters) > MERGED_LINKS:
                del emitters[0]
        return tuple(reversed(emitters))


def _keywords(machine: JobMachine, record: Attempt) -> dict[str, Any]:
    """The keywords every activation signal has."""
    info = record.info
    return {
        "job_id": machine.job_state.job_id,
        "routine_id": info.routine_id,
        "slot": info.slot.name,
        "attempt": record.attempt,
        "activation_id": record.activation_id,
        "start": record.start,
    }


def leave(record: Attempt) -> None:
    """The handler of ``record`` returned (or raised): its span is no longer current."""
    token = record.token
    if token is not None and record.tracing is not None:
        record.token = None
        record.tracing.detach(token)


def activation_finished(machine: JobMachine, record: Attempt, held: Held | None) -> None:
    """The handler returned without an error; ``held``: what it emitted."""
    watch = _watch(machine)
    watch.attempts.pop(record.seq, None)
    duration = time() - record.start
    # Returned after its job failed or was cancelled: its emissions are dropped (the
    # job's state never goes back once stopped, so reading it without the lock is safe).
    emitted = held and signals.event_emitted.receivers and not machine.stopped_locked()
    if emitted or signals.activation_finished.receivers:
        job_state = machine.job_state
        token = _enter(record)
        try:
            if emitted:
                for routine_id, target, data, moment in held:  # type: ignore[union-attr]
                    if type(target) is Event:
                        _send(
                            signals.event_emitted,
                            job_state,
                            {
                                "job_id": job_state.job_id,
                                "routine_id": routine_id,
                                "event": target.name,
                                "data": data,
                                "time": moment,
                            },
                        )
            if signals.activation_finished.receivers:
                keywords = _keywords(machine, record)
                keywords["duration"] = duration
                _send(signals.activation_finished, job_state, keywords)
        finally:
            current_frame.reset(token)
    span, tracing = record.span, record.tracing
    if span is not None and tracing is not None:
        if held and machine.linking:
            watch.held_spans[id(held)] = tracing.context_of(span)
        tracing.end(span)


def activation_failed(
    machine: JobMachine,
    info: SlotInfo,
    attempt: int,
    seq: int,
    kept: str | None,
    error: BaseException,
) -> Attempt | None:
    """The attempt's handler raised (before its error handler decides)."""
    watch = _watch(machine)
    record = watch.attempts.pop(seq, None)
    if record is None:
        if not hooks.receivers:
            return None
        # Not observed from its start (a receiver connected meanwhile, or the
        # activation could not even be sent): what is known now.
        record = Attempt(info, attempt, seq, machine.activation_id(seq, kept), time())
    _failed(machine, record, error)
    return record


def activation_interrupted(machine: JobMachine, record: Attempt, error: BaseException) -> None:
    """The attempt was interrupted (a BaseException; its job stopped or fails)."""
    watch = machine.watch
    if watch is not None and watch.attempts.pop(record.seq, None) is not None:
        _failed(machine, record, error)


def _failed(machine: JobMachine, record: Attempt, error: BaseException) -> None:
    duration = time() - record.start
    if signals.activation_failed.receivers:
        keywords = _keywords(machine, record)
        keywords["duration"] = duration
        keywords["error"] = error
        token = _enter(record)
        try:
            _send(signals.activation_failed, machine.job_state, keywords)
        finally:
            current_frame.reset(token)
    span, tracing = record.span, record.tracing
    if span is not None and tracing is not None:
        watch = machine.watch
        if watch is not None and machine.linking:
            watch.retry_links[record.activation_id] = tracing.context_of(span)
        tracing.end_failed(span, error)


def activation_retried(
    machine: JobMachine, record: Attempt, error: BaseException, delay: float
) -> None:
    """The failed attempt of ``record`` will be retried after ``delay`` seconds."""
    if signals.activation_retried.receivers:
        keywords = _keywords(machine, record)
        keywords["duration"] = time() - record.start
        keywords["error"] = error
        keywords["delay"] = delay
        token = _enter(record)
        try:
            _send(signals.activation_retried, machine.job_state, keywords)
        finally:
            current_frame.reset(token)


def emitted_now(machine: JobMachine, info: SlotInfo, entry: tuple[str, Any, Any, float]) -> None:
    """An ``emit_now`` emission was handed on."""
    if signals.event_emitted.receivers:
        job_state = machine.job_state
        routine_id, event, data, moment = entry
        frame = Frame(info)
        frame.held = None
        token = current_frame.set(frame)
        try:
            _send(
                signals.event_emitted,
                job_state,
                {
                    "job_id": job_state.job_id,
                    "routine_id": routine_id,
                    "event": event.name,
                    "data": data,
                    "time": moment,
                },
            )
        finally:
            current_frame.reset(token)


# -- span links (under the machine's lock; no receiver is called) ------------------------


def link_held_locked(machine: JobMachine, held: Held, first: int, end: int) -> None:
    """The emissions ``held`` of a traced activation were committed as the queued
    activations ``first`` to ``end - 1``: their spans will link to its span."""
    watch = machine.watch
    if watch is None:
        return
    context = watch.held_spans.pop(id(held), None)
    if context is not None:
        links = watch.links
        for seq in range(first, end):
            links[seq] = context


def link_current_locked(machine: JobMachine, first: int, end: int) -> None:
    """An ``emit_now`` queued the activations ``first`` to ``end - 1``: their spans
    will link to the span current here (the emitting activation's)."""
    watch = machine.watch
    tracing = watch.tracing if watch is not None else None
    if watch is None or tracing is None:
        return
    context = tracing.current()
    if context is not None:
        links = watch.links
        for seq in range(first, end):
            links[seq] = context


# -- activations run by Redis workers --------------------------------------------------------


def remote_sent(
    machine: JobMachine, info: SlotInfo, attempt: int, seq: int, kept: str | None
) -> str | None:
    """An activation is sent to a worker: it starts; returns the W3C ``traceparent``
    of its span when the job is traced."""
    record = activation_started(machine, info, attempt, seq, kept, remote=True)
    if record is None or record.span is None or record.tracing is None:
        return None
    return record.tracing.traceparent(record.span)


def remote_finished(machine: JobMachine, seq: int, held: Held | None) -> None:
    """A worker's reply of a successful attempt was applied (``held``: its emissions)."""
    watch = machine.watch
    record = watch.attempts.get(seq) if watch is not None else None
    if record is not None:
        activation_finished(machine, record, held)


def worker_started(message: dict[str, Any], context: Context) -> Any:
    """On a worker: the span of the message's activation, current in ``context`` (made
    for this activation only), when tracing is on here and the message carries a
    ``traceparent``; else None."""
    traceparent = message.get("traceparent")
    tracing = _tracing()
    if tracing is None or not isinstance(traceparent, str):
        return None
    span = tracing.worker_span(
        traceparent,
        str(message.get("job")),
        str(message.get("routine")),
        str(message.get("slot")),
        message.get("attempt"),
    )
    if span is None:
        return None
    context.run(tracing.attach, span)
    return (tracing, span)


def worker_finished(started: Any, error: Any) -> None:
    """On a worker: end the span :func:`worker_started` made (``error``: the reply's
    error, if the handler raised)."""
    tracing, span = started
    tracing.end_remote(span, error)

"""The base class of every node of a flow."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from time import time
from typing import Any

import routilux._codecs as _codecs
from routilux._context import current_frame
from routilux._hybrid import hybridmethod
from routilux._merge import OVERRIDE, MergeStrategy
from routilux.error_handler import ErrorHandler, ErrorStrategy
from routilux.event import Event
from routilux.exceptions import (
    ConfigurationError,
    DuplicateNameError,
    EventNotFoundError,
    NoExecutionContextError,
)
from routilux.execution_context import ExecutionContext
from routilux.slot import Slot

__all__ = ["ExecutionContext", "Routine"]

_current_frame = current_frame.get
_time = time


class Routine:
    """A node of a flow: named input slots, named output events, and handlers.

    Subclass it, call ``super().__init__()`` first in your ``__init__`` (which takes
    no required arguments), then define slots and events::

        class Doubler(Routine):
            def __init__(self):
                super().__init__()
                self.input = self.define_slot("input", handler=self.double)
                self.output = self.define_event("output", ["value"])

            def double(self, value):
                self.emit("output", value=value * 2)

    One routine object serves every job of its flow, possibly from several threads
    at once: keep per-run state in the job (``self.get_execution_context()``), not in
    instance attributes. Static settings belong in the config (:meth:`set_config`).
    """

    def __init__(self) -> None:
        self._id = hex(id(self))
        self._slots: dict[str, Slot] = {}
        self._events: dict[str, Event] = {}
        self._config: dict[str, Any] = {}
        self._error_handler: ErrorHandler | None = None

    def _own(self, attribute: str) -> dict[str, Any]:
        try:
            return self.__dict__[attribute]  # type: ignore[no-any-return]
        except KeyError:
            raise ConfigurationError(
                f"{type(self).__name__}.__init__ must call super().__init__() "
                "before defining slots or events"
            ) from None

    # -- slots and events -------------------------------------------------------------

    def define_slot(
        self,
        name: str,
        handler: Callable[..., Any] | None = None,
        merge_strategy: MergeStrategy = OVERRIDE,
    ) -> Slot:
        """Define an input slot and return it.

        Arguments:
            name: unique among this routine's slots.
            handler: called for each delivery (see :doc:`/guide/slots` for how its
                signature decides what it receives); None to only merge.
            merge_strategy: ``"override"``, ``"append"`` or ``(old, new) -> merged``.

        Raises:
            DuplicateNameError: if the routine already has a slot called ``name``.
            InvalidStrategyError: for an unknown merge strategy.
            ConfigurationError: for an empty or non-string name.
            InvalidPayloadError: (a ``TypeError``) if ``handler`` is not callable.
        """
        slots = self._own("_slots")
        _check_name(name, "slot", self)
        if name in slots:
            raise DuplicateNameError(f"Slot '{name}' already exists in {self!r}")
        slot = Slot(name, self, handler, merge_strategy)
        slots[name] = slot
        return slot

    def define_event(self, name: str, output_params: list[str] | None = None) -> Event:
        """Define an output event and return it.

        ``output_params`` documents the keys the event carries; it is not checked.

        Raises:
            DuplicateNameError: if the routine already has an event called ``name``.
            ConfigurationError: for an empty or non-string name.
        """
        events = self._own("_events")
        _check_name(name, "event", self)
        if name in events:
            raise DuplicateNameError(f"Event '{name}' already exists in {self!r}")
        event = Event(name, self, output_params)
        events[name] = event
        return event

    def get_slot(self, name: str) -> Slot | None:
        """The slot called ``name``, or None."""
        return self._slots.get(name)

    def get_event(self, name: str) -> Event | None:
        """The event called ``name``, or None."""
        return self._events.get(name)

    def emit(self, event_name: str, /, **data: Any) -> None:
        """Emit ``event_name`` with ``data`` as keyword arguments.

        Inside a job, the emission takes effect when the handler returns: it is then
        recorded in the job's history, and each connected slot gets an activation queued
        in the same job, in connect order, after the handler's result is recorded. If
        the handler raises, its emissions are dropped (so a retry does not duplicate
        them). ``emit`` returns at once. Outside any job, connected slots run
        synchronously, in connect order. A long-running source that must hand items on
        while it runs uses :meth:`emit_now`.

        Raises:
            EventNotFoundError: if the routine has no such event.
            JobStateError: if the job this handler belonged to has already finished
                (possible only from a thread the handler left running).
        """
        event = self._events.get(event_name)
        if event is None:
            raise self._unknown_event(event_name)
        frame = _current_frame()
        if frame is not None:
            info = frame.info
            held = frame.held
            if held is not None and info.routine is self:
                held.append((info.routine_id, event, data, _time()))
                return
            job = info.job
            routine_id = info.routine_id if info.routine is self else job.routine_id_of(self)
            if routine_id is not None:
                job.emit(frame, routine_id, event, data)
                return
        event._emit_standalone(self, data)

    def emit_now(self, event_name: str, /, **data: Any) -> None:
        """Emit ``event_name`` and hand it downstream now, while the handler runs.

        Use it in a long-running source (a handler that reads a file or polls a feed)
        whose items must flow on before it returns. Unlike :meth:`emit`, what was
        emitted stays delivered if the handler later raises (a retry emits it again),
        and a routine started by it may run before this handler has returned its
        result. With a bounded queue (``Flow(queue_bound=...)``), ``emit_now`` into a
        full queue waits for room -- running queued activations itself, in this
        thread, so a job whose only driver is this thread cannot deadlock -- or raises
        :class:`~routilux.exceptions.QueueFullError` (``on_full="raise"``). Called
        from an ``async def`` handler it never waits (use :meth:`emit_now_async`).
        Once the job has failed (a STOP) or was cancelled -- also while ``emit_now``
        waits for room -- it raises :class:`~routilux.exceptions.JobStateError`
        instead of handing the item on, so that the source stops there: the job drops
        its work. Let it propagate: the activation then ends without being recorded as
        a failure. Outside any job it is the same as :meth:`emit`.

        Raises:
            EventNotFoundError: if the routine has no such event.
            QueueFullError: see above.
            JobStateError: if the job has failed, was cancelled or has already finished.
        """
        event = self._events.get(event_name)
        if event is None:
            raise self._unknown_event(event_name)
        running = self._running_activation()
        if running is None:
            event._emit_standalone(self, data)
            return
        frame, routine_id = running
        frame.info.job.emit_now(frame, routine_id, event, data)

    async def emit_now_async(self, event_name: str, /, **data: Any) -> None:
        """:meth:`emit_now` for an ``async def`` handler: ``await self.emit_now_async(
        "output", value=v)`` hands the item on now and, when the job's queue is at its
        bound (``Flow(queue_bound=...)``), awaits until there is room -- running queued
        activations itself, one at a time -- without blocking its event loop.
        (``emit_now`` called from an async handler never waits: the queue may then grow
        past its bound.) Like :meth:`emit_now`, it raises
        :class:`~routilux.exceptions.JobStateError` once the job has failed or was
        cancelled (a cancel also cancels the handler where it is suspended).

        Raises:
            EventNotFoundError: if the routine has no such event.
            QueueFullError: the queue is full and the flow says ``on_full="raise"``.
            JobStateError: if the job has failed, was cancelled or has already finished.
        """
        event = self._events.get(event_name)
        if event is None:
            raise self._unknown_event(event_name)
        running = self._running_activation()
        if running is None:
            event._emit_standalone(self, data)
            return
        frame, routine_id = running
        await frame.info.job.emit_now_async(frame, routine_id, event, data)

    def _running_activation(self) -> tuple[Any, str] | None:
        """The frame of the job activation this code runs in, and this routine's id in
        that job; None outside a job (or in a job whose flow lacks this routine)."""
        frame = _current_frame()
        if frame is None:
            return None
        info = frame.info
        routine_id = info.routine_id if info.routine is self else info.job.routine_id_of(self)
        return None if routine_id is None else (frame, routine_id)

    def _unknown_event(self, event_name: str) -> EventNotFoundError:
        ctx = self.get_execution_context()
        where = f"routine '{ctx.routine_id}' ({self!r})" if ctx else repr(self)
        known = ", ".join(repr(name) for name in self._events) or "none"
        return EventNotFoundError(
            f"Event '{event_name}' does not exist in {where}; its events: {known}"
        )

    # -- configuration ----------------------------------------------------------------

    def set_config(self, **kwargs: Any) -> None:
        """Update the routine's configuration with ``kwargs``."""
        self._config.update(kwargs)

    def get_config(self, key: str, default: Any = None) -> Any:
        """One configuration value, or ``default``."""
        return self._config.get(key, default)

    def config(self) -> dict[str, Any]:
        """A shallow copy of the configuration."""
        return dict(self._config)

    def _validate_config(self) -> None:
        """Called after a document's config is loaded into this routine; a subclass
        whose :meth:`set_config` checks values raises ConfigurationError here for the
        same values, so a bad document is refused when it is loaded."""

    # -- error handling ---------------------------------------------------------------

    def set_error_handler(self, handler: ErrorHandler | None) -> None:
        """Use ``handler`` for this routine's failures (None: use the flow's)."""
        if handler is not None and not isinstance(handler, ErrorHandler):
            raise ConfigurationError(
                f"error handler of {self!r} must be an ErrorHandler, not {type(handler).__name__}"
            )
        self._error_handler = handler

    def get_error_handler(self) -> ErrorHandler | None:
        """This routine's own error handler, or None."""
        return self._error_handler

    def set_as_optional(self, strategy: ErrorStrategy | str | None = None) -> None:
        """Let failures of this routine be recorded without stopping the job.

        Installs ``ErrorHandler(strategy or CONTINUE, is_critical=False)``; SKIP is
        the other sensible strategy.
        """
        self.set_error_handler(
            ErrorHandler(strategy=strategy or ErrorStrategy.CONTINUE, is_critical=False)
        )

    def set_as_critical(
        self, max_retries: int = 3, retry_delay: float = 1.0, retry_backoff: float = 2.0
    ) -> None:
        """Retry failures of this routine; fail the job when the retries run out."""
        self.set_error_handler(
            ErrorHandler(
                strategy=ErrorStrategy.RETRY,
                max_retries=max_retries,
                retry_delay=retry_delay,
                retry_backoff=retry_backoff,
                is_critical=True,
            )
        )

    # -- the running job --------------------------------------------------------------

    def get_execution_context(self) -> ExecutionContext | None:
        """``(flow, job_state, routine_id)`` of the job this code runs in, or None.

        Available in every slot handler of a job and in threads or tasks started
        from it with a copy of its :mod:`contextvars` context; None elsewhere, and
        None if this routine is not part of the running job's flow.
        """
        frame = _current_frame()
        if frame is None:
            return None
        info = frame.info
        if info.routine is self:
            context: ExecutionContext = info.context
            return context
        job = info.job
        routine_id = job.routine_id_of(self)
        if routine_id is None:
            return None
        return ExecutionContext(job.flow, job.job_state, routine_id)

    def require_execution_context(self) -> ExecutionContext:
        """``(flow, job_state, routine_id)`` of the job this code runs in.

        The typed counterpart of :meth:`get_execution_context`, for handlers: it never
        returns None, so type checkers need no ``assert ctx is not None``.

        Raises:
            NoExecutionContextError: outside a slot handler of a job (or a thread or
                task started from one with its context), or if this routine is not part
                of the running job's flow.
        """
        return self._require_context("get the execution context")

    @property
    def _current_flow(self) -> Any:
        """0.9's attribute: inside a handler of a job, that job's flow; elsewhere what
        was assigned to it (None by default). 0.9 left it set after a run; here it
        follows the job the code runs in."""
        ctx = self.get_execution_context()
        if ctx is not None:
            return ctx.flow
        assigned: Any = self.__dict__.get("_assigned_flow")
        return assigned

    @_current_flow.setter
    def _current_flow(self, flow: Any) -> None:
        self.__dict__["_assigned_flow"] = flow

    def _require_context(self, what: str) -> ExecutionContext:
        ctx = self.get_execution_context()
        if ctx is None:
            raise NoExecutionContextError(
                f"Cannot {what} from {self!r}: not in execution context. Call it from a "
                "slot handler of a running job (or a thread started with its context)."
            )
        return ctx

    def emit_deferred_event(self, event_name: str, /, **data: Any) -> None:
        """Record an event to be emitted when the job is resumed after a pause.

        Raises:
            NoExecutionContextError: outside a job.
            EventNotFoundError: if the routine has no such event.
        """
        ctx = self._require_context(f"emit deferred event '{event_name}'")
        if event_name not in self._events:
            raise self._unknown_event(event_name)
        ctx.job_state.add_deferred_event(ctx.routine_id, event_name, data)

    def send_output(self, output_type: str, /, **data: Any) -> None:
        """Send output to the job's output handler and output log.

        Raises:
            NoExecutionContextError: outside a job.
        """
        ctx = self._require_context(f"send output '{output_type}'")
        ctx.job_state.send_output(ctx.routine_id, output_type, data)

    # -- helpers ----------------------------------------------------------------------

    def _extract_input_data(self, data: Any = None, **kwargs: Any) -> Any:
        """Pick the input value out of a handler's arguments (0.9 rules).

        ``data`` if it is not None; else ``kwargs["data"]``; else the only kwarg's
        value; else all kwargs as a dict; else ``{}``.
        """
        if data is not None:
            return data
        if "data" in kwargs:
            return kwargs["data"]
        if len(kwargs) == 1:
            return next(iter(kwargs.values()))
        if kwargs:
            return kwargs
        return {}

    def __call__(self, **kwargs: Any) -> None:
        """Deprecated; does nothing (as in 0.9). Use ``Flow.execute``."""
        warnings.warn(
            "Routine.__call__ does nothing; run routines with Flow.execute",
            DeprecationWarning,
            stacklevel=2,
        )

    # -- saving and loading (the 0.9 API, in routilux's own safe format) ---------------

    def serialize(self) -> dict[str, Any]:
        """This routine as a ``routilux.routine`` document (a JSON-compatible
        dict): its class, config, error handler, slots and events, as a routine of a
        flow document stores them (see :doc:`/formats`, "Single objects").

        Raises:
            SerializationError: for anything a loader could not restore, naming it.
        """
        return _codecs.to_document("routine", self)

    @hybridmethod
    def deserialize(cls: type[Routine], instance: Routine | None, data: Any) -> Routine:
        """Build a routine from a ``routilux.routine`` document.

        ``Routine.deserialize(data)`` (or ``SomeRoutine.deserialize(data)``) returns a
        new routine of the stored class, which must be that class or a subclass;
        ``routine.deserialize(data)`` fills that routine, which must be of exactly the
        stored class, and returns it (slots and events the document does not name are
        kept). As when loading a flow, the class must be imported or registered and
        handlers must be the methods the class wires in ``__init__``.

        Raises:
            SerializationError: for anything wrong with the document; nothing changes.
        """
        return _codecs.from_document("routine", cls, instance, data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}[{self._id}]"


def _check_name(name: Any, kind: str, routine: Routine) -> None:
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            f"{kind} name must be a non-empty string, not {name!r} ({routine!r})"
        )

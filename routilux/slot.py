"""A named input of a routine."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import routilux._codecs as _codecs
from routilux._context import current_frame
from routilux._dispatch import build_invoker, is_async_callable
from routilux._hybrid import hybridmethod
from routilux._merge import APPEND, OVERRIDE, MergeStrategy, merge, validate_merge_strategy
from routilux.exceptions import InvalidPayloadError

if TYPE_CHECKING:
    from routilux.event import Event
    from routilux.routine import Routine

__all__ = ["Slot"]

logger = logging.getLogger("routilux")

# Merge kinds, read on the hot path instead of comparing strategy strings.
MERGE_OVERRIDE = 0
MERGE_APPEND = 1
MERGE_CUSTOM = 2


class Slot:
    """An input of a routine, defined with :meth:`Routine.define_slot`.

    Each delivery is merged with what the slot received before in the same job (its
    merge strategy) and the handler is called with the result; the handler's
    signature decides how. :doc:`/guide/slots` gives both sets of rules in full.

    Inside a job the merge buffer belongs to the job. Outside any job (calling
    :meth:`receive` directly, or emitting from a routine that is not running in a
    job) the slot keeps a standalone buffer, ``_data``, and runs the handler at once.

    Attributes:
        name: the slot's name.
        routine: the routine that owns it.
        connected_events: events connected to it, in connect order.
    """

    def __init__(
        self,
        name: str = "",
        routine: Routine | None = None,
        handler: Callable[..., Any] | None = None,
        merge_strategy: MergeStrategy = OVERRIDE,
    ) -> None:
        self.name = name
        self.routine = routine
        self.connected_events: list[Event] = []
        self._standalone_data: Any = {}
        self._standalone_lock = threading.Lock()
        self._merge_strategy: MergeStrategy = OVERRIDE
        self._merge_kind = MERGE_OVERRIDE
        self.merge_strategy = merge_strategy
        self._handler: Callable[..., Any] | None = None
        self._invoke = build_invoker(None)
        self._is_async = False
        self.handler = handler

    @property
    def handler(self) -> Callable[..., Any] | None:
        """The callable run for each delivery (None: deliveries are only merged)."""
        return self._handler

    @handler.setter
    def handler(self, handler: Callable[..., Any] | None) -> None:
        if handler is not None and not callable(handler):
            raise InvalidPayloadError(
                f"handler of {self._describe()} must be callable, not {type(handler).__name__}"
            )
        self._invoke = build_invoker(handler)
        self._handler = handler
        # An ``async def`` handler runs on an event loop, never in a driver's thread.
        self._is_async = handler is not None and is_async_callable(handler)

    @property
    def merge_strategy(self) -> MergeStrategy:
        """``"override"``, ``"append"`` or a callable ``(old, new) -> merged``."""
        return self._merge_strategy

    @merge_strategy.setter
    def merge_strategy(self, strategy: MergeStrategy) -> None:
        strategy = validate_merge_strategy(strategy, self._describe())
        self._merge_strategy = strategy
        if strategy == OVERRIDE:
            self._merge_kind = MERGE_OVERRIDE
        elif strategy == APPEND:
            self._merge_kind = MERGE_APPEND
        else:
            self._merge_kind = MERGE_CUSTOM

    def _describe(self) -> str:
        if self.routine is not None:
            return f"slot '{self.name}' of {self.routine!r}"
        return f"slot '{self.name}'"

    def connect(self, event: Event, param_mapping: dict[str, str] | None = None) -> None:
        """Connect ``event`` to this slot directly (see :meth:`Event.connect`).

        Raises:
            InvalidPayloadError: ``event`` is not an Event.
        """
        self._check_event(event, "connect")
        event.connect(self, param_mapping)

    def disconnect(self, event: Event) -> None:
        """Remove the connections from ``event`` to this slot.

        Raises:
            InvalidPayloadError: ``event`` is not an Event.
        """
        self._check_event(event, "disconnect")
        event.disconnect(self)

    def _check_event(self, event: Any, method: str) -> None:
        from routilux.event import Event

        if not isinstance(event, Event):
            raise InvalidPayloadError(
                f"{self._describe()}: {method} expects an Event, not {type(event).__name__}"
            )

    def receive(self, data: dict[str, Any]) -> None:
        """Deliver ``data`` to this slot.

        Inside a handler of a job whose flow contains this slot's routine, the
        delivery is queued in that job like an emitted one. Anywhere else the data is
        merged into the standalone buffer and the handler runs now, in this thread;
        its exceptions propagate to the caller.

        Raises:
            InvalidPayloadError: if ``data`` is not a dict.
        """
        if not isinstance(data, dict):
            raise InvalidPayloadError(
                f"data for {self._describe()} must be a dict, not {type(data).__name__}"
            )
        frame = current_frame.get()
        if frame is not None and frame.info.job.contains(self):
            frame.info.job.deliver(frame, self, data)
            return
        self._receive_standalone(data)

    def _merge_standalone(self, data: dict[str, Any]) -> Any:
        with self._standalone_lock:
            self._standalone_data, merged = merge(self._merge_strategy, self._standalone_data, data)
        return merged

    # -- the merge buffer ---------------------------------------------------------------

    @property
    def _data(self) -> Any:
        """The merge buffer (0.9's attribute): inside a handler of a job whose flow
        contains this slot's routine, that job's buffer for this slot (the live object:
        changing it changes what the next delivery merges into); anywhere else the
        standalone buffer. Assigning replaces that buffer (0.9 code resets it with
        ``slot._data = {}``); :meth:`clear` is the public way."""
        frame = current_frame.get()
        if frame is not None and frame.info.job.contains(self):
            return frame.info.job.slot_buffer(self)
        return self._standalone_data

    @_data.setter
    def _data(self, value: Any) -> None:
        frame = current_frame.get()
        if frame is not None and frame.info.job.contains(self):
            frame.info.job.set_slot_buffer(self, value)
            return
        with self._standalone_lock:
            self._standalone_data = value

    def clear(self) -> None:
        """Empty the merge buffer: inside a handler of a job, that job's buffer for this
        slot; elsewhere the standalone buffer. An ``append`` slot then starts new
        lists with its next delivery (for example after a handler processed a batch).

        Thread safety: under the concurrent strategy another activation of the slot
        may merge at the same moment; its delivery then lands in the old buffer or the
        new one, never in neither.
        """
        self._data = {}

    def _run_standalone(self, merged: Any) -> Any:
        """Call the handler outside any job; an ``async def`` handler is run to its end
        with :func:`asyncio.run` (in this thread, which must not run an event loop)."""
        result = self._call_merged(merged)
        if self._is_async and inspect.isawaitable(result):
            return asyncio.run(_awaited(result))
        return result

    def _call_merged(self, merged: Any) -> Any:
        """Call the handler with merged data; a custom merge may return a non-dict,
        which the handler receives as its one argument."""
        if type(merged) is dict:
            return self._invoke(merged)
        if self._handler is None:
            return None
        return self._handler(merged)

    def _receive_standalone(self, data: dict[str, Any]) -> None:
        self._run_standalone(self._merge_standalone(data))

    def call_handler(self, data: dict[str, Any], propagate_exceptions: bool = False) -> None:
        """Merge ``data`` into the standalone buffer and run the handler now.

        With ``propagate_exceptions=False`` (the default, as in 0.9) an exception
        from the handler is logged and swallowed; with True it propagates.
        """
        merged = self._merge_standalone(data)
        try:
            self._run_standalone(merged)
        except Exception:
            if propagate_exceptions:
                raise
            logger.exception("handler of %s failed", self._describe())

    @staticmethod
    def _is_kwargs_handler(handler: Callable[..., Any]) -> bool:
        """Whether ``handler`` accepts ``**kwargs``."""
        import inspect

        try:
            parameters = inspect.signature(handler).parameters.values()
        except (TypeError, ValueError):
            return False
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)

    # -- saving and loading (the 0.9 API, in routilux's own safe format) ---------------

    def serialize(self) -> dict[str, Any]:
        """This slot as a ``routilux.slot`` document (a JSON-compatible dict):
        its name, handler (a method name of its routine or a registered function),
        merge strategy and standalone buffer ``data``.

        Raises:
            SerializationError: for anything a loader could not restore, naming it.
        """
        return _codecs.to_document("slot", self)

    @hybridmethod
    def deserialize(cls: type[Slot], instance: Slot | None, data: Any) -> Slot:
        """Build a slot from a ``routilux.slot`` document.

        ``Slot.deserialize(data)`` returns a new slot without a routine (so the
        document's handler must be a registered function or none);
        ``slot.deserialize(data)`` fills that slot and returns it (a slot of a routine
        keeps its name, and its handler may be one the routine's class wires in
        ``__init__``).

        Raises:
            SerializationError: for anything wrong with the document; nothing changes.
        """
        return _codecs.from_document("slot", cls, instance, data)

    def __repr__(self) -> str:
        if self.routine is not None:
            return f"Slot[{self.routine._id}.{self.name}]"
        return f"Slot[{self.name}]"


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable

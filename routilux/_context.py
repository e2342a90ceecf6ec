"""The one narrow way from the graph model to the running job: the current frame.

While a slot handler runs, the context variable :data:`current_frame` holds the
:class:`Frame` of its activation: the routine and slot, the execution context, the
emissions held until the handler returns, and the job (seen through the
:class:`RunningJob` protocol, so that the model never imports the engine). Threads and
tasks a handler starts with a copy of its :mod:`contextvars` context see the same frame.
"""

from __future__ import annotations

from contextvars import ContextVar
from time import time
from typing import Any, Protocol

# The model's classes are imported by the model's modules, which import this one: here
# they are named by these aliases (documentation only), so that nothing here imports
# back.
Event = Any
ExecutionContext = Any
Flow = Any
JobState = Any
Routine = Any
Slot = Any

__all__ = ["Frame", "Held", "RunningJob", "SlotInfo", "current_frame"]

#: What a handler emitted, delivered or recorded, in order: ``(routine_id, event, data,
#: moment)`` for an emission, ``(routine_id, slot index, data, 0.0)`` for a
#: ``Slot.receive``, ``(routine_id, record name, data, moment)`` for a
#: ``JobState.record_execution``.
Held = list[tuple[str, Any, Any, float]]


class RunningJob(Protocol):
    """What the model may ask of the job a frame belongs to."""

    flow: Flow
    job_state: JobState

    def routine_id_of(self, routine: Routine) -> str | None:
        """The id of ``routine`` in the job's flow, or None."""

    def contains(self, slot: Slot) -> bool:
        """Whether ``slot`` belongs to a routine of the job's flow."""

    def emit(self, frame: Frame, routine_id: str, event: Event, data: dict[str, Any]) -> None:
        """An emission the frame cannot hold (a late one, or another routine's)."""

    def emit_now(self, frame: Frame, routine_id: str, event: Event, data: dict[str, Any]) -> None:
        """An emission handed downstream at once (a streaming source)."""

    async def emit_now_async(
        self, frame: Frame, routine_id: str, event: Event, data: dict[str, Any]
    ) -> None:
        """:meth:`emit_now` from an ``async def`` handler (awaits room in the queue)."""

    def deliver(self, frame: Frame, slot: Slot, data: dict[str, Any]) -> None:
        """A ``Slot.receive`` made by a handler of the job."""

    def slot_buffer(self, slot: Slot) -> Any:
        """The job's merge buffer of ``slot``."""

    def set_slot_buffer(self, slot: Slot, buffer: Any) -> None:
        """Replace the job's merge buffer of ``slot``."""


class SlotInfo:
    """What stays the same for every activation of one slot in one job run."""

    __slots__ = (
        "context",
        "first",
        "index",
        "is_async",
        "job",
        "resolved",
        "routine",
        "routine_id",
        "runs",
        "slot",
    )

    def __init__(
        self,
        job: RunningJob,
        routine: Routine,
        routine_id: str,
        slot: Slot,
        index: int,
        context: ExecutionContext,
    ) -> None:
        self.job = job
        self.routine = routine
        self.routine_id = routine_id
        self.slot = slot
        self.index = index
        self.context = context
        # When the slot first ran in this run, and how many of its activations ran.
        self.first = time()
        self.runs = 0
        # Whether the emissions of its routine's events were checked to be deliverable.
        self.resolved = False
        self.is_async: bool = slot._is_async


class Frame:
    """One running activation, as its handler's code sees it.

    ``held`` collects the activation's emissions until its handler returns; the engine
    sets it to None then, and later emissions (of a thread the handler left running)
    go to the job at once. ``streams`` is set by the job's engine (under its lock)
    while the activation streams with ``emit_now``, and cleared when it completes.
    """

    __slots__ = ("held", "info", "streams")

    def __init__(self, info: SlotInfo) -> None:
        self.info = info
        self.held: Held | None = []
        self.streams = False


current_frame: ContextVar[Frame | None] = ContextVar("routilux_current_frame", default=None)

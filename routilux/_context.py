"""The context variable that tells a running handler which job and routine it serves.

The engine sets one :class:`Frame` per slot activation, inside a fresh copy of the
job's base context, so values a handler sets in its own context variables never leak
into other activations or into the thread that called ``Flow.execute``.
"""

from __future__ import annotations

from contextvars import ContextVar
from time import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from routilux._job_run import JobRun
    from routilux.execution_context import ExecutionContext
    from routilux.slot import Slot

__all__ = ["Frame", "current_frame"]


class Frame:
    """What the engine knows about the activation a handler belongs to."""

    __slots__ = (
        "context",
        "first_start",
        "last_end",
        "routine",
        "routine_id",
        "run",
        "runs",
        "slot",
        "slot_index",
    )

    def __init__(
        self, context: ExecutionContext, routine: Any, run: JobRun, slot: Slot, slot_index: int
    ) -> None:
        self.context = context
        self.routine = routine
        self.routine_id = context.routine_id
        self.run = run
        self.slot = slot
        self.slot_index = slot_index
        # When the first activation of the slot in this run started (the frame is made
        # then), when the last one ended, and how many ran: the routine's bookkeeping.
        self.first_start = time()
        self.last_end = self.first_start
        self.runs = 0


current_frame: ContextVar[Frame | None] = ContextVar("routilux_current_frame", default=None)

"""What the engine needs of a flow: its routines, its slot table and fan-out cache, and
the three calls that tell it about its jobs.

The engine is typed against this protocol, never against :class:`routilux.Flow`,
which is the facade that imports the engine. Only ``Flow`` implements it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from routilux.error_handler import ErrorHandler
    from routilux.routine import Routine
    from routilux.slot import Slot

__all__ = ["FlowGraph"]


class FlowGraph(Protocol):
    """A flow as the engine sees it (see the module documentation)."""

    flow_id: str
    routines: dict[str, Routine]
    error_handler: ErrorHandler | None
    #: id(routine) -> the routine's id in the flow.
    _routine_ids: dict[int, str]
    #: The flow's slots by index (activations name their slot by it in this process).
    _slot_table: list[Slot]
    #: Event -> route, valid while ``_fanout_version`` is the wiring version.
    _fanout: dict[Any, Any]
    _fanout_version: int

    def _slot_index(self, slot: Slot) -> int:
        """The index of ``slot`` in ``_slot_table`` (given one on first use)."""
        ...

    def _run_started(self, run: Any) -> None:
        """A job machine of this flow starts (or resumes) running a job."""
        ...

    def _run_released(self, run: Any) -> None:
        """A machine that started is given up before running anything."""
        ...

    def _run_settled(self, run: Any) -> None:
        """A machine's job finished, or paused with no work in flight."""
        ...

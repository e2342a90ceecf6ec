"""The execution context a slot handler runs in.

Inside a slot handler, :meth:`routilux.Routine.get_execution_context` returns an
:class:`ExecutionContext`: the flow, the job's :class:`~routilux.JobState` and the id
under which the routine is registered in the flow. The context is carried by a
:mod:`contextvars` variable, so it is also visible in threads and asyncio tasks that a
handler starts with a copy of its context (``contextvars.copy_context().run(...)``,
``asyncio.to_thread``, ``loop.run_in_executor``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from routilux.flow import Flow
    from routilux.job_state import JobState

__all__ = ["ExecutionContext"]


class ExecutionContext(NamedTuple):
    """Where a handler is running: ``(flow, job_state, routine_id)``.

    It is a plain named tuple, so ``flow, job_state, routine_id = ctx`` works as in
    routilux 0.9. It holds strong references to the flow and the job state; keep it
    only as long as the handler runs.
    """

    flow: Flow
    job_state: JobState
    routine_id: str

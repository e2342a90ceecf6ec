"""The execution context a slot handler runs in.

Inside a slot handler, :meth:`routilux.Routine.get_execution_context` returns an
:class:`ExecutionContext`: the flow, the job's :class:`~routilux.JobState` and the id
under which the routine is registered in the flow. The context is carried by a
:mod:`contextvars` variable, so it is also visible in threads and asyncio tasks that a
handler starts with a copy of its context (``contextvars.copy_context().run(...)``,
``asyncio.to_thread``, ``loop.run_in_executor``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

if TYPE_CHECKING:
    from routilux.channels import Channel, TypedChannel
    from routilux.job_state import JobState

T = TypeVar("T")

__all__ = ["ExecutionContext"]


class ExecutionContext(NamedTuple):
    """Where a handler is running: ``(flow, job_state, routine_id)``.

    It is a plain named tuple, so ``flow, job_state, routine_id = ctx`` works as in
    routilux 0.9. It holds strong references to the flow and the job state; keep it
    only as long as the handler runs.
    """

    #: The :class:`~routilux.Flow` running the job (typed Any: the flow imports the
    #: model, and the model does not import the flow).
    flow: Any
    job_state: JobState
    routine_id: str

    def get_channel(self) -> Channel:
        """The job's channel (its shared data as a key-value store); see
        :mod:`routilux.channels`."""
        return self.job_state.get_channel()

    def get_typed_channel(self, schema: type[T]) -> TypedChannel[T]:
        """The job's channel, checking values against the TypedDict ``schema``.

        Raises:
            ChannelTypeError: if ``schema`` is not a TypedDict class.
        """
        from routilux.channels import TypedChannel

        return TypedChannel(self.job_state.get_channel(), schema)

    def get_result(self, routine_id: str, default: Any = None) -> Any:
        """What the handler of ``routine_id`` last returned in this job (when it
        returned something other than None), or ``default``."""
        return self.job_state.get_result(routine_id, default)

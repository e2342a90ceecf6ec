"""Which job machine drives a job: one at a time, and the ones running in this process.

A job (its :class:`~routilux.JobState`) is driven by at most one machine. A job paused on
one flow object and continued on another, or loaded from a file, gets a new machine;
:func:`machine_for` retires the old one first, so a late emission into it fails instead
of being parked where nobody will resume it, and tells its store to forget the job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from routilux._context import current_frame
from routilux.exceptions import JobStateError

if TYPE_CHECKING:
    from routilux._engine.graph import FlowGraph
    from routilux._engine.machine import JobMachine
    from routilux.job_state import JobState

__all__ = ["live_machine", "machine_for", "register_live", "unregister_live"]

# Machines are made and attached to a job under this lock only. Lock order: this lock,
# then a machine's lock (never the other way round).
_attach_lock = threading.Lock()

# job id -> its machine, while the machine has work in progress in this process.
_live: dict[str, JobMachine] = {}
_live_lock = threading.Lock()


def live_machine(job_id: str) -> JobMachine | None:
    """The machine of ``job_id`` with work in progress in this process, or None."""
    with _live_lock:
        return _live.get(job_id)


def register_live(machine: JobMachine) -> None:
    """Note that ``machine`` has work in progress (its job started or resumed)."""
    with _live_lock:
        _live[machine.job_state.job_id] = machine


def unregister_live(machine: JobMachine) -> None:
    """Note that ``machine`` settled (finished or paused)."""
    with _live_lock:
        if _live.get(machine.job_state.job_id) is machine:
            del _live[machine.job_state.job_id]


def machine_for(flow: FlowGraph, job_state: JobState, make: Callable[[], JobMachine]) -> JobMachine:
    """The job's machine on ``flow``: its current one, or one made by ``make``.

    At most one machine drives a job: a paused machine on another flow object is
    retired first, and the store of that flow forgets the job.

    Raises:
        JobStateError: the job's handlers still run on another flow object and this is
            called from a handler (waiting there could wait for itself).
    """
    while True:
        previous = job_state._machine
        if previous is not None and previous.flow is not flow and not previous.parked():
            if current_frame.get() is not None:
                raise JobStateError(
                    f"Job '{job_state.job_id}' is still running on flow "
                    f"'{previous.flow.flow_id}'; it can move to another flow object once "
                    "its pause has settled"
                )
            previous.wait_parked()
        with _attach_lock:
            current = job_state._machine
            if current is not previous:
                continue  # another thread attached a machine meanwhile: look again
            if current is not None and current.flow is flow:
                found: JobMachine = current
                return found
            if current is not None and not current.detach() and not current.parked():
                continue
            machine = make()
            machine.attach()
        if previous is not None and previous.store is not machine.store:
            previous.store.job_released(job_state)
        return machine

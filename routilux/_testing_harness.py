"""The machinery behind :mod:`routilux.testing`: the throwaway flow ``run_routine``
builds around a routine, and the formatting of history records in failure messages.

Only public API of the engine is used: the harness is a flow like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from routilux.connection import Connection
from routilux.exceptions import (
    ConfigurationError,
    DuplicateNameError,
    InvalidPayloadError,
    SlotNotFoundError,
)
from routilux.flow import Flow
from routilux.job_state import JobState
from routilux.routine import Routine
from routilux.runtimes import AsyncioRuntime, ThreadRuntime
from routilux.slot import Slot
from routilux.stores import MemoryStore

__all__ = [
    "COLLECTOR_ID",
    "FEEDER_ID",
    "Harness",
    "describe_value",
]

#: The id of the entry routine that feeds a slot other than ``trigger``.
FEEDER_ID = "_feeder"
#: The id of the routine every event of the routine under test is connected to.
COLLECTOR_ID = "_collector"

_HARNESS_IDS = (FEEDER_ID, COLLECTOR_ID)


class Feeder(Routine):
    """Entry routine: emits each delivery it is given on ``feed``, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.feed)
        self.define_event("feed")

    def feed(self, deliveries: Sequence[dict[str, Any]]) -> None:
        for delivery in deliveries:
            self.emit("feed", **delivery)


class Collector(Routine):
    """One slot per event of the routine under test, each without a handler: it gives
    every event a downstream slot, as in a real flow (what was emitted is read from the
    job's history, in the order it was committed)."""

    def __init__(self, event_names: Sequence[str]) -> None:
        super().__init__()
        for name in event_names:
            self.define_slot(name)


class SeedingStore(MemoryStore):
    """A memory store that fills a new job's shared data and the routine's state when
    the job starts, before its first activation (``job_started`` is called then), and
    keeps the JobState so that a caller awaiting ``execute_async`` can cancel it."""

    def __init__(
        self,
        routine_id: str,
        shared_data: Mapping[str, Any] | None,
        routine_state: Mapping[str, Any] | None,
    ) -> None:
        super().__init__()
        self._routine_id = routine_id
        self._shared_data = dict(shared_data or {})
        self._routine_state = None if routine_state is None else dict(routine_state)
        self.job: JobState | None = None

    def job_started(self, job_state: JobState) -> None:
        first = self.job is None
        if first:
            self.job = job_state
            for key, value in self._shared_data.items():
                job_state.update_shared_data(key, value)
            if self._routine_state is not None:
                job_state.update_routine_state(self._routine_id, self._routine_state)
        super().job_started(job_state)


def _check_delivery(routine_id: str, slot: str, what: str, delivery: Any) -> dict[str, Any]:
    if not isinstance(delivery, Mapping):
        raise InvalidPayloadError(
            f"{what} for slot '{slot}' of routine '{routine_id}' must be a dict, "
            f"not {type(delivery).__name__}"
        )
    bad = [key for key in delivery if not isinstance(key, str)]
    if bad:
        raise InvalidPayloadError(
            f"{what} for slot '{slot}' of routine '{routine_id}' must have str keys, not {bad[0]!r}"
        )
    return dict(delivery)


class Harness:
    """A throwaway flow around one routine: the routine, a feeder when needed, a
    collector connected to each of its events, and the store that seeds the job."""

    def __init__(
        self,
        routine: Any,
        slot: Any,
        data: Any,
        deliveries: Any,
        *,
        routine_id: Any,
        shared_data: Any,
        routine_state: Any,
        runtime: ThreadRuntime | AsyncioRuntime | None,
        execution_strategy: str,
        max_workers: int,
    ) -> None:
        if isinstance(routine, type) and issubclass(routine, Routine):
            raise ConfigurationError(
                f"run_routine expects a Routine instance, not the class {routine.__name__}: "
                f"pass {routine.__name__}() instead"
            )
        if not isinstance(routine, Routine):
            raise ConfigurationError(
                f"run_routine expects a Routine instance, not {type(routine).__name__} "
                f"{describe_value(routine, 60)}"
            )
        if "_slots" not in routine.__dict__:
            raise ConfigurationError(
                f"{type(routine).__name__}.__init__ must call super().__init__()"
            )
        if not isinstance(routine_id, str) or not routine_id:
            raise ConfigurationError(f"routine_id must be a non-empty string, not {routine_id!r}")
        if routine_id in _HARNESS_IDS:
            raise DuplicateNameError(
                f"routine_id '{routine_id}' is taken by run_routine's own routines "
                f"({', '.join(repr(i) for i in _HARNESS_IDS)}); choose another"
            )
        if isinstance(slot, Slot):
            raise SlotNotFoundError(
                f"run_routine of routine '{routine_id}' ({routine!r}) takes the slot's name, "
                f"not the Slot object: pass {slot.name!r}"
            )
        if not isinstance(slot, str) or routine.get_slot(slot) is None:
            known = ", ".join(repr(name) for name in routine._slots) or "none"
            raise SlotNotFoundError(
                f"Slot {slot!r} not found in routine '{routine_id}' ({routine!r}); "
                f"its slots: {known}"
            )
        if data is not None and deliveries is not None:
            raise ConfigurationError(
                f"run_routine of routine '{routine_id}': pass data or deliveries, not both"
            )
        for name, value in (("shared_data", shared_data), ("routine_state", routine_state)):
            if value is not None and not isinstance(value, Mapping):
                raise InvalidPayloadError(
                    f"{name} for routine '{routine_id}' must be a dict, not {type(value).__name__}"
                )
        if deliveries is None:
            items = [_check_delivery(routine_id, slot, "data", {} if data is None else data)]
            as_entry = slot == "trigger"
        else:
            if isinstance(deliveries, (Mapping, str, bytes)) or not isinstance(
                deliveries, Sequence
            ):
                raise InvalidPayloadError(
                    f"deliveries for slot '{slot}' of routine '{routine_id}' must be a list "
                    f"of dicts, not {type(deliveries).__name__}"
                )
            items = [
                _check_delivery(routine_id, slot, f"deliveries[{index}]", delivery)
                for index, delivery in enumerate(deliveries)
            ]
            as_entry = False
        self.routine: Routine = routine
        self.routine_id: str = routine_id
        self.slot: str = slot
        self.owns_runtime = runtime is None
        self.store = SeedingStore(routine_id, shared_data, routine_state)
        self.flow = Flow(
            flow_id=f"run_routine-{routine_id}",
            execution_strategy=execution_strategy,
            max_workers=max_workers,
            store=self.store,
            runtime=runtime if runtime is not None else ThreadRuntime(name="routilux-test"),
        )
        self.connections: list[Connection] = []
        try:
            self.flow.add_routine(routine, routine_id)
            event_names = list(routine._events)
            if event_names:
                self.flow.add_routine(Collector(event_names), COLLECTOR_ID)
                for name in event_names:
                    self.connections.append(self.flow.connect(routine_id, name, COLLECTOR_ID, name))
            if as_entry:
                self.entry_id = routine_id
                self.entry_params: dict[str, Any] = items[0]
            else:
                self.flow.add_routine(Feeder(), FEEDER_ID)
                self.connections.append(self.flow.connect(FEEDER_ID, "feed", routine_id, slot))
                self.entry_id = FEEDER_ID
                self.entry_params = {"deliveries": items}
        except BaseException:
            self.teardown()
            raise

    def emissions(self, job: JobState) -> list[tuple[str, dict[str, Any]]]:
        """``(event name, data)`` of every emission of the routine, in history order."""
        return [
            (entry["event_name"], entry["data"])
            for entry in job.execution_tracker.event_flow
            if entry["source_routine_id"] == self.routine_id
        ]

    def give_up(self, job: JobState | None, timeout: float | None) -> TimeoutError:
        """The job did not settle in time: cancel it; the error to raise."""
        status = "not started" if job is None else job.status
        records: list[str] = []
        if job is not None:
            records = [describe_record(r) for r in job.get_execution_history()]
            try:
                self.flow.cancel(job, "run_routine timed out")
            except Exception:  # it settled meanwhile: nothing to cancel
                status = job.status
        history = "\n  ".join(records[-20:]) or "(none)"
        return TimeoutError(
            f"run_routine: routine '{self.routine_id}' (slot '{self.slot}') did not finish "
            f"within {timeout} s (job {status}; cancelled). Its history so far:\n  {history}"
        )

    def teardown(self) -> None:
        """Leave the routine as it was: remove the connections made to and from it (they
        are kept on its events), and release the runtime made for the run."""
        for connection in self.connections:
            connection.disconnect()
        self.connections = []
        if self.owns_runtime and hasattr(self, "flow"):
            self.flow.runtime.shutdown(wait=False)


# -- formatting records ---------------------------------------------------------------

_WIDTH = 100


def describe_value(value: Any, width: int = _WIDTH) -> str:
    """``repr(value)``, cut to ``width`` characters."""
    try:
        text = repr(value)
    except Exception as exc:  # a repr that raises must not hide the failure
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    if len(text) > width:
        text = text[: width - 3] + "..."
    return text


def describe_record(record: Any) -> str:
    """``routine.event {data}`` for an ExecutionRecord."""
    data = f" {describe_value(record.data)}" if record.data else ""
    return f"{record.routine_id}.{record.event_name}{data}"


def describe_pattern(routine_id: Any, event_name: Any, data: Any) -> str:
    """``routine.event`` with what the data must match."""
    text = f"{routine_id}.{event_name}"
    if data is None:
        return text
    if isinstance(data, Mapping):
        return f"{text} with {describe_value(dict(data))}"
    name = getattr(data, "__name__", None) or type(data).__name__
    return f"{text} where {name}(data)"


def numbered(lines: Sequence[str], marks: Mapping[int, str], limit: int = 60) -> str:
    """``lines`` numbered from 0, each prefixed by its mark (``"  "`` if none); only the
    first ``limit`` and those around marked lines are shown."""
    keep = set(range(min(limit, len(lines))))
    for index in marks:
        keep.update(range(max(0, index - 3), min(len(lines), index + 4)))
    out: list[str] = []
    skipped = 0
    width = len(str(max(len(lines) - 1, 0)))
    for index, line in enumerate(lines):
        if index not in keep:
            skipped += 1
            continue
        if skipped:
            out.append(f"      ... {skipped} more")
            skipped = 0
        out.append(f"  {marks.get(index, '  ')} {index:>{width}}  {line}")
    if skipped:
        out.append(f"      ... {skipped} more")
    return "\n".join(out) if out else "      (none)"


Predicate = Callable[[dict[str, Any]], object]

"""Performance records of one job.

Every job has its own :class:`ExecutionTracker` (``job_state.execution_tracker``; the
flow's ``execution_tracker`` attribute is the tracker of the job started last). The
engine records the entry routine's start and end; ``event_flow`` lists the events
emitted in the job, built from the job's history when read, so tracking costs nothing
while the job runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from time import time
from typing import Any

import routilux._codecs as _codecs
from routilux._hybrid import hybridmethod

__all__ = ["ExecutionTracker"]


class ExecutionTracker:
    """Routine timings and the list of emitted events of one job.

    Thread safety: the ``record_*`` methods take a lock; the returned dicts and lists
    are the tracker's own, do not change them while a job runs.
    """

    def __init__(self, flow_id: str = "") -> None:
        self.flow_id = flow_id
        self._executions: dict[str, list[dict[str, Any]]] = {}
        # Records not formatted yet (a job's tracker is written on every job and read
        # rarely): ("start" | "end" | "run", arguments...) in the order they came.
        self._unformatted: list[tuple[Any, ...]] = []
        #: Never filled by the engine; free for your own figures.
        self.performance_metrics: dict[str, Any] = {}
        self._recorded_events: list[dict[str, Any]] = []
        self._derive_events: Callable[[], list[dict[str, Any]]] | None = None
        # Reentrant: the document writers hold it while they read routine_executions.
        self._lock = threading.RLock()

    @property
    def routine_executions(self) -> dict[str, list[dict[str, Any]]]:
        """routine id -> one dict per recorded run of that routine (the tracker's own
        dict: ``routine_id``, ``start_time``, ``params``, ``status``, and when it ended
        ``end_time`` and ``execution_time``)."""
        with self._lock:
            if self._unformatted:
                self._format_locked()
            return self._executions

    @routine_executions.setter
    def routine_executions(self, executions: dict[str, list[dict[str, Any]]]) -> None:
        with self._lock:
            self._unformatted.clear()
            self._executions = executions

    def _format_locked(self) -> None:
        executions = self._executions
        for entry in self._unformatted:
            kind, routine_id = entry[0], entry[1]
            if kind == "start":
                _, _, moment, params = entry
                executions.setdefault(routine_id, []).append(
                    {
                        "routine_id": routine_id,
                        "start_time": _iso(moment),
                        "params": params or {},
                        "status": "running",
                    }
                )
            elif kind == "end":
                _, _, moment, status, result, error = entry
                runs = executions.get(routine_id)
                if not runs:
                    continue
                record = runs[-1]
                end = datetime.fromtimestamp(moment)
                record["end_time"] = end.isoformat()
                record["status"] = status
                if result is not None:
                    record["result"] = result
                if error is not None:
                    record["error"] = error
                start = datetime.fromisoformat(record["start_time"])
                record["execution_time"] = (end - start).total_seconds()
            else:
                _, _, start_moment, end_moment, activations, status = entry
                executions.setdefault(routine_id, []).append(
                    {
                        "routine_id": routine_id,
                        "start_time": _iso(start_moment),
                        "params": {},
                        "status": status,
                        "end_time": _iso(end_moment),
                        "execution_time": end_moment - start_moment,
                        "activations": activations,
                    }
                )
        self._unformatted.clear()

    @property
    def event_flow(self) -> list[dict[str, Any]]:
        """Emitted events, oldest first: dicts with ``timestamp`` (ISO string),
        ``source_routine_id``, ``event_name``, ``target_routine_id`` (the first
        connected routine, or None) and ``data``. A new list on every read."""
        derived = self._derive_events() if self._derive_events is not None else []
        with self._lock:
            return derived + list(self._recorded_events)

    def record_routine_start(self, routine_id: str, params: dict[str, Any] | None = None) -> None:
        """Open a run record for ``routine_id``."""
        with self._lock:
            self._unformatted.append(("start", routine_id, time(), params))

    def record_routine_end(
        self,
        routine_id: str,
        status: str = "completed",
        result: Any = None,
        error: str | None = None,
    ) -> None:
        """Close the last run record of ``routine_id`` (ignored if there is none)."""
        with self._lock:
            self._unformatted.append(("end", routine_id, time(), status, result, error))

    def _record_run(
        self, routine_id: str, start: float, end: float, activations: int, status: str
    ) -> None:
        """Add a finished record for a non-entry routine that ran in the job (the engine
        calls it when the job ends): its first start, the job's end, its activation
        count, and ``"completed"`` or the status its last failure gave it."""
        with self._lock:
            self._unformatted.append(("run", routine_id, start, end, activations, status))

    def record_event(
        self,
        source_routine_id: str,
        event_name: str,
        target_routine_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Add an event to ``event_flow`` by hand."""
        with self._lock:
            self._recorded_events.append(
                {
                    "timestamp": datetime.now().isoformat(),
                    "source_routine_id": source_routine_id,
                    "event_name": event_name,
                    "target_routine_id": target_routine_id,
                    "data": data or {},
                }
            )

    def get_routine_performance(self, routine_id: str) -> dict[str, Any] | None:
        """Counts and timings of ``routine_id``'s recorded runs, or None."""
        runs = list(self.routine_executions.get(routine_id) or ())
        if not runs:
            return None
        completed = sum(1 for r in runs if r.get("status") == "completed")
        failed = sum(1 for r in runs if r.get("status") == "failed")
        times = [r["execution_time"] for r in runs if "execution_time" in r]
        return {
            "total_executions": len(runs),
            "completed": completed,
            "failed": failed,
            "success_rate": completed / len(runs),
            "avg_execution_time": sum(times) / len(times) if times else 0,
            "min_execution_time": min(times) if times else 0,
            "max_execution_time": max(times) if times else 0,
        }

    def get_flow_performance(self) -> dict[str, Any]:
        """Totals over all routines with recorded runs."""
        routine_ids = list(self.routine_executions)
        averages = []
        for routine_id in routine_ids:
            performance = self.get_routine_performance(routine_id)
            if performance and performance["avg_execution_time"]:
                averages.append(performance["avg_execution_time"])
        total = sum(averages)
        return {
            "total_routines": len(routine_ids),
            "total_events": len(self.event_flow),
            "total_execution_time": total,
            "avg_routine_time": total / len(averages) if averages else 0,
        }

    # -- saving and loading (the 0.9 API, in routilux's own safe format) ---------------

    def serialize(self) -> dict[str, Any]:
        """This tracker as a ``routilux.execution_tracker`` document:
        ``flow_id``, ``routine_executions``, ``performance_metrics`` and
        ``event_flow`` (as it reads now).

        Raises:
            SerializationError: for records of shapes a loader would refuse, or data
                that cannot be stored.
        """
        return _codecs.to_document("tracker", self)

    @hybridmethod
    def deserialize(
        cls: type[ExecutionTracker], instance: ExecutionTracker | None, data: Any
    ) -> ExecutionTracker:
        """Build a tracker from a ``routilux.execution_tracker`` document.

        ``ExecutionTracker.deserialize(data)`` returns a new tracker;
        ``tracker.deserialize(data)`` replaces that tracker's records and events with
        the document's and returns it (a job's tracker then no longer lists the job's
        later emissions).

        Raises:
            SerializationError: for anything wrong with the document (every record is
                checked); nothing changes.
        """
        return _codecs.from_document("tracker", cls, instance, data)

    def __repr__(self) -> str:
        return f"ExecutionTracker[{self.flow_id}]"


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment).isoformat()

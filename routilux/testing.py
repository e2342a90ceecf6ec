"""Helpers for testing your own routines and flows.

- :func:`run_routine` (and :func:`run_routine_async`) runs one routine in isolation:
  it feeds one of its slots and returns a :class:`RoutineRun` with what the routine
  emitted, its handler's result, its state, the job's shared data and errors.
- :func:`assert_history` checks a finished job's history in one line, with a failure
  message that shows the expected and the actual records.
- :class:`ManualClock` is a runtime whose retry delays take no real time: the test
  advances the clock, or lets it jump to each delay at once.
- :class:`FlowFactory` makes flows and shuts them all down when the test is over.

The pytest plugin :mod:`routilux.pytest_plugin` (loaded automatically when routilux is
installed) offers them as fixtures. This module itself does not need pytest: failed
checks raise plain ``AssertionError``, so it works with any test runner.

See :doc:`/guide/testing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple, TypeAlias

import routilux._testing_harness as _harness
from routilux._testing_harness import (
    Harness,
    describe_pattern,
    describe_record,
    describe_value,
    numbered,
)
from routilux.exceptions import ConfigurationError, EventNotFoundError, InvalidPayloadError
from routilux.execution_record import ExecutionRecord
from routilux.flow import Flow
from routilux.job_state import JobState
from routilux.routine import Routine
from routilux.runtimes import AsyncioRuntime, ThreadRuntime
from routilux.runtimes._timers import TimerHandle

__all__ = [
    "COLLECTOR_ID",
    "DEFAULT_TIMEOUT",
    "FEEDER_ID",
    "Emission",
    "FlowFactory",
    "HistoryEntry",
    "ManualClock",
    "RoutineRun",
    "assert_history",
    "run_routine",
    "run_routine_async",
]

#: How long :func:`run_routine` waits for the job by default, in seconds.
DEFAULT_TIMEOUT = 30.0

#: The id of the entry routine that :func:`run_routine` adds to feed a slot other than
#: ``trigger`` (or several deliveries).
FEEDER_ID: str = _harness.FEEDER_ID

#: The id of the routine :func:`run_routine` connects every event of the routine to.
COLLECTOR_ID: str = _harness.COLLECTOR_ID


# -- running one routine ---------------------------------------------------------------


class Emission(NamedTuple):
    """One emission of the routine under test: the event's name and the data emitted
    (the dict the routine emitted, before any parameter mapping; not a copy)."""

    event: str
    data: dict[str, Any]


@dataclass(frozen=True)
class RoutineRun:
    """What :func:`run_routine` observed: a snapshot taken when the job settled.

    Attributes:
        routine: the routine that ran.
        routine_id: its id in the job (``"routine"`` unless given).
        slot: the slot that was fed.
        job: the job's :class:`~routilux.JobState` (its history, tracker, channel...).
            The throwaway flow around the routine is gone: a paused job cannot be
            resumed.
        emissions: every emission of the routine that took effect, in the order the
            job recorded them (an attempt that raised emitted nothing, see
            :doc:`/guide/error_handling`); emissions with ``emit_now`` included.
        result: what the routine's handler last returned (other than None), or None
            (``job.get_result(routine_id)``).
        routine_state: a shallow copy of the routine's state dict (``{}`` if it has
            none). When the routine is the entry (the ``trigger`` slot fed with
            ``data``) the engine adds its bookkeeping keys ``status``, ``start_time``,
            ``end_time`` and ``execution_time``; a failure adds ``status``, ``error``
            and ``error_time``.
        shared_data: a shallow copy of the job's shared data (channel values included).
        errors: copies of the job's error dicts (``routine_id``, ``slot``, ``error``,
            ``error_type``, ``strategy``, ``attempt``, ``traceback``...).
        outputs: copies of the ``send_output`` entries of the routine
            (``output_type``, ``data``...), oldest first.

    The values inside the copies are the job's own objects, not copies.
    """

    routine: Routine
    routine_id: str
    slot: str
    job: JobState
    emissions: list[Emission]
    result: Any
    routine_state: dict[str, Any]
    shared_data: dict[str, Any]
    errors: list[dict[str, Any]]
    outputs: list[dict[str, Any]]

    @property
    def status(self) -> str:
        """The job's status (``"completed"``, ``"failed"``, ``"paused"`` or
        ``"cancelled"``)."""
        return self.job.status

    def emitted(self, event: str) -> list[dict[str, Any]]:
        """The data of each emission of ``event``, in order (``[]`` if it emitted none).

        Raises:
            EventNotFoundError: the routine has no event called ``event`` (naming the
                routine and listing its events).
        """
        if not isinstance(event, str) or self.routine.get_event(event) is None:
            known = ", ".join(repr(name) for name in self.routine._events) or "none"
            raise EventNotFoundError(
                f"Event {event!r} does not exist in routine '{self.routine_id}' "
                f"({self.routine!r}); its events: {known}"
            )
        return [emission.data for emission in self.emissions if emission.event == event]

    def assert_completed(self) -> RoutineRun:
        """Check that the job completed without recorded errors; return ``self``.

        Raises:
            AssertionError: naming the status and, for each error, the routine, slot,
                strategy and the traceback the job recorded.
        """
        __tracebackhide__ = True  # pytest shows the test's line, not this one
        if self.status == "completed" and not self.errors:
            return self
        lines = [f"routine '{self.routine_id}' (slot '{self.slot}'): job {self.status}"]
        for error in self.errors:
            lines.append(
                f"- {error.get('routine_id')}.{error.get('slot')}: {error.get('error_type')}: "
                f"{error.get('error')} (strategy {error.get('strategy')}, attempt "
                f"{error.get('attempt')})"
            )
            trace = error.get("traceback")
            if trace:
                lines.append("  " + str(trace).rstrip().replace("\n", "\n  "))
        raise AssertionError("\n".join(lines))


def run_routine(
    routine: Routine,
    slot: str,
    data: Mapping[str, Any] | None = None,
    *,
    deliveries: Sequence[Mapping[str, Any]] | None = None,
    routine_id: str = "routine",
    shared_data: Mapping[str, Any] | None = None,
    routine_state: Mapping[str, Any] | None = None,
    runtime: ThreadRuntime | AsyncioRuntime | None = None,
    execution_strategy: str = "sequential",
    max_workers: int = 5,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> RoutineRun:
    """Run ``routine`` alone: feed ``data`` to its slot ``slot`` in a new job, wait for
    the job, and return what it did.

    The routine runs in a real job of a throwaway :class:`~routilux.Flow`, so its
    execution context, channel, error handler, retries and async handlers work as in
    production:

    - fed on ``"trigger"`` with ``data``, the routine is the job's entry routine (as
      ``flow.execute(routine_id, data)`` would run it: history ``"start"`` and
      ``"completed"``, the entry's error rules);
    - fed on any other slot, or with ``deliveries``, a feeder routine (id
      :data:`FEEDER_ID`) is the entry and emits each delivery to the slot, in order, in
      one job: the routine is a downstream routine, and its slot merges the deliveries
      with its merge strategy;
    - each event of the routine is connected to a slot of a collector routine (id
      :data:`COLLECTOR_ID`) that does nothing, so every event has a receiver.

    Failures of the routine's handler do not raise here: they are in
    :attr:`RoutineRun.errors` and the job's status (use
    :meth:`RoutineRun.assert_completed`). The connections made to and from the routine
    are removed afterwards, so the routine object can be run again or added to a flow.

    Arguments:
        routine: the routine instance to run.
        slot: the slot to feed.
        data: the one delivery (a dict of the keys the handler receives; ``{}`` if
            omitted).
        deliveries: several deliveries, in order (instead of ``data``).
        routine_id: the routine's id in the job.
        shared_data: the job's shared data when it starts.
        routine_state: the routine's state when the job starts.
        runtime: where the job runs (default: a new
            :class:`~routilux.runtimes.ThreadRuntime`, shut down afterwards; one given
            is not shut down). With a :class:`ManualClock` whose ``auto_advance`` is
            off, retries wait until another thread advances it.
        execution_strategy, max_workers: the flow's strategy (``"sequential"`` by
            default, so the order of emissions is the same on every run).
        timeout: seconds to wait for the job (None: no limit).

    Thread safety: any number of calls may run at once, from any threads, one routine
    object in several of them too: each call has its own flow, whose job sees only its
    own connections (the routine's instance attributes are shared, as between the jobs
    of a flow). It may be called in a running event loop: it then blocks the loop until
    the job is done (the job does not need that loop; use :func:`run_routine_async` to
    await instead).

    Raises:
        SlotNotFoundError: the routine has no slot ``slot`` (naming the routine and
            listing its slots).
        ConfigurationError: ``routine`` is not a Routine (or its ``__init__`` did not
            call ``super().__init__()``), both ``data`` and ``deliveries`` were given, an
            invalid ``routine_id``, strategy or ``max_workers``.
        DuplicateNameError: ``routine_id`` is :data:`FEEDER_ID` or :data:`COLLECTOR_ID`.
        InvalidPayloadError: ``data``, a delivery, ``shared_data`` or ``routine_state``
            is not a dict (or has keys that are not strings), ``deliveries`` is not a
            list.
        TimeoutError: the job did not settle within ``timeout``; it is cancelled and
            the message shows its history so far.
    """
    _check_timeout(timeout)
    harness = Harness(
        routine,
        slot,
        data,
        deliveries,
        routine_id=routine_id,
        shared_data=shared_data,
        routine_state=routine_state,
        runtime=runtime,
        execution_strategy=execution_strategy,
        max_workers=max_workers,
    )
    try:
        job = harness.flow.execute(harness.entry_id, harness.entry_params, wait=False)
        if not job.wait_for_completion(timeout):
            raise harness.give_up(job, timeout)
        return _snapshot(harness, job)
    finally:
        harness.teardown()


async def run_routine_async(
    routine: Routine,
    slot: str,
    data: Mapping[str, Any] | None = None,
    *,
    deliveries: Sequence[Mapping[str, Any]] | None = None,
    routine_id: str = "routine",
    shared_data: Mapping[str, Any] | None = None,
    routine_state: Mapping[str, Any] | None = None,
    runtime: ThreadRuntime | AsyncioRuntime | None = None,
    execution_strategy: str = "sequential",
    max_workers: int = 5,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> RoutineRun:
    """:func:`run_routine` for a test that runs an event loop: the job is started with
    ``await flow.execute_async(...)``, so the loop is not blocked meanwhile.

    With an :class:`~routilux.runtimes.AsyncioRuntime` the routine's ``async def``
    handlers run on the calling loop (so they can use what is bound to it); with the
    default :class:`~routilux.runtimes.ThreadRuntime` they run on the runtime's own
    loop thread. Arguments, result and errors are those of :func:`run_routine`.
    """
    _check_timeout(timeout)
    harness = Harness(
        routine,
        slot,
        data,
        deliveries,
        routine_id=routine_id,
        shared_data=shared_data,
        routine_state=routine_state,
        runtime=runtime,
        execution_strategy=execution_strategy,
        max_workers=max_workers,
    )
    try:
        task = asyncio.ensure_future(
            harness.flow.execute_async(harness.entry_id, harness.entry_params)
        )
        try:
            job = await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            error = harness.give_up(harness.store.job, timeout)
            # The cancelled job settles once its running handlers return.
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 5.0)
            raise error from None
        return _snapshot(harness, job)
    finally:
        harness.teardown()


def _check_timeout(timeout: Any) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidPayloadError(f"timeout must be a number or None, not {type(timeout).__name__}")
    if not timeout >= 0:
        raise ConfigurationError(f"timeout must be >= 0 (seconds), not {timeout!r}")


def _snapshot(harness: Harness, job: JobState) -> RoutineRun:
    routine_id = harness.routine_id
    return RoutineRun(
        routine=harness.routine,
        routine_id=routine_id,
        slot=harness.slot,
        job=job,
        emissions=[Emission(event, data) for event, data in harness.emissions(job)],
        result=job.get_result(routine_id),
        routine_state=dict(job.get_routine_state(routine_id) or {}),
        shared_data=dict(job.shared_data),
        errors=[dict(error) for error in job.errors],
        outputs=[dict(entry) for entry in job.output_log if entry.get("routine_id") == routine_id],
    )


# -- checking a history ----------------------------------------------------------------

#: One expected history record, ``(routine_id, event_name)`` or ``(routine_id,
#: event_name, data)``, where ``data`` is a dict whose items the record's data must
#: contain (equal values; other keys are ignored) or a function that gets the record's
#: data and returns whether it matches. Ids and names are compared with ``==``, so
#: ``unittest.mock.ANY`` matches anything.
HistoryEntry: TypeAlias = (
    tuple[str, str] | tuple[str, str, Mapping[str, Any] | Callable[[dict[str, Any]], object]]
)

_MODES = ("exact", "subsequence", "unordered")


class _Pattern(NamedTuple):
    routine_id: Any
    event_name: Any
    data: Any

    def matches(self, record: ExecutionRecord) -> bool:
        if not (self.routine_id == record.routine_id and self.event_name == record.event_name):
            return False
        data = self.data
        if data is None:
            return True
        if isinstance(data, Mapping):
            actual = record.data
            return all(key in actual and actual[key] == value for key, value in data.items())
        return bool(data(record.data))

    def describe(self) -> str:
        return describe_pattern(self.routine_id, self.event_name, self.data)


def _patterns(expected: Any) -> list[_Pattern]:
    if isinstance(expected, (str, bytes, Mapping)) or not isinstance(expected, Iterable):
        raise InvalidPayloadError(
            "expected must be a list of (routine_id, event_name[, data]) tuples, "
            f"not {type(expected).__name__}"
        )
    patterns = []
    for index, entry in enumerate(expected):
        if not isinstance(entry, tuple) or len(entry) not in (2, 3):
            raise InvalidPayloadError(
                f"expected[{index}] must be a (routine_id, event_name) or "
                f"(routine_id, event_name, data) tuple, not {describe_value(entry)}"
            )
        data = entry[2] if len(entry) == 3 else None
        if data is not None and not isinstance(data, Mapping) and not callable(data):
            raise InvalidPayloadError(
                f"expected[{index}]: data must be a dict or a function of the record's "
                f"data, not {type(data).__name__}"
            )
        patterns.append(_Pattern(entry[0], entry[1], data))
    return patterns


def _records(history: Any) -> list[ExecutionRecord]:
    if isinstance(history, RoutineRun):
        history = history.job
    if isinstance(history, JobState):
        return history.get_execution_history()
    if isinstance(history, (str, bytes, Mapping)) or not isinstance(history, Iterable):
        raise InvalidPayloadError(
            "assert_history expects a JobState, a RoutineRun or a list of ExecutionRecord, "
            f"not {type(history).__name__}"
        )
    records = list(history)
    for index, record in enumerate(records):
        if not isinstance(record, ExecutionRecord):
            raise InvalidPayloadError(
                f"history[{index}] is a {type(record).__name__}, not an ExecutionRecord"
            )
    return records


def _routine_filter(routines: Any) -> frozenset[str] | None:
    if routines is None:
        return None
    if isinstance(routines, str):
        return frozenset({routines})
    if not isinstance(routines, Iterable):
        raise InvalidPayloadError(
            f"routines must be a routine id or a collection of them, not {type(routines).__name__}"
        )
    chosen = frozenset(routines)
    for routine_id in chosen:
        if not isinstance(routine_id, str):
            raise InvalidPayloadError(f"routines must hold routine ids (str), not {routine_id!r}")
    return chosen


def assert_history(
    history: JobState | RoutineRun | Iterable[ExecutionRecord],
    expected: Sequence[HistoryEntry],
    *,
    mode: str = "exact",
    routines: str | Collection[str] | None = None,
) -> list[ExecutionRecord]:
    """Check a job's history against ``expected``; return the matched records.

    Each expected entry is ``(routine_id, event_name)`` or ``(routine_id, event_name,
    data)`` (see :data:`HistoryEntry`): ``data`` is a dict whose items the record's
    data must contain (a partial match: the ``"completed"`` record's
    ``execution_time``, for one, need not be given), or a function of the record's
    data that returns whether it matches.

    Arguments:
        history: a :class:`~routilux.JobState` (its whole history), a
            :class:`RoutineRun`, or a list of :class:`~routilux.ExecutionRecord`
            (``job.get_execution_history("sink")``, say).
        expected: the records expected.
        mode: ``"exact"`` (the default): the history is exactly these records, in
            this order; ``"subsequence"``: these records appear in this order, others
            may come before, between and after; ``"unordered"``: the history is
            exactly these records, in any order (for the concurrent strategy).
        routines: only look at the records of this routine id (or of these ids).

    The history records framework events (``start``, ``completed``, ``error``,
    ``error_continued``, ``retry``) and one record per emission (see
    :doc:`/guide/job_state`). Read it after the job has settled: records written
    meanwhile may or may not be seen.

    Raises:
        AssertionError: the history does not match; the message lists the expected
            and the actual records (data cut to 100 characters), marks the first
            difference, and says which expected record was not found.
        InvalidPayloadError: ``history``, ``expected`` or ``routines`` is not of the
            types above.
        ConfigurationError: an unknown ``mode``.
    """
    # pytest leaves these helpers' frames out of a failure's traceback: it ends at the
    # test's call, with the message.
    __tracebackhide__ = True
    if mode not in _MODES:
        raise ConfigurationError(
            f"assert_history mode must be one of {', '.join(map(repr, _MODES))}, not {mode!r}"
        )
    patterns = _patterns(expected)
    chosen = _routine_filter(routines)
    records = _records(history)
    if chosen is not None:
        records = [record for record in records if record.routine_id in chosen]
    if mode == "exact":
        return _match_exact(patterns, records)
    if mode == "subsequence":
        return _match_subsequence(patterns, records)
    return _match_unordered(patterns, records)


def _failure(
    headline: str,
    patterns: Sequence[_Pattern],
    records: Sequence[ExecutionRecord],
    expected_marks: Mapping[int, str],
    actual_marks: Mapping[int, str],
) -> AssertionError:
    expected_lines = [pattern.describe() for pattern in patterns]
    actual_lines = [describe_record(record) for record in records]
    return AssertionError(
        f"{headline}\n"
        f"expected ({len(patterns)} records):\n{numbered(expected_lines, expected_marks)}\n"
        f"actual ({len(records)} records):\n{numbered(actual_lines, actual_marks)}"
    )


def _match_exact(
    patterns: Sequence[_Pattern], records: Sequence[ExecutionRecord]
) -> list[ExecutionRecord]:
    __tracebackhide__ = True
    for index, (pattern, record) in enumerate(zip(patterns, records, strict=False)):
        if not pattern.matches(record):
            raise _failure(
                f"history differs at record {index} (mode 'exact'): expected "
                f"{pattern.describe()}, got {describe_record(record)}",
                patterns,
                records,
                {index: "> "},
                {index: "> "},
            )
    if len(patterns) != len(records):
        index = min(len(patterns), len(records))
        if len(records) > len(patterns):
            headline = (
                f"history has {len(records) - len(patterns)} more record(s) than expected "
                f"(mode 'exact'), from record {index}: {describe_record(records[index])}"
            )
        else:
            headline = (
                f"history is missing {len(patterns) - len(records)} record(s) (mode "
                f"'exact'), from expected record {index}: {patterns[index].describe()}"
            )
        raise _failure(headline, patterns, records, {index: "> "}, {index: "> "})
    return list(records)


def _match_subsequence(
    patterns: Sequence[_Pattern], records: Sequence[ExecutionRecord]
) -> list[ExecutionRecord]:
    __tracebackhide__ = True
    # Matching each expected record to the earliest fitting record after the previous
    # match finds a match whenever there is one.
    matched: list[int] = []
    position = 0
    for index, pattern in enumerate(patterns):
        while position < len(records) and not pattern.matches(records[position]):
            position += 1
        if position == len(records):
            after = f"after record {matched[-1]}" if matched else "anywhere"
            expected_marks = dict.fromkeys(range(index), "ok")
            expected_marks[index] = "> "
            raise _failure(
                f"expected record {index} ({pattern.describe()}) not found {after} "
                f"(mode 'subsequence'); matched records are marked *",
                patterns,
                records,
                expected_marks,
                dict.fromkeys(matched, "* "),
            )
        matched.append(position)
        position += 1
    return [records[index] for index in matched]


def _match_unordered(
    patterns: Sequence[_Pattern], records: Sequence[ExecutionRecord]
) -> list[ExecutionRecord]:
    __tracebackhide__ = True
    # A maximum matching of expected to actual records (augmenting paths): patterns
    # may overlap, so matching greedily could miss an assignment that exists.
    fits = [
        [r for r, record in enumerate(records) if pattern.matches(record)] for pattern in patterns
    ]
    owner: dict[int, int] = {}

    def assign(p: int, seen: set[int]) -> bool:
        for r in fits[p]:
            if r in seen:
                continue
            seen.add(r)
            if r not in owner or assign(owner[r], seen):
                owner[r] = p
                return True
        return False

    unmatched = [p for p in range(len(patterns)) if not assign(p, set())]
    extra = [r for r in range(len(records)) if r not in owner]
    if unmatched or extra:
        parts = []
        if unmatched:
            parts.append("not found: " + "; ".join(patterns[p].describe() for p in unmatched[:5]))
        if extra:
            parts.append("unexpected: " + "; ".join(describe_record(records[r]) for r in extra[:5]))
        raise _failure(
            f"history does not match (mode 'unordered'): {' / '.join(parts)}",
            patterns,
            records,
            dict.fromkeys(unmatched, "> "),
            dict.fromkeys(extra, "> "),
        )
    by_pattern = {p: r for r, p in owner.items()}
    return [records[by_pattern[p]] for p in range(len(patterns))]


# -- a clock for retry delays ----------------------------------------------------------


def _exact(seconds: float) -> Decimal:
    """``seconds`` as the decimal number it is written as (``0.1`` is 1/10)."""
    return Decimal(repr(float(seconds)))


class _ScheduledCall(TimerHandle):
    """A call a :class:`ManualClock` holds until it is due."""

    __slots__ = ("clock", "seq")

    def __init__(
        self,
        clock: ManualClock,
        due: float,
        seq: int,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> None:
        super().__init__(due, callback, args)
        self.clock = clock
        self.seq = seq

    def cancel(self) -> None:
        with self.clock._cond:
            super().cancel()
            self.clock._cond.notify_all()

    def run(self) -> None:
        with self.clock._cond:
            if self.cancelled:
                return
            callback, args = self.callback, self.args
            super().cancel()  # made: hold nothing any more
        callback(*args)


class ManualClock(ThreadRuntime):
    """A :class:`~routilux.runtimes.ThreadRuntime` whose delayed calls (the retries of
    RETRY error handlers) wait for a virtual clock instead of real time.

    Pass it as a flow's runtime: ``Flow(..., runtime=ManualClock())``. Everything else
    runs as on the default runtime (plain handlers in threads, ``async def`` handlers
    on its loop thread).

    Arguments:
        auto_advance: False (the default): a delayed call is made when the test calls
            :meth:`advance` (or :meth:`run_all`) past its due time. True: each delayed
            call is made at once, on a pool thread, and the clock jumps to its due time;
            so ``flow.execute(...)`` returns without waiting, and :attr:`delays` tells
            what was waited for.
        pool_size, name: as for :class:`~routilux.runtimes.ThreadRuntime`.

    The clock starts at 0.0. A call scheduled with delay ``d`` when the clock reads
    ``t`` is due at ``t + d``. Infinite delays are recorded but never made (not even
    by ``auto_advance`` or :meth:`run_all`).

    Thread safety: every method may be called from any thread; calls made by
    :meth:`advance` run in the thread that called it, one at a time, earliest due
    first (ties in the order they were scheduled). Shut it down with
    :meth:`~routilux.runtimes.ThreadRuntime.shutdown` (or ``flow.shutdown()``) when
    done, as any runtime a flow was given.
    """

    def __init__(
        self,
        *,
        auto_advance: bool = False,
        pool_size: int | None = None,
        name: str = "routilux-clock",
    ) -> None:
        if not isinstance(auto_advance, bool):
            raise InvalidPayloadError(
                f"auto_advance must be a bool, not {type(auto_advance).__name__}"
            )
        super().__init__(pool_size=pool_size, name=name)
        self._auto = auto_advance
        self._cond = threading.Condition(threading.Lock())
        # Decimal arithmetic: after advance(0.1) and advance(0.2) the clock reads 0.3.
        self._now = Decimal(0)
        self._heap: list[tuple[Decimal, int, _ScheduledCall]] = []
        self._delays: list[float] = []
        self._seq = itertools.count()
        self._firing = threading.Lock()

    @property
    def auto_advance(self) -> bool:
        """Whether delayed calls are made at once (see the class)."""
        return self._auto

    @property
    def now(self) -> float:
        """The clock's time, in seconds since it was made (virtual)."""
        with self._cond:
            return float(self._now)

    @property
    def delays(self) -> list[float]:
        """Every delay asked for, in seconds, in the order the calls were scheduled
        (cancelled ones included); a new list."""
        with self._cond:
            return list(self._delays)

    @property
    def pending(self) -> list[float]:
        """When the calls still waiting are due, earliest first (cancelled calls and
        calls already made are not listed); a new list."""
        with self._cond:
            return [float(due) for due, _, call in sorted(self._heap) if not call.cancelled]

    # -- the Runtime protocol ---------------------------------------------------------

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Schedule ``callback(*args)`` for ``delay`` seconds of the clock from now.

        The engine calls it (under a job's lock): it never runs the callback itself.
        """
        delay = max(0.0, float(delay))
        with self._cond:
            self._delays.append(delay)
            due = self._now + _exact(delay)
            call = _ScheduledCall(self, float(due), next(self._seq), callback, args)
            fire = self._auto and due.is_finite()
            if fire:
                self._now = due
            else:
                heapq.heappush(self._heap, (due, call.seq, call))
            self._cond.notify_all()
        if fire:
            self.submit(call.run)
        return call

    # -- moving the clock -------------------------------------------------------------

    def advance(self, seconds: float) -> int:
        """Move the clock ``seconds`` forward and make the calls due by then.

        The clock jumps at once: calls pending now that are due by the new time are
        made, earliest first, in this thread, before ``advance`` returns (for a retry,
        that queues the activation again in its job, which goes on in its own
        threads). Calls scheduled while ``advance`` runs count their delay from the new
        time and are not made by it. Returns how many calls were made.

        Raises:
            InvalidPayloadError: ``seconds`` is not a number.
            ConfigurationError: ``seconds`` is negative, infinite or NaN.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise InvalidPayloadError(f"seconds must be a number, not {type(seconds).__name__}")
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ConfigurationError(f"seconds must be finite and >= 0, not {seconds!r}")
        with self._firing:
            with self._cond:
                self._now += _exact(seconds)
                due = self._take_locked(self._now)
            return self._make(due)

    def run_all(self) -> int:
        """Make every call pending now (but those with an infinite delay), earliest
        first, in this thread; the clock moves to the last one's due time. Returns how
        many calls were made."""
        with self._firing:
            with self._cond:
                last = max((entry[0] for entry in self._heap if entry[0].is_finite()), default=None)
                due = [] if last is None else self._take_locked(last)
                if last is not None:
                    self._now = max(self._now, last)
            return self._make(due)

    def wait_for_pending(self, count: int = 1, timeout: float | None = 10.0) -> None:
        """Wait until at least ``count`` calls are pending (the usual step of a test
        that advances the clock itself: start the job with ``wait=False``, wait for its
        retry to be scheduled, advance).

        Raises:
            TimeoutError: ``timeout`` seconds passed first (the message gives the
                delays asked for so far).
            InvalidPayloadError, ConfigurationError: ``count`` is not an int >= 1, or
                ``timeout`` not a number >= 0 or None.
        """
        if isinstance(count, bool) or not isinstance(count, int):
            raise InvalidPayloadError(f"count must be an int, not {type(count).__name__}")
        if count < 1:
            raise ConfigurationError(f"count must be >= 1, not {count}")
        _check_timeout(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending_locked() < count:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(
                        f"ManualClock: {self._pending_locked()} call(s) pending after "
                        f"{timeout} s, waited for {count}; delays asked for so far: "
                        f"{self._delays}"
                    )
                self._cond.wait(remaining)

    def _pending_locked(self) -> int:
        return sum(1 for _, _, call in self._heap if not call.cancelled)

    def _take_locked(self, until: Decimal) -> list[_ScheduledCall]:
        taken: list[_ScheduledCall] = []
        heap = self._heap
        while heap and heap[0][0] <= until:
            _, _, call = heapq.heappop(heap)
            if not call.cancelled:
                taken.append(call)
        # Cancelled calls are dropped here too, not only when they come due.
        self._heap = [entry for entry in heap if not entry[2].cancelled]
        heapq.heapify(self._heap)
        return taken

    def _make(self, calls: list[_ScheduledCall]) -> int:
        first: BaseException | None = None
        for call in calls:
            try:
                call.run()
            except BaseException as exc:  # make the others, then raise the first
                first = first or exc
        if first is not None:
            raise first
        return len(calls)

    def __repr__(self) -> str:
        mode = "auto" if self._auto else "manual"
        return f"ManualClock[{mode}, now={self.now}, pending={len(self.pending)}]"


# -- flows that are shut down ----------------------------------------------------------


class FlowFactory:
    """Makes flows (``factory(flow_id, ...)`` takes the arguments of
    :class:`~routilux.Flow`) and shuts them all down on :meth:`close`.

    Use it as a context manager, or through the ``routilux_flow`` fixture of
    :mod:`routilux.pytest_plugin`. Thread safe.

    Arguments:
        shutdown_timeout: how long :meth:`close` waits for each flow's running jobs.
    """

    def __init__(self, *, shutdown_timeout: float = 5.0) -> None:
        _check_timeout(shutdown_timeout)
        self._timeout = shutdown_timeout
        self._lock = threading.Lock()
        self._flows: list[Flow] = []

    def __call__(
        self,
        flow_id: str | None = None,
        execution_strategy: str = "sequential",
        max_workers: int = 5,
        **options: Any,
    ) -> Flow:
        """A new :class:`~routilux.Flow` (same arguments), shut down by :meth:`close`.

        Raises:
            ConfigurationError: (or a subclass) for an invalid argument, as
                :class:`~routilux.Flow` raises it.
        """
        flow = Flow(flow_id, execution_strategy, max_workers, **options)
        with self._lock:
            self._flows.append(flow)
        return flow

    @property
    def flows(self) -> list[Flow]:
        """The flows made so far, oldest first (a new list)."""
        with self._lock:
            return list(self._flows)

    def close(self) -> bool:
        """Shut every flow made down (waiting up to ``shutdown_timeout`` for each one's
        running jobs, then releasing its runtime's threads); forget them.

        Returns whether all their jobs had settled (False: some were still running
        when the timeout expired; they go on, on new threads if they need them).
        """
        with self._lock:
            flows, self._flows = self._flows, []
        settled = True
        for flow in flows:
            if not flow.wait_for_completion(self._timeout):
                settled = False
            flow.runtime.shutdown(wait=False)
        return settled

    def __enter__(self) -> FlowFactory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

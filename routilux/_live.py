"""The live view of a running job: per routine, activations run, queued and failed,
the rate, and the last error; used by ``flow.execute(..., progress=True)`` and the
``routilux`` command.

A :class:`Watch` reads a job's counters when asked (a display refreshes a few times a
second): how many activations of each slot ran (the machine's ``SlotInfo.runs``), what
is queued, what is in flight, and the job's errors. Reading takes the machine's lock
for a bounded time only: the queue is counted per routine for its oldest
:data:`QUEUE_SAMPLE` activations at most (the total is exact; past the sample the view
says the per-routine counts are a lower bound), so a queue of millions costs a refresh
no more than a queue of ten thousand. Nothing is added to the engine's hot path.

``rich`` is imported lazily: the core imports without it, and without it
``progress=True`` prints a one-line hint once (on a terminal) and shows nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING, Any

from routilux._engine.queue import PLAIN_LIMIT
from routilux.stores.base import JobStore

# The flow module imports this one: a flow is named here, not imported (no circle).
Flow = Any

if TYPE_CHECKING:
    from routilux.job_state import JobState
    from routilux.stores.base import Checkpointer

__all__ = [
    "QUEUE_SAMPLE",
    "REFRESH_PER_SECOND",
    "RoutineRow",
    "Snapshot",
    "Watch",
    "WatchingStore",
    "live_display",
    "progress_view",
    "render_live",
    "rich_console",
]

#: How many queued activations a refresh counts per routine, at most (under the lock).
QUEUE_SAMPLE = 10_000
#: How often a live view is redrawn.
REFRESH_PER_SECOND = 4
#: The rate of a routine is measured over about this many seconds.
RATE_WINDOW = 3.0
#: The last error of a routine is cut to this many characters.
ERROR_WIDTH = 60
#: The live view's routine column is at most this wide (longer ids are cut with "…").
ROUTINE_WIDTH = 40

INSTALL_HINT = "pip install 'routilux[cli]'"

_FINAL = frozenset({"completed", "failed", "cancelled", "paused"})


@dataclass(frozen=True)
class RoutineRow:
    """One routine of a :class:`Snapshot`."""

    routine_id: str
    #: Activations of the routine that ran in this run (failed attempts included).
    ran: int
    #: Activations queued or waiting for a retry (a lower bound when the snapshot's
    #: ``sampled`` is set), or pending in a paused job.
    queued: int
    #: Failures the job recorded for the routine in this run.
    failed: int
    #: Activations per second (recent, or over the run once it ended); None at first.
    rate: float | None
    #: ``"ErrorType: message"`` of its last failure, cut to :data:`ERROR_WIDTH`.
    last_error: str | None


@dataclass(frozen=True)
class Snapshot:
    """What a :class:`Watch` read at one moment."""

    job_id: str
    flow_id: str
    status: str
    #: Seconds since the run started (frozen once the job finished or paused).
    elapsed: float
    in_flight: int
    #: Activations queued or waiting for a retry, exact.
    queued: int
    #: Set when the per-routine queued counts cover only the oldest this many.
    sampled: int | None
    rows: tuple[RoutineRow, ...]


class Watch:
    """Reads one run of a job (see the module documentation).

    :meth:`attach` it to the job's machine before the run's first activation (the
    machine's per-slot counters are read from then on, and stay readable after the
    job finished); :meth:`snapshot` may then be called from any thread.
    """

    def __init__(self, flow: Flow, *, sample: int = QUEUE_SAMPLE) -> None:
        self.flow = flow
        self.sample = sample
        self.job_state: JobState | None = None
        self._machine: Any = None
        self._infos: dict[int, Any] = {}
        self._started = monotonic()
        self._ended: float | None = None
        self._errors_from = 0
        self._errors_seen = 0
        self._failed: Counter[str] = Counter()
        self._last_error: dict[str, str] = {}
        self._slot_routines: dict[int, str | None] = {}
        self._marks: deque[tuple[float, dict[str, int]]] = deque()
        self._lock = threading.Lock()

    def attach(self, job_state: JobState) -> None:
        """Watch the run of ``job_state`` that is starting (its machine is attached)."""
        machine = job_state._machine
        with self._lock:
            self.job_state = job_state
            self._machine = machine
            # The machine fills this dict as slots first run, and drops it (for a new,
            # empty one) when the job finishes: holding it keeps the final counts.
            self._infos = machine.infos if machine is not None else {}
            self._started = monotonic()
            self._ended = None
            self._errors_from = self._errors_seen = len(job_state.errors)
            self._failed.clear()
            self._last_error.clear()
            self._marks.clear()

    @property
    def attached(self) -> bool:
        """Whether a run was attached."""
        return self.job_state is not None

    @property
    def errors_from(self) -> int:
        """How many errors the job had recorded before the watched run."""
        return self._errors_from

    def snapshot(self) -> Snapshot:
        """The job's counters now (see the module documentation for the cost)."""
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> Snapshot:
        job_state = self.job_state
        routines = list(self.flow.routines)
        if job_state is None:
            rows = tuple(RoutineRow(rid, 0, 0, 0, None, None) for rid in routines)
            return Snapshot("", self.flow.flow_id, "pending", 0.0, 0, 0, None, rows)
        machine = self._machine
        metas: list[int] = []
        in_flight = total = 0
        infos: list[Any] = []
        if machine is not None:
            with machine.lock:  # O(slots + sample): never the whole of a long queue
                queue = machine.queue
                total = len(queue) + len(machine.timers)
                metas = list(itertools.islice(queue.metas, self.sample))
                metas.extend(meta for _, (meta, _, _) in machine.timers.values())
                in_flight = machine.in_flight
                infos = list(self._infos.values())
        status = job_state.status
        now = monotonic()
        if status in _FINAL:
            if self._ended is None:
                self._ended = now
        else:
            self._ended = None
        elapsed = (self._ended if self._ended is not None else now) - self._started
        ran: Counter[str] = Counter()
        for info in infos:
            ran[info.routine_id] += info.runs
        queued: Counter[str] = Counter()
        sampled: int | None = None
        if status == "paused":
            # Parked in the JobState: exact, and nothing is queued in the machine.
            for task in list(job_state.pending_tasks):
                queued[task.routine_id] += 1
            total, in_flight = sum(queued.values()), 0
        elif status in _FINAL:
            total, in_flight = 0, 0
        else:
            for index, count in Counter(meta & (PLAIN_LIMIT - 1) for meta in metas).items():
                routine_id = self._routine_of(index)
                if routine_id is not None:
                    queued[routine_id] += count
            if total > len(metas):
                sampled = self.sample
        self._read_errors(job_state)
        rates = self._rates(now, ran, status, elapsed)
        for routine_id in itertools.chain(ran, queued, self._failed):
            if routine_id not in routines:
                routines.append(routine_id)
        rows = tuple(
            RoutineRow(
                routine_id,
                ran[routine_id],
                queued[routine_id],
                self._failed[routine_id],
                rates.get(routine_id),
                self._last_error.get(routine_id),
            )
            for routine_id in routines
        )
        return Snapshot(
            job_state.job_id,
            job_state.flow_id,
            status,
            elapsed,
            in_flight,
            total,
            sampled,
            rows,
        )

    def _routine_of(self, index: int) -> str | None:
        """The routine id of the slot with ``index`` in the flow's slot table."""
        if index in self._slot_routines:
            return self._slot_routines[index]
        flow = self.flow
        routine_id = None
        if index < len(flow._slot_table):
            routine = flow._slot_table[index].routine
            if routine is not None:
                routine_id = flow._routine_ids.get(id(routine))
        self._slot_routines[index] = routine_id
        return routine_id

    def _read_errors(self, job_state: JobState) -> None:
        errors = job_state.errors
        if len(errors) < self._errors_seen:  # replaced (a loaded job): count again
            self._errors_from = self._errors_seen = 0
            self._failed.clear()
            self._last_error.clear()
        new = errors[self._errors_seen :]
        self._errors_seen += len(new)
        for error in new:
            routine_id = str(error.get("routine_id") or "")
            self._failed[routine_id] += 1
            self._last_error[routine_id] = _cut(f"{error.get('error_type')}: {error.get('error')}")

    def _rates(
        self, now: float, ran: Counter[str], status: str, elapsed: float
    ) -> dict[str, float]:
        if status in _FINAL:
            if elapsed <= 0:
                return {}
            return {routine_id: count / elapsed for routine_id, count in ran.items()}
        marks = self._marks
        marks.append((now, dict(ran)))
        while len(marks) > 2 and now - marks[1][0] >= RATE_WINDOW:
            marks.popleft()
        then, before = marks[0]
        span = now - then
        if span < 0.2:
            return {}
        return {
            routine_id: max(count - before.get(routine_id, 0), 0) / span
            for routine_id, count in ran.items()
        }


def _cut(text: str, width: int = ERROR_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class WatchingStore(JobStore):
    """A store that tells ``on_start`` each time a job starts or resumes on it, then
    hands everything to ``inner``: the moment a run's machine is attached and nothing
    of the run has run yet, which is when a :class:`Watch` attaches."""

    def __init__(self, inner: JobStore, on_start: Callable[[JobState], None]) -> None:
        self.inner = inner
        self.on_start = on_start

    def job_started(self, job_state: JobState) -> None:
        self.on_start(job_state)
        self.inner.job_started(job_state)

    def job_settled(self, job_state: JobState) -> None:
        self.inner.job_settled(job_state)

    def load(self, job_id: str) -> JobState | None:
        return self.inner.load(job_id)

    def unfinished_job_ids(self, flow_id: str | None = None) -> list[str]:
        return self.inner.unfinished_job_ids(flow_id)

    def unfinished_jobs(self, flow_id: str | None = None) -> list[JobState]:
        return self.inner.unfinished_jobs(flow_id)

    def acquire(self, job_id: str) -> None:
        self.inner.acquire(job_id)

    def release(self, job_id: str) -> None:
        self.inner.release(job_id)

    def job_released(self, job_state: JobState) -> None:
        self.inner.job_released(job_state)

    def checkpointer(self, job_state: JobState) -> Checkpointer | None:
        return self.inner.checkpointer(job_state)

    def __repr__(self) -> str:
        return repr(self.inner)


# -- drawing ---------------------------------------------------------------------------


def _count(value: int) -> str:
    return f"{value:,}"


def _rate(rate: float | None) -> str:
    if rate is None:
        return "-"
    return f"{rate:,.1f}/s" if rate < 100 else f"{rate:,.0f}/s"


_STATUS_STYLES = {
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
    "paused": "cyan",
    "running": "bold",
}


def render_live(snapshot: Snapshot) -> Any:
    """The live view of ``snapshot`` as a rich renderable (needs rich)."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    title = Text()
    title.append(f"flow {snapshot.flow_id}", style="bold")
    title.append(f" · job {snapshot.job_id[:8]} · ")
    title.append(snapshot.status, style=_STATUS_STYLES.get(snapshot.status, ""))
    title.append(
        f" · {snapshot.elapsed:.1f} s · in flight {snapshot.in_flight}"
        f" · queued {_count(snapshot.queued)}"
    )
    caption = None
    if snapshot.sampled is not None:
        caption = f"queued per routine: counted among the oldest {_count(snapshot.sampled)}"
    table = Table(caption=caption, box=box.SIMPLE_HEAD, caption_justify="left")
    # On a narrow terminal the routine and the last error give way (cut with "…"); the
    # counts never do (rich drops the columns it cannot fit otherwise).
    table.add_column("routine", overflow="ellipsis", max_width=ROUTINE_WIDTH)
    table.add_column("done", justify="right", no_wrap=True)
    table.add_column("queued", justify="right", no_wrap=True)
    table.add_column("failed", justify="right", no_wrap=True)
    table.add_column("rate", justify="right", no_wrap=True)
    table.add_column("last error", overflow="ellipsis", style="red")
    plus = "+" if snapshot.sampled is not None else ""
    for row in snapshot.rows:
        table.add_row(
            row.routine_id,
            _count(row.ran),
            _count(row.queued) + (plus if row.queued else ""),
            Text(_count(row.failed), style="red" if row.failed else ""),
            _rate(row.rate),
            row.last_error or "",
        )
    return Group(title, table)


def rich_console(file: Any = None) -> Any:
    """A rich Console writing to ``file`` (default: standard error), or None without
    rich. It draws for a terminal when ``file`` is one (whatever ``FORCE_COLOR`` says:
    output piped to a file or a program stays plain text)."""
    try:
        from rich.console import Console
    except ImportError:
        return None
    file = file if file is not None else sys.stderr
    return Console(file=file, highlight=False, force_terminal=_isatty(file))


@contextlib.contextmanager
def live_display(watch: Watch, console: Any, *, transient: bool = False) -> Iterator[None]:
    """Redraw ``watch`` on ``console`` (a rich Console) while the block runs, and once
    more at its end."""
    from rich.live import Live

    with Live(
        get_renderable=lambda: render_live(watch.snapshot()),
        console=console,
        refresh_per_second=REFRESH_PER_SECOND,
        transient=transient,
    ):
        yield


_hinted = False
_drawing = False
_hint_lock = threading.Lock()


def _hint_once() -> None:
    global _hinted
    with _hint_lock:
        if _hinted:
            return
        _hinted = True
    print(f"routilux: progress=True needs rich: {INSTALL_HINT}", file=sys.stderr)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _progress_console() -> Any:
    """Where ``progress=True`` draws: a rich Console on standard error when that is a
    terminal, else None (after a one-line hint, once, when rich is missing)."""
    stream = sys.stderr
    if stream is None or not _isatty(stream):
        return None
    console = rich_console(stream)
    if console is None:
        _hint_once()
    return console


@contextlib.contextmanager
def progress_view(flow: Flow, job_state: JobState) -> Iterator[None]:
    """``execute(..., progress=True)``: the live view of the job whose machine was just
    attached, while the block (the waiting ``execute``) runs; nothing when standard
    error is not a terminal, or while another job's view is drawn."""
    global _drawing
    with _hint_lock:
        # One view at a time: a job started (with progress) by a handler of a job
        # shown, or from another thread meanwhile, is not drawn over it.
        busy, _drawing = _drawing, True
    if busy:
        yield
        return
    try:
        console = _progress_console()
        if console is None:
            yield
            return
        watch = Watch(flow)
        watch.attach(job_state)
        with live_display(watch, console):
            yield
    finally:
        with _hint_lock:
            _drawing = False

"""The live view of a job: ``flow.execute(..., progress=True)`` and what it reads.

On a terminal (forced: a rich Console writing to a StringIO, injected in place of the
standard error's) the view shows every routine with its counts; on anything else it
prints nothing; without rich it prints a hint once; it never reads more than a bounded
part of a long queue under the job's lock.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import cli_app
import pytest
from rich.console import Console

from routilux import Flow, Routine, _live
from routilux._live import Snapshot, Watch, WatchingStore
from routilux.exceptions import ConfigurationError
from routilux.stores import MemoryStore

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """Make ``progress=True`` draw on a forced terminal; returns what it wrote."""
    screen = io.StringIO()
    monkeypatch.setattr(
        _live,
        "_progress_console",
        lambda: Console(file=screen, force_terminal=True, width=120, highlight=False),
    )
    return screen


def last_frame(screen: io.StringIO) -> str:
    """The last frame the live view drew, without its escape codes."""
    text = ANSI.sub("", screen.getvalue())
    assert "flow " in text, text
    return text[text.rindex("flow ") :]


def row(frame: str, routine_id: str) -> list[str]:
    """The cells of a routine's row in a frame."""
    for line in frame.splitlines():
        cells = line.split()
        if cells and cells[0] == routine_id:
            return cells
    raise AssertionError(f"no row for {routine_id!r} in:\n{frame}")


def test_progress_on_a_non_terminal_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    job = cli_app.orders().execute("source", {"amounts": [1, 2, 3]}, progress=True)
    assert job.status == "completed"
    assert sorted(job.get_channel().get("ledger")) == [[0, 1.2], [1, 2.4], [2, 3.6]]
    assert capsys.readouterr() == ("", "")


def test_progress_on_a_terminal_shows_the_routines_and_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = terminal(monkeypatch)
    job = cli_app.orders().execute("source", {"amounts": [10, 25.5, 4, 99.9]}, progress=True)
    assert job.status == "completed"
    frame = last_frame(screen)
    assert frame.startswith(f"flow orders · job {job.job_id[:8]} · completed")
    assert "queued 0" in frame
    for header in ("routine", "done", "queued", "failed", "rate", "last error"):
        assert header in frame
    assert row(frame, "source")[:4] == ["source", "1", "0", "0"]
    assert row(frame, "price")[:4] == ["price", "4", "0", "0"]
    assert row(frame, "ledger")[:4] == ["ledger", "4", "0", "0"]
    assert row(frame, "ledger")[4].endswith("/s")  # the rate over the run


def test_progress_shows_failures_and_the_last_error(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = terminal(monkeypatch)
    flow = cli_app.lenient_orders()
    job = flow.execute("source", {"amounts": [1, -1, -2, 3]}, progress=True)
    assert job.status == "completed"  # CONTINUE
    cells = row(last_frame(screen), "price")
    assert cells[:4] == ["price", "4", "0", "2"]
    assert " ".join(cells[5:]) == "ValueError: negative amount -2"


def test_progress_shows_a_paused_jobs_pending_work(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = terminal(monkeypatch)
    job = cli_app.orders().execute(
        "source", {"amounts": [10, 25.5, 4], "pause_at": 25.5}, progress=True
    )
    assert job.status == "paused"
    frame = last_frame(screen)
    assert " paused " in frame and "queued 3" in frame
    assert row(frame, "price")[:4] == ["price", "2", "1", "0"]
    assert row(frame, "ledger")[:4] == ["ledger", "0", "2", "0"]


class Nested(Routine):
    """Runs a job of another flow, with progress, from its handler."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.run_inner)
        self.statuses: list[str] = []

    def run_inner(self) -> None:
        inner = cli_app.orders().execute("source", {"amounts": [1]}, progress=True)
        self.statuses.append(inner.status)


def test_a_job_started_while_a_view_is_drawn_is_not_drawn_over_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = terminal(monkeypatch)
    outer = Flow("outer")
    nested = Nested()
    outer.add_routine(nested, "nested")
    assert outer.execute("nested", progress=True).status == "completed"
    assert nested.statuses == ["completed"]
    drawn = ANSI.sub("", screen.getvalue())
    assert "flow outer" in drawn and "flow orders" not in drawn
    # Afterwards, views are drawn again.
    cli_app.orders().execute("source", {"amounts": [1]}, progress=True)
    assert last_frame(screen).startswith("flow orders")


def test_progress_needs_wait() -> None:
    flow = cli_app.orders()
    with pytest.raises(ConfigurationError, match="wait=True"):
        flow.execute("source", {"amounts": [1]}, wait=False, progress=True)
    assert flow.execution_tracker is None  # no job was started


def test_progress_keeps_the_0_9_signature(capsys: pytest.CaptureFixture[str]) -> None:
    flow = cli_app.orders()
    job = flow.execute("source", {"amounts": [1]}, "concurrent")
    assert job.status == "completed"
    assert flow.execute("source", {"amounts": [2]}, wait=False).wait_for_completion(30)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_rich_progress_prints_a_hint_once(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = _Terminal()
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setitem(sys.modules, "rich.console", None)  # import fails
    monkeypatch.setattr(_live, "_hinted", False)
    flow = cli_app.orders()
    for _ in range(2):
        assert flow.execute("source", {"amounts": [1]}, progress=True).status == "completed"
    assert stderr.getvalue() == "routilux: progress=True needs rich: pip install 'routilux[cli]'\n"


def test_the_core_imports_and_runs_without_rich() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["rich"] = None  # as if it were not installed
        import routilux, routilux._cli
        import cli_app
        job = cli_app.orders().execute("source", {"amounts": [1, 2]}, progress=True)
        print(job.status)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(cli_app.__file__).parent,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "completed\n", "")
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, routilux; print('rich' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert imported.stdout == "False\n"


class Burst(Routine):
    """Queues ``count`` activations of the sink at once."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.burst)
        self.define_event("item", ["n"])

    def burst(self, count: int) -> None:
        for n in range(count):
            self.emit("item", n=n)


class Peek(Routine):
    """Its first activation takes a snapshot of its own job."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.peek)
        self.seen: list[Snapshot] = []
        self.watch: Watch | None = None

    def peek(self, n: int) -> None:
        if n == 0 and self.watch is not None:
            self.seen.append(self.watch.snapshot())


def burst_flow(watch_sample: int) -> tuple[Flow, Watch, Peek]:
    flow = Flow("burst")
    watch = Watch(flow, sample=watch_sample)
    flow.store = WatchingStore(MemoryStore(), watch.attach)
    peek = Peek()
    peek.watch = watch
    flow.add_routine(Burst(), "burst")
    flow.add_routine(peek, "peek")
    flow.connect("burst", "item", "peek", "input")
    return flow, watch, peek


def test_a_long_queue_is_counted_per_routine_only_up_to_the_sample() -> None:
    flow, watch, peek = burst_flow(watch_sample=10)
    job = flow.execute("burst", {"count": 500})
    assert job.status == "completed"
    (during,) = peek.seen
    assert during.status == "running"
    assert during.queued > 10  # exact: the whole queue (less a batch taken)
    assert during.sampled == 10
    rows = {r.routine_id: r for r in during.rows}
    assert rows["peek"].queued == 10  # a lower bound: only the sample was counted
    assert rows["burst"].ran == 1
    after = watch.snapshot()
    assert after.sampled is None and after.queued == 0 and after.in_flight == 0
    rows = {r.routine_id: r for r in after.rows}
    assert (rows["burst"].ran, rows["peek"].ran) == (1, 500)  # kept after the job ended
    assert all(r.rate is not None and r.rate > 0 for r in rows.values())


def test_a_short_queue_is_counted_exactly() -> None:
    flow, _, peek = burst_flow(watch_sample=100_000)
    flow.execute("burst", {"count": 500})
    (during,) = peek.seen
    assert during.sampled is None
    rows = {r.routine_id: r for r in during.rows}
    assert rows["peek"].queued == during.queued > 0


def test_a_watch_without_a_job_shows_the_routines() -> None:
    watch = Watch(cli_app.orders())
    snapshot = watch.snapshot()
    assert (snapshot.status, snapshot.job_id) == ("pending", "")
    assert [r.routine_id for r in snapshot.rows] == ["source", "price", "ledger"]
    assert not watch.attached


def test_the_watching_store_hands_everything_to_its_store(tmp_path: Path) -> None:
    from routilux.stores import SQLiteStore

    inner = SQLiteStore(tmp_path / "jobs.db")
    started: list[Any] = []
    store = WatchingStore(inner, started.append)
    flow = cli_app.orders()
    flow.store = store
    job = flow.execute("source", {"amounts": [10, 25.5], "pause_at": 25.5})
    assert started == [job] and repr(store) == repr(inner)
    assert store.unfinished_job_ids() == [job.job_id]
    assert [j.job_id for j in store.unfinished_jobs()] == [job.job_id]
    resumed = flow.recover(job.job_id, wait=True)
    assert resumed.status == "completed" and started == [job, resumed]
    assert store.load(job.job_id).status == "completed"  # type: ignore[union-attr]
    inner.close()


def test_the_counts_keep_their_columns_on_a_narrow_terminal() -> None:
    """A routine id wider than the terminal is cut (rich dropped the count columns
    instead, leaving only the ids)."""
    flow = cli_app.long_names()
    watch = Watch(flow)
    flow.store = WatchingStore(MemoryStore(), watch.attach)
    assert flow.execute(cli_app.LONG_ID, {"count": 3}).status == "completed"
    screen = io.StringIO()
    Console(file=screen, width=60, highlight=False).print(_live.render_live(watch.snapshot()))
    lines = screen.getvalue().splitlines()
    header = next(line for line in lines if "routine" in line)
    for name in ("done", "queued", "failed", "rate"):
        assert name in header
    # (The sink's id is wrapped or not, as the width of the rate leaves room.)
    assert re.search(r"^  stage-r[r…]*…\s+1\s+0\s+0\s+[\d,.]+/s", "\n".join(lines), re.M)
    assert re.search(r"^  sink( 日本)?\s+3\s+0\s+0\s+[\d,.]+/s", "\n".join(lines), re.M)
    assert all(len(line) <= 60 for line in lines)

"""What the subcommands of ``routilux`` share: finding a flow (by import path or as a
saved JSON file), opening a store from a URL, printing (with rich when installed,
plain lines otherwise), and running a job under the live view."""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routilux._live import (
    INSTALL_HINT,
    Snapshot,
    Watch,
    WatchingStore,
    live_display,
    rich_console,
)
from routilux.exceptions import ConfigurationError, RoutiluxError

if TYPE_CHECKING:
    from routilux.flow import Flow
    from routilux.job_state import JobState
    from routilux.stores.base import JobStore

__all__ = [
    "EXIT_BAD_ARGUMENTS",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PAUSED",
    "CommandError",
    "Output",
    "exit_code",
    "import_modules",
    "load_flow",
    "open_store",
    "parse_params",
    "print_errors",
    "print_summary",
    "run_watched",
]

#: The job completed; the command did what was asked.
EXIT_OK = 0
#: The job failed or was cancelled; or the command was refused or failed.
EXIT_FAILED = 1
#: Bad arguments, a flow that cannot be loaded, a store that cannot be opened.
EXIT_BAD_ARGUMENTS = 2
#: The job paused (it can be resumed).
EXIT_PAUSED = 3

#: Errors printed with their tracebacks, at most.
MAX_ERRORS = 5


class CommandError(Exception):
    """Ends a subcommand: its message goes to standard error, ``code`` is the exit
    code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def exit_code(status: str) -> int:
    """The exit code for a job that ended with ``status``."""
    if status == "completed":
        return EXIT_OK
    if status == "paused":
        return EXIT_PAUSED
    return EXIT_FAILED


# -- arguments -------------------------------------------------------------------------


def parse_params(text: str) -> dict[str, Any]:
    """``--params``: a JSON object."""
    try:
        params = json.loads(text)
    except ValueError as exc:
        raise CommandError(
            EXIT_BAD_ARGUMENTS, f"--params is not valid JSON: {exc} (in {text!r})"
        ) from None
    if not isinstance(params, dict):
        raise CommandError(
            EXIT_BAD_ARGUMENTS,
            f"--params must be a JSON object ({{...}}), not {type(params).__name__}",
        )
    return params


def _importable_here() -> None:
    """Modules in the current directory are importable, as with ``python -m``."""
    here = os.getcwd()
    if "" not in sys.path and here not in sys.path:
        sys.path.insert(0, here)


def import_modules(names: Sequence[str]) -> None:
    """``--import``: modules that define or register what a flow or job document names
    (loading never imports anything by itself)."""
    if not names:
        return
    _importable_here()
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise CommandError(
                EXIT_BAD_ARGUMENTS, f"cannot import {name!r}: {type(exc).__name__}: {exc}"
            ) from None


def load_flow(spec: str, imports: Sequence[str] = ()) -> Flow:
    """The flow named by ``MODULE:FLOW`` (a Flow, or a function returning one), or
    saved at ``spec`` if it is a path ending in ``.json`` that exists."""
    from routilux.flow import Flow
    from routilux.runtimes.redis import flow_from_path

    import_modules(imports)
    if spec.endswith(".json") and (Path(spec).is_file() or ":" not in spec):
        if not Path(spec).is_file():
            raise CommandError(EXIT_BAD_ARGUMENTS, f"no flow file {spec}")
        try:
            return Flow.load(spec)
        except (RoutiluxError, OSError) as exc:
            # Loading names the file; reading may not.
            message = str(exc) if isinstance(exc, RoutiluxError) else f"cannot read {spec}: {exc}"
            if "is not imported" in message:
                message += " (name the module that defines it with --import MODULE)"
            raise CommandError(EXIT_BAD_ARGUMENTS, message) from None
    _importable_here()
    try:
        return flow_from_path(spec)
    except ConfigurationError as exc:
        raise CommandError(EXIT_BAD_ARGUMENTS, f"cannot load the flow {spec}: {exc}") from None
    except Exception as exc:  # the module or the function making the flow raised
        raise CommandError(
            EXIT_BAD_ARGUMENTS, f"cannot load the flow {spec}: {type(exc).__name__}: {exc}"
        ) from None


def open_store(url: str, prefix: str = "routilux", *, create: bool = False) -> JobStore:
    """The store at ``sqlite:PATH`` or ``redis://HOST:PORT/DB`` (``rediss://`` and
    ``unix://`` too). Without ``create``, a SQLite file must exist."""
    try:
        if url.startswith("sqlite:"):
            from routilux.stores import SQLiteStore

            path = url[len("sqlite:") :]
            if path.startswith("//"):
                path = path[2:]
            if not path:
                raise CommandError(EXIT_BAD_ARGUMENTS, "--store sqlite: needs a path: sqlite:PATH")
            if not create and not Path(path).is_file():
                raise CommandError(EXIT_BAD_ARGUMENTS, f"no SQLite store at {path}")
            return SQLiteStore(path)
        if url.startswith(("redis://", "rediss://", "unix://")):
            try:
                from routilux.stores.redis import RedisStore
            except ImportError:
                raise CommandError(
                    EXIT_BAD_ARGUMENTS,
                    "the Redis store needs redis-py: pip install 'routilux[redis]'",
                ) from None
            return RedisStore(url, prefix=prefix)
    except RoutiluxError as exc:
        raise CommandError(EXIT_BAD_ARGUMENTS, f"cannot open the store {url}: {exc}") from None
    raise CommandError(
        EXIT_BAD_ARGUMENTS, f"--store must be sqlite:PATH or redis://HOST:PORT/DB, not {url!r}"
    )


def close_store(store: Any) -> None:
    close = getattr(store, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


# -- printing --------------------------------------------------------------------------


class Output:
    """Standard output: rich when it is installed (colours on a terminal), plain lines
    otherwise. Tables are laid out the same either way: columns two spaces apart."""

    def __init__(self, file: Any = None) -> None:
        self.file = file if file is not None else sys.stdout
        self.console = rich_console(self.file)
        if self.console is not None and not self.console.is_terminal:
            self.console.width = max(self.console.width, 200)

    def line(self, text: str = "", style: str | None = None) -> None:
        if self.console is None:
            print(text, file=self.file, flush=True)
            return
        from rich.text import Text

        self.console.print(Text(text, style=style or ""), soft_wrap=True)

    def table(
        self, headers: Sequence[str], rows: Sequence[Sequence[str]], right: Collection[int] = ()
    ) -> None:
        """A table; the columns whose indexes are in ``right`` are right-aligned."""
        if self.console is None:
            widths = [
                max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)
            ]
            for cells in (headers, *rows):
                padded = [
                    str(cell).rjust(width) if index in right else str(cell).ljust(width)
                    for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
                ]
                print("  ".join(padded).rstrip(), file=self.file)
            self.file.flush()
            return
        from rich.table import Table

        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for index, header in enumerate(headers):
            table.add_column(header, justify="right" if index in right else "left", no_wrap=True)
        for cells in rows:
            table.add_row(*(str(cell) for cell in cells))
        if self.console.is_terminal:
            self.console.print(table)
            return
        with self.console.capture() as captured:
            self.console.print(table)
        for text in captured.get().splitlines():  # without rich's padding at line ends
            print(text.rstrip(), file=self.file)
        self.file.flush()


_STATUS_STYLES = {
    "completed": "bold green",
    "failed": "bold red",
    "cancelled": "bold yellow",
    "paused": "bold cyan",
}


def status_style(status: str) -> str | None:
    return _STATUS_STYLES.get(status)


def print_errors(out: Output, errors: Sequence[dict[str, Any]], tracebacks: bool) -> None:
    """``errors`` of a job, newest last, at most :data:`MAX_ERRORS` of them."""
    if not errors:
        return
    out.line(f"errors ({len(errors)}):", style="bold")
    shown = errors[-MAX_ERRORS:]
    if len(errors) > len(shown):
        out.line(f"  ... {len(errors) - len(shown)} earlier ones not shown")
    for error in shown:
        where = str(error.get("routine_id") or "-")
        if error.get("slot"):
            where += f", slot {error['slot']}"
        out.line(
            f"  {where} (strategy {error.get('strategy')}, attempt {error.get('attempt')}): "
            f"{error.get('error_type')}: {error.get('error')}",
            style="red",
        )
        trace = str(error.get("traceback") or "").rstrip()
        if tracebacks and trace:
            for text in trace.splitlines():
                out.line(f"    {text}")


def print_summary(out: Output, snapshot: Snapshot, job: JobState, errors: list[Any]) -> None:
    """How a run ended: status, time, what each routine did, and its errors (with
    tracebacks when the job failed)."""
    out.line(
        f"job {job.job_id} of flow '{job.flow_id}': {job.status} in {snapshot.elapsed:.2f} s",
        style=status_style(job.status),
    )
    rows = [
        [row.routine_id, f"{row.ran:,}", f"{row.queued:,}", f"{row.failed:,}", row.last_error or ""]
        for row in snapshot.rows
    ]
    out.table(["routine", "ran", "queued", "failed", "last error"], rows, right=(1, 2, 3))
    print_errors(out, errors, tracebacks=job.status == "failed")


# -- running under the live view -------------------------------------------------------


def _stderr_console(live: bool) -> Any:
    """A rich Console on standard error for the live view, or None: not asked for,
    standard error is not a terminal, or rich is missing (then a hint is printed)."""
    if not live:
        return None
    stream = sys.stderr
    try:
        terminal = bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        terminal = False
    if not terminal:
        return None
    console = rich_console(stream)
    if console is None:
        print(f"routilux: no live view without rich: {INSTALL_HINT}", file=stream)
    return console


@contextlib.contextmanager
def _maybe_live(watch: Watch, console: Any) -> Iterator[None]:
    if console is None:
        yield
        return
    with live_display(watch, console, transient=True):
        yield


class _OneLine(logging.Handler):
    """``routilux: message`` on the standard error of the moment (the live view's
    while it is drawn), without the traceback (the summary prints it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(f"routilux: {record.getMessage()}", file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _engine_log() -> Iterator[None]:
    """While a job runs: unless the application configured logging, the engine's log
    shows errors only, one line each. A handler's failure is logged as a warning with
    its traceback, which the command's summary already prints."""
    engine = logging.getLogger("routilux")
    if logging.getLogger().handlers or engine.handlers:
        yield
        return
    handler = _OneLine(logging.ERROR)
    engine.addHandler(handler)
    try:
        yield
    finally:
        engine.removeHandler(handler)


def run_watched(
    flow: Flow, start: Callable[[JobStore], JobState], *, store: JobStore, live: bool
) -> tuple[JobState, Watch]:
    """Run ``start(watched_store)`` (which starts a run of a job on ``flow`` through
    that store and waits for it), with the live view on a terminal; returns the job and
    the watch, which holds the run's counters."""
    watch = Watch(flow)
    watched = WatchingStore(store, watch.attach)
    console = _stderr_console(live)
    with _engine_log(), _maybe_live(watch, console):
        job = start(watched)
    return job, watch


def run_errors(watch: Watch, job: JobState) -> list[dict[str, Any]]:
    """The errors the job recorded during the watched run."""
    return list(job.errors[watch.errors_from :])

"""What the subcommands of ``routilux`` share: finding a flow (by import path or as a
saved JSON file), opening a store from a URL, printing (with rich when installed,
plain lines otherwise), and running a job under the live view."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import unicodedata
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from routilux._flow_paths import flow_from_path, import_module_named
from routilux._live import (
    INSTALL_HINT,
    Snapshot,
    Watch,
    WatchingStore,
    _isatty,
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
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PAUSED",
    "CommandError",
    "Output",
    "Run",
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
#: Interrupted (Ctrl-C): 128 + SIGINT, as a shell reports it.
EXIT_INTERRUPTED = 130
#: Standard output was closed by its reader (``routilux ... | head``): 128 + SIGPIPE.
EXIT_BROKEN_PIPE = 141

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


#: How much of an offending argument an error message quotes.
QUOTE_WIDTH = 80


def _quote(text: str, width: int = QUOTE_WIDTH) -> str:
    """``repr(text)``, cut to about ``width`` characters."""
    return repr(text) if len(text) <= width else repr(text[: width - 3]) + "..."


def parse_params(text: str) -> dict[str, Any]:
    """``--params``: a JSON object."""
    try:
        params = json.loads(text)
    except RecursionError:
        raise CommandError(
            EXIT_BAD_ARGUMENTS, f"--params is not valid JSON: nested too deeply (in {_quote(text)})"
        ) from None
    except ValueError as exc:
        raise CommandError(
            EXIT_BAD_ARGUMENTS, f"--params is not valid JSON: {exc} (in {_quote(text)})"
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


def _import(name: str) -> Any:
    """Import module ``name``; a module that is missing, or that raises while it is
    imported, ends the command (exit code 2) with one line naming it."""
    try:
        return import_module_named(name)
    except ConfigurationError as exc:
        raise CommandError(EXIT_BAD_ARGUMENTS, str(exc)) from None


def import_modules(names: Sequence[str]) -> None:
    """``--import``: modules that define or register what a flow or job document names
    (loading never imports anything by itself)."""
    if not names:
        return
    _importable_here()
    for name in names:
        _import(name)


def _is_flow_file(spec: str) -> bool:
    return spec.lower().endswith(".json") and (Path(spec).exists() or ":" not in spec)


def _flow_from_file(spec: str) -> Flow:
    """A flow saved with ``flow.save`` at ``spec``."""
    from routilux.flow import Flow

    path = Path(spec)
    if not path.exists():
        raise CommandError(EXIT_BAD_ARGUMENTS, f"no flow file {spec}")
    if not path.is_file():
        raise CommandError(EXIT_BAD_ARGUMENTS, f"{spec} is not a file (a flow saved as JSON)")
    try:
        return Flow.load(spec)
    except (RoutiluxError, OSError) as exc:
        # Loading names the file; reading may not.
        message = str(exc) if isinstance(exc, RoutiluxError) else f"cannot read {spec}: {exc}"
        if "is not imported" in message:
            message += " (name the module that defines it with --import MODULE)"
        raise CommandError(EXIT_BAD_ARGUMENTS, message) from None
    except Exception as exc:  # whatever else a damaged file makes the loader raise
        raise CommandError(
            EXIT_BAD_ARGUMENTS, f"cannot load {spec}: {type(exc).__name__}: {exc}"
        ) from None


def load_flow(spec: str, imports: Sequence[str] = ()) -> Flow:
    """The flow named by ``MODULE:FLOW`` (a Flow, or a function returning one), or
    saved at ``spec`` if it is a path ending in ``.json``. Anything that keeps it from
    being loaded ends the command (exit code 2) with one line saying why."""
    import_modules(imports)
    if _is_flow_file(spec):
        return _flow_from_file(spec)
    _importable_here()
    try:
        return flow_from_path(spec)
    except ConfigurationError as exc:
        raise CommandError(EXIT_BAD_ARGUMENTS, f"cannot load the flow {spec}: {exc}") from None


def redact(url: str) -> str:
    """``url`` without its password (for messages)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
        netloc = f"{user}:***@{host}{port}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return url.split("@")[-1] if "@" in url else url


def redis_client(url: str, option: str = "--redis") -> Any:
    """A redis-py client for ``url`` (connecting lazily), or a CommandError (exit
    code 2): redis-py is missing, or ``url`` is not a Redis URL."""
    try:
        import redis
    except ImportError:
        raise CommandError(
            EXIT_BAD_ARGUMENTS, "this command needs redis-py: pip install 'routilux[redis]'"
        ) from None
    try:
        return redis.Redis.from_url(url)
    except ValueError as exc:
        raise CommandError(
            EXIT_BAD_ARGUMENTS, f"{option} {redact(url)} is not a Redis URL: {exc}"
        ) from None


def _probe(store: Any, url: str) -> None:
    """Reach a Redis store's server now: one that cannot be reached is a store that
    cannot be opened (rather than a job that fails at its first checkpoint)."""
    ping = getattr(getattr(store, "_client", None), "ping", None)
    if not callable(ping):
        return
    try:
        ping()
    except Exception as exc:
        close_store(store)
        raise CommandError(
            EXIT_BAD_ARGUMENTS,
            f"cannot open the store {redact(url)}: {type(exc).__name__}: {exc}",
        ) from None


def open_store(url: str, prefix: str = "routilux", *, create: bool = False) -> JobStore:
    """The store at ``sqlite:PATH`` or ``redis://HOST:PORT/DB`` (``rediss://`` and
    ``unix://`` too). Without ``create``, a SQLite file must exist. A Redis server is
    reached at once."""
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
            store = RedisStore(url, prefix=prefix)
            _probe(store, url)
            return store
    except RoutiluxError as exc:
        raise CommandError(
            EXIT_BAD_ARGUMENTS, f"cannot open the store {redact(url)}: {exc}"
        ) from None
    raise CommandError(
        EXIT_BAD_ARGUMENTS,
        f"--store must be sqlite:PATH or redis://HOST:PORT/DB, not {_quote(redact(url))}",
    )


def close_store(store: Any) -> None:
    close = getattr(store, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


# -- printing --------------------------------------------------------------------------


class Output:
    """Standard output: styled by rich on a terminal (when rich is installed), plain
    lines otherwise (a file or a pipe never gets escape codes, nor lines cut to a
    width). Tables are laid out the same either way: columns two spaces apart."""

    def __init__(self, file: Any = None) -> None:
        self.file = file if file is not None else sys.stdout
        console = rich_console(self.file) if _isatty(self.file) else None
        self.console = console if console is not None and console.is_terminal else None

    def line(self, text: str = "", style: str | None = None) -> None:
        if self.console is None:
            print(text, file=self.file, flush=True)
            return
        from rich.text import Text

        self.console.print(Text(text, style=style or ""), soft_wrap=True)

    def table(
        self, headers: Sequence[str], rows: Sequence[Sequence[str]], right: Collection[int] = ()
    ) -> None:
        """A table; the columns whose indexes are in ``right`` are right-aligned.

        Laid out here, not by rich: every cell is printed whole, however long (a table
        fitted to a width would cut job ids or drop whole columns); the header is bold
        on a terminal."""
        cells = [[str(cell) for cell in headers], *([str(cell) for cell in row] for row in rows)]
        widths = [max(map(_width, column)) for column in zip(*cells, strict=True)]
        lines = [
            "  ".join(
                _pad(cell, width, index in right)
                for index, (cell, width) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in cells
        ]
        self.line(lines[0], style="bold")
        for text in lines[1:]:
            self.line(text)


def _width(text: str) -> int:
    """The columns ``text`` takes on a terminal (wide characters take two)."""
    if text.isascii():
        return len(text)
    return sum(
        0
        if unicodedata.combining(char)
        else 2
        if unicodedata.east_asian_width(char) in ("W", "F")
        else 1
        for char in text
    )


def _pad(text: str, width: int, right: bool) -> str:
    padding = " " * (width - _width(text))
    return padding + text if right else text + padding


_STATUS_STYLES = {
    "completed": "bold green",
    "failed": "bold red",
    "cancelled": "bold yellow",
    "paused": "bold cyan",
}


def status_style(status: str) -> str | None:
    return _STATUS_STYLES.get(status)


#: How much of an error's message its headline shows when its traceback (which ends
#: with the whole message) is printed under it.
HEADLINE_WIDTH = 200


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
        trace = str(error.get("traceback") or "").rstrip()
        message = str(error.get("error"))
        lines = message.splitlines() or [""]
        if tracebacks and trace:
            # The traceback ends with the whole message: one line of it is enough here.
            first = lines[0]
            if len(lines) > 1 or len(first) > HEADLINE_WIDTH:
                first = first[: HEADLINE_WIDTH - 1] + "…"
            lines = [first]
        out.line(
            f"  {where} (strategy {error.get('strategy')}, attempt {error.get('attempt')}): "
            f"{error.get('error_type')}: {lines[0]}",
            style="red",
        )
        for text in lines[1:]:
            out.line(f"    {text}", style="red")
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


class Run(NamedTuple):
    """What :func:`run_watched` returns."""

    job: JobState
    #: The run's counters.
    watch: Watch
    #: Ctrl-C cancelled the job.
    interrupted: bool


#: The reason recorded with a job cancelled by Ctrl-C.
INTERRUPT_REASON = "interrupted (Ctrl-C)"


def _cancel_interrupted(flow: Flow, job: JobState) -> None:
    """Cancel ``job`` (on its own thread: the signal may have come while the main
    thread held the job's lock), then say so."""
    try:
        flow.cancel(job, INTERRUPT_REASON)
    except RoutiluxError:  # it ended meanwhile
        return
    print(
        f"routilux: interrupted: job {job.job_id} cancelled; its running handlers finish "
        "(Ctrl-C again to quit at once)",
        file=sys.stderr,
        flush=True,
    )


@contextlib.contextmanager
def _interrupt_cancels(flow: Flow, watch: Watch) -> Iterator[threading.Event]:
    """While the block runs the watched job: a first Ctrl-C cancels the job (its
    running handlers finish, the store records it cancelled, the block returns); a
    second one, or one before the job started, interrupts as usual. Yields the event
    set by the first one. Only in the main thread (where signal handlers run)."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def on_interrupt(signum: int, frame: Any) -> None:
        job = watch.job_state
        if interrupted.is_set() or job is None or job.status not in ("pending", "running"):
            raise KeyboardInterrupt
        interrupted.set()
        threading.Thread(
            target=_cancel_interrupted, args=(flow, job), name="routilux-interrupt", daemon=True
        ).start()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def run_watched(
    flow: Flow, start: Callable[[JobStore], JobState], *, store: JobStore, live: bool
) -> Run:
    """Run ``start(watched_store)`` (which starts a run of a job on ``flow`` through
    that store and waits for it), with the live view on a terminal; returns the job,
    the watch, which holds the run's counters, and whether Ctrl-C cancelled the job."""
    watch = Watch(flow)
    watched = WatchingStore(store, watch.attach)
    console = _stderr_console(live)
    with (
        _engine_log(),
        _interrupt_cancels(flow, watch) as interrupted,
        _maybe_live(watch, console),
    ):
        job = start(watched)
    return Run(job, watch, interrupted.is_set())


def run_errors(watch: Watch, job: JobState) -> list[dict[str, Any]]:
    """The errors the job recorded during the watched run."""
    return list(job.errors[watch.errors_from :])

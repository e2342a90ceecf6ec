"""The ``routilux`` command (``python -m routilux``).

Subcommands:

- ``routilux worker FLOW --redis URL [--concurrency N] [--lease S]
  [--max-deliveries N] [--prefix P] [--import MODULE]``: run the handlers of the flow's
  activations sent by :class:`~routilux.runtimes.redis.RedisRuntime` drivers, until
  SIGTERM or Ctrl-C (then running handlers finish and commit, and what was taken but
  not started is handed back). It prints one line when it serves, and its counters
  when it stops.
- ``routilux stats FLOW_ID --redis URL [--prefix P]``: what the flow's stream holds
  (length, pending, lag, dead letters, consumers, redeliveries).
- ``routilux cancel|pause JOB_ID --redis URL [--prefix P] [--reason TEXT]``: have the
  driver of a job run by a Redis runtime (in any process) cancel or pause it; exit 1
  when no driver runs the job.

- ``routilux run FLOW [--entry ID] [--params JSON] [--store URL] [--no-live]``: run a
  job, with a live view on a terminal, and print how it ended. A first Ctrl-C cancels
  the job (its running handlers finish), prints how it ended and exits 130; a second
  one quits at once.
- ``routilux validate FLOW`` and ``routilux graph FLOW --format mermaid|dot
  [--direction LR|TB|RL|BT]``: check the wiring, draw the flow.
- ``routilux jobs list|show|resume|cancel|recover --store URL``: the jobs of a SQLite
  (``sqlite:PATH``) or Redis (``redis://...``) store (see :mod:`routilux._cli_jobs`).

``FLOW`` is ``MODULE:FLOW`` (a Flow, or a function returning one), or a path ending in
``.json``: a flow saved with ``flow.save`` (``--import MODULE`` imports the modules
defining its routine classes).

Exit codes: 0 done (the job completed); 1 failed (the job failed or was cancelled,
``validate`` found errors, the command was refused, Redis cannot be reached by
``worker``, ``stats``, ``cancel``, ``pause``); 2 bad arguments (a flow that cannot be
loaded, ``--params`` that is not a JSON object, an unknown entry routine, a store that
cannot be opened or reached, a job of another flow); 3 the job paused; 130 interrupted
(Ctrl-C); 141 standard output was closed by its reader (``routilux ... | head``). Bad
input is reported on one line of standard error, never with a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from routilux._cli_common import (
    EXIT_BAD_ARGUMENTS,
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CommandError,
    Output,
    close_store,
    exit_code,
    load_flow,
    open_store,
    parse_params,
    print_summary,
    redact,
    redis_client,
    run_errors,
    run_watched,
)
from routilux.exceptions import ConfigurationError, RoutiluxError
from routilux.stores import SQLiteStore

if TYPE_CHECKING:
    from routilux.flow import Flow
    from routilux.job_state import JobState
    from routilux.stores.base import JobStore

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="routilux", description="Run and inspect flows.")
    commands = parser.add_subparsers(dest="command", required=True)
    imports = argparse.ArgumentParser(add_help=False)
    imports.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (it defines or registers classes a JSON flow or a "
        "stored job names); may be repeated",
    )
    worker = commands.add_parser(
        "worker",
        parents=[imports],
        help="run the handlers of a flow's activations sent through Redis",
    )
    worker.add_argument("flow", metavar="MODULE:FLOW", help=FLOW_HELP)
    worker.add_argument("--redis", required=True, metavar="URL", help="redis://host:port/db")
    worker.add_argument("--prefix", default="routilux", help="the drivers' key prefix")
    worker.add_argument("--concurrency", type=int, default=4, help="handlers at once")
    worker.add_argument("--lease", type=float, default=10.0, help="lease in seconds")
    worker.add_argument(
        "--max-deliveries", type=int, default=5, help="deliveries before the dead-letter stream"
    )
    worker.add_argument("--name", default=None, help="the consumer name (default: host:pid)")
    stats = commands.add_parser(
        "stats", help="what a flow's Redis stream holds: length, lag, pending, dead letters"
    )
    stats.add_argument("flow_id", metavar="FLOW_ID", help="the flow's id")
    stats.add_argument("--redis", required=True, metavar="URL", help="redis://host:port/db")
    stats.add_argument("--prefix", default="routilux", help="the drivers' key prefix")
    for action in ("cancel", "pause"):
        control = commands.add_parser(
            action, help=f"{action} a job run by a Redis runtime, from any process"
        )
        control.add_argument("job_id", metavar="JOB_ID")
        control.add_argument("--redis", required=True, metavar="URL", help="redis://host:port/db")
        control.add_argument("--prefix", default="routilux", help="the drivers' key prefix")
        control.add_argument("--reason", default="", help="recorded with the job")
    _add_flow_commands(commands, imports)
    return parser


FLOW_HELP = "the flow: MODULE:FLOW (a Flow or a function returning one) or FILE.json"


def _add_flow_commands(commands: Any, imports: argparse.ArgumentParser) -> None:
    """``run``, ``validate``, ``graph`` and ``jobs``."""
    from routilux._cli_jobs import add_jobs_parser

    flow_help = FLOW_HELP
    run = commands.add_parser("run", parents=[imports], help="run a job, with a live view")
    run.add_argument("flow", metavar="MODULE:FLOW", help=flow_help)
    run.add_argument(
        "--entry", default=None, help="the entry routine (default: the flow's only one)"
    )
    run.add_argument("--params", default="{}", help="the entry params, a JSON object")
    run.add_argument(
        "--strategy", choices=["sequential", "concurrent"], default=None, help="for this job"
    )
    run.add_argument(
        "--store", default=None, metavar="URL", help="record the job: sqlite:PATH or redis://..."
    )
    run.add_argument("--prefix", default="routilux", help="the Redis store's key prefix")
    run.add_argument("--no-live", action="store_true", help="no live view")
    validate = commands.add_parser(
        "validate", parents=[imports], help="check a flow's wiring without running it"
    )
    validate.add_argument("flow", metavar="MODULE:FLOW", help=flow_help)
    validate.add_argument("--entry", default=None, help="check it as the entry routine")
    validate.add_argument("--strict", action="store_true", help="warnings fail too")
    graph = commands.add_parser("graph", parents=[imports], help="draw a flow as text")
    graph.add_argument("flow", metavar="MODULE:FLOW", help=flow_help)
    graph.add_argument("--format", choices=["mermaid", "dot"], default="mermaid")
    graph.add_argument(
        "--direction",
        choices=["LR", "TB", "RL", "BT"],
        default="LR",
        help="left to right (the default) or top to bottom (TB), or reversed",
    )
    store_options = argparse.ArgumentParser(add_help=False, parents=[imports])
    store_options.add_argument(
        "--store", required=True, metavar="URL", help="sqlite:PATH or redis://HOST:PORT/DB"
    )
    store_options.add_argument("--prefix", default="routilux", help="the Redis store's prefix")
    flow_option = argparse.ArgumentParser(add_help=False)
    flow_option.add_argument(
        "--flow", required=True, metavar="MODULE:FLOW", help="the job's flow: " + flow_help
    )
    add_jobs_parser(commands, store_options, flow_option)


def _entry(flow: Flow, entry: str | None) -> str:
    """The entry routine: ``--entry``, or the flow's only routine with a ``trigger``
    slot (among several, the only one nothing is connected to)."""
    if entry is not None:
        if entry not in flow.routines:
            raise CommandError(
                EXIT_BAD_ARGUMENTS,
                f"flow '{flow.flow_id}' has no routine {entry!r} "
                f"(it has {', '.join(map(repr, flow.routines)) or 'none'})",
            )
        return entry
    candidates = [rid for rid, r in flow.routines.items() if r.get_slot("trigger") is not None]
    if len(candidates) > 1:
        fed = {c.target_routine_id for c in flow.connections}
        unfed = [rid for rid in candidates if rid not in fed]
        candidates = unfed if len(unfed) == 1 else candidates
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise CommandError(
            EXIT_BAD_ARGUMENTS, f"flow '{flow.flow_id}' has no routine with a 'trigger' slot"
        )
    raise CommandError(
        EXIT_BAD_ARGUMENTS,
        f"name the entry routine with --entry: one of {', '.join(map(repr, candidates))}",
    )


def _run(arguments: Any) -> int:
    params = parse_params(arguments.params)
    flow = load_flow(arguments.flow, arguments.imports)
    entry = _entry(flow, arguments.entry)
    own_store = flow.store
    store = own_store
    if arguments.store is not None:
        store = open_store(arguments.store, arguments.prefix, create=True)

    def start(watched: JobStore) -> JobState:
        flow.store = watched
        job: JobState = flow.execute(entry, params, arguments.strategy)
        return job

    try:
        run = run_watched(flow, start, store=store, live=not arguments.no_live)
    except ConfigurationError as exc:  # the entry routine has no trigger slot
        raise CommandError(EXIT_BAD_ARGUMENTS, str(exc)) from None
    finally:
        flow.store = own_store
        if store is not own_store:
            close_store(store)
    job = run.job
    out = Output()
    print_summary(out, run.watch.snapshot(), job, run_errors(run.watch, job))
    where = arguments.store
    if where is None and isinstance(own_store, SQLiteStore):  # the flow's own file
        where = f"sqlite:{own_store.path}"
    if job.status == "paused" and where is not None:
        out.line(
            f"resume it with: routilux jobs resume {job.job_id} --store {shlex.quote(where)} "
            f"--flow {shlex.quote(arguments.flow)}"
        )
    return EXIT_INTERRUPTED if run.interrupted else exit_code(job.status)


def _validate(arguments: Any) -> int:
    flow = load_flow(arguments.flow, arguments.imports)
    if arguments.entry is not None:
        _entry(flow, arguments.entry)  # an unknown routine is a bad argument
    issues = flow.validate(arguments.entry)
    out = Output()
    for issue in issues:
        out.line(str(issue), style="red" if issue.severity == "error" else "yellow")
    if not issues:
        out.line("ok", style="green")
        return EXIT_OK
    if arguments.strict or any(issue.severity == "error" for issue in issues):
        return EXIT_FAILED
    out.line(f"ok ({len(issues)} warning{'s' if len(issues) > 1 else ''})", style="green")
    return EXIT_OK


def _graph(arguments: Any) -> int:
    flow = load_flow(arguments.flow, arguments.imports)
    draw = flow.to_mermaid if arguments.format == "mermaid" else flow.to_dot
    text = draw(direction=arguments.direction)
    sys.stdout.write(text)
    sys.stdout.flush()
    return EXIT_OK


def _redis_failure(url: str, exc: Exception) -> CommandError:
    return CommandError(
        EXIT_FAILED, f"cannot reach Redis at {redact(url)}: {type(exc).__name__}: {exc}"
    )


def _control(arguments: Any) -> int:
    from routilux.runtimes.redis import cancel_job, pause_job

    request = cancel_job if arguments.command == "cancel" else pause_job
    client = redis_client(arguments.redis)
    try:
        found = request(client, arguments.job_id, arguments.reason, prefix=arguments.prefix)
    except ConfigurationError as exc:  # the prefix
        raise CommandError(EXIT_BAD_ARGUMENTS, str(exc)) from None
    except RoutiluxError:
        raise
    except Exception as exc:  # Redis cannot be reached
        raise _redis_failure(arguments.redis, exc) from None
    finally:
        client.close()
    if not found:
        raise CommandError(EXIT_FAILED, f"no driver runs job {arguments.job_id}")
    print(f"{arguments.command} of job {arguments.job_id} sent to its driver")
    return EXIT_OK


def _stats(arguments: Any) -> int:
    from routilux.runtimes.redis import stream_stats

    client = redis_client(arguments.redis)
    try:
        counts = stream_stats(client, arguments.flow_id, prefix=arguments.prefix)
    except ConfigurationError as exc:  # the prefix
        raise CommandError(EXIT_BAD_ARGUMENTS, str(exc)) from None
    except RoutiluxError:
        raise
    except Exception as exc:  # Redis cannot be reached
        raise _redis_failure(arguments.redis, exc) from None
    finally:
        client.close()
    for name, value in counts.items():
        print(f"{name:<13} {value}")
    return EXIT_OK


def _worker(arguments: Any) -> int:
    from routilux.runtimes.redis import Worker

    flow = load_flow(arguments.flow, arguments.imports)
    client = redis_client(arguments.redis)
    try:
        worker = Worker(
            flow,
            client,
            prefix=arguments.prefix,
            concurrency=arguments.concurrency,
            lease=arguments.lease,
            max_deliveries=arguments.max_deliveries,
            name=arguments.name,
        )
    except ConfigurationError as exc:  # an option out of range
        client.close()
        raise CommandError(EXIT_BAD_ARGUMENTS, str(exc)) from None

    def stop(signum: int, _frame: Any) -> None:
        worker.stop(wait=False)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            worker.start()
        except Exception as exc:  # Redis cannot be reached
            raise _redis_failure(arguments.redis, exc) from None
        print(
            f"worker {worker.consumer} serving flow {flow.flow_id!r} "
            f"(concurrency {worker.concurrency}, lease {worker.lease:g} s)",
            flush=True,
        )
        # Signal handlers run in the main thread: wait there, in slices it can run between.
        while not worker._stop.wait(0.5):
            pass
        worker.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        client.close()
    print(f"worker {worker.consumer} stopped: {worker.counts}", flush=True)
    return EXIT_OK


def _streams_never_fail_on_encoding() -> None:
    """Text a stream's encoding lacks (a flow id in Japanese on an ASCII terminal) is
    escaped rather than ending the command."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure) and getattr(stream, "errors", None) == "strict":
            with contextlib.suppress(Exception):
                reconfigure(errors="backslashreplace")


def _quiet_stdout() -> None:
    """After its reader went away, nothing more is written to standard output (nor
    complained about when Python flushes it at exit)."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    _streams_never_fail_on_encoding()
    try:
        arguments = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or arguments argparse refused (2)
        return exc.code if isinstance(exc.code, int) else EXIT_OK if exc.code is None else 2
    try:
        return _command(arguments)
    except CommandError as exc:
        _error(exc)
        return exc.code
    except RoutiluxError as exc:
        _error(exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("routilux: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # standard output was closed: `routilux ... | head`
        _quiet_stdout()
        return EXIT_BROKEN_PIPE


def _error(exc: Exception) -> None:
    """``routilux: message`` on one line (a message of several lines is joined)."""
    print("routilux: " + " ".join(str(exc).splitlines()), file=sys.stderr)


def _command(arguments: Any) -> int:
    if arguments.command == "worker":
        return _worker(arguments)
    if arguments.command == "stats":
        return _stats(arguments)
    if arguments.command in ("cancel", "pause"):
        return _control(arguments)
    if arguments.command == "run":
        return _run(arguments)
    if arguments.command == "validate":
        return _validate(arguments)
    if arguments.command == "graph":
        return _graph(arguments)
    if arguments.command == "jobs":
        from routilux._cli_jobs import jobs

        return jobs(arguments)
    return EXIT_BAD_ARGUMENTS  # pragma: no cover - argparse refuses unknown commands

"""The ``routilux`` command (``python -m routilux``).

Subcommands:

- ``routilux worker MODULE:FLOW --redis URL [--concurrency N] [--lease S]
  [--max-deliveries N] [--prefix P]``: run the handlers of the flow's activations sent
  by :class:`~routilux.runtimes.redis.RedisRuntime` drivers, until SIGTERM or Ctrl-C
  (then running handlers finish and commit, and what was taken but not started is
  handed back). It prints one line when it serves, and its counters when it stops.
- ``routilux stats FLOW_ID --redis URL [--prefix P]``: what the flow's stream holds
  (length, pending, lag, dead letters, consumers, redeliveries).
- ``routilux cancel|pause JOB_ID --redis URL [--prefix P] [--reason TEXT]``: have the
  driver of a job run by a Redis runtime (in any process) cancel or pause it; exit 1
  when no driver runs the job.

Exit codes: 0 done, 1 failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from typing import Any

from routilux.exceptions import RoutiluxError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="routilux", description="Run and inspect flows.")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser(
        "worker", help="run the handlers of a flow's activations sent through Redis"
    )
    worker.add_argument("flow", metavar="MODULE:FLOW", help="the flow, by import path")
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
    return parser


def _control(arguments: Any) -> int:
    from routilux.runtimes.redis import cancel_job, pause_job

    request = cancel_job if arguments.command == "cancel" else pause_job
    try:
        found = request(
            arguments.redis, arguments.job_id, arguments.reason, prefix=arguments.prefix
        )
    except Exception as exc:  # Redis cannot be reached
        print(f"routilux: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if not found:
        print(f"routilux: no driver runs job {arguments.job_id}", file=sys.stderr)
        return 1
    print(f"{arguments.command} of job {arguments.job_id} sent to its driver")
    return 0


def _stats(arguments: Any) -> int:
    from routilux.runtimes.redis import stream_stats

    try:
        counts = stream_stats(arguments.redis, arguments.flow_id, prefix=arguments.prefix)
    except Exception as exc:  # Redis cannot be reached
        print(f"routilux: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for name, value in counts.items():
        print(f"{name:<13} {value}")
    return 0


def _worker(arguments: Any) -> int:
    from routilux.runtimes.redis import Worker, flow_from_path

    flow = flow_from_path(arguments.flow)
    worker = Worker(
        flow,
        arguments.redis,
        prefix=arguments.prefix,
        concurrency=arguments.concurrency,
        lease=arguments.lease,
        max_deliveries=arguments.max_deliveries,
        name=arguments.name,
    )

    def stop(signum: int, _frame: Any) -> None:
        worker.stop(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.start()
    print(
        f"worker {worker.consumer} serving flow {flow.flow_id!r} "
        f"(concurrency {worker.concurrency}, lease {worker.lease:g} s)",
        flush=True,
    )
    # Signal handlers run in the main thread: wait there, in slices it can run between.
    while not worker._stop.wait(0.5):
        pass
    worker.join()
    print(f"worker {worker.consumer} stopped: {worker.counts}", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    arguments = _parser().parse_args(argv)
    try:
        if arguments.command == "worker":
            return _worker(arguments)
        if arguments.command == "stats":
            return _stats(arguments)
        if arguments.command in ("cancel", "pause"):
            return _control(arguments)
    except RoutiluxError as exc:
        print(f"routilux: {exc}", file=sys.stderr)
        return 1
    return 2  # pragma: no cover - argparse refuses unknown commands

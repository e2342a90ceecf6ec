"""``routilux jobs list|show|resume|cancel|recover``: jobs in a SQLite or Redis store."""

from __future__ import annotations

import argparse
import shlex
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from routilux._cli_common import (
    EXIT_BAD_ARGUMENTS,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CommandError,
    Output,
    close_store,
    exit_code,
    import_modules,
    load_flow,
    open_store,
    print_errors,
    print_summary,
    run_errors,
    run_watched,
    status_style,
)
from routilux.exceptions import ConfigurationError, JobStateError

if TYPE_CHECKING:
    from routilux.job_state import JobState
    from routilux.stores.base import JobStore

__all__ = ["add_jobs_parser", "jobs"]

#: How much of a value ``jobs show`` prints: history data, a routine's state.
VALUE_WIDTH = 100
STATE_WIDTH = 300


def add_jobs_parser(
    commands: Any, store_options: argparse.ArgumentParser, flow_option: argparse.ArgumentParser
) -> None:
    """The ``jobs`` subcommand and its own subcommands."""
    jobs_parser = commands.add_parser(
        "jobs", help="list, show, resume, cancel or recover the jobs of a SQLite or Redis store"
    )
    actions = jobs_parser.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", parents=[store_options], help="the unfinished jobs (all jobs with --all)"
    )
    listing.add_argument(
        "--all", action="store_true", help="finished jobs too (a SQLite store only)"
    )
    listing.add_argument("--flow-id", default=None, help="only the jobs of this flow")
    show = actions.add_parser(
        "show",
        parents=[store_options],
        help="a job: status, routine states, the end of its history, its errors",
    )
    show.add_argument("job_id", metavar="JOB_ID")
    show.add_argument("--tail", type=int, default=10, help="history records shown (default 10)")
    for name, text in (
        ("resume", "resume a paused job, with the flow it belongs to"),
        ("recover", "continue a job whose process died (or a paused one) from the store"),
    ):
        action = actions.add_parser(name, parents=[store_options, flow_option], help=text)
        action.add_argument("job_id", metavar="JOB_ID")
        action.add_argument("--no-live", action="store_true", help="no live view")
    cancel = actions.add_parser(
        "cancel",
        parents=[store_options],
        help="cancel a paused job (or one whose process died), recording it in the store",
    )
    cancel.add_argument("job_id", metavar="JOB_ID")
    cancel.add_argument("--reason", default="", help="recorded with the job")


def jobs(arguments: argparse.Namespace) -> int:
    """Run ``routilux jobs ACTION``."""
    import_modules(arguments.imports)
    action = arguments.jobs_command
    flow = load_flow(arguments.flow) if action in ("resume", "recover") else None
    store = open_store(arguments.store, arguments.prefix)
    try:
        if action == "list":
            return _list(store, arguments)
        if action == "show":
            return _show(store, arguments)
        if action == "cancel":
            return _cancel(store, arguments)
        assert flow is not None
        return _continue(store, flow, arguments)
    finally:
        close_store(store)


def _time(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds")


def _cut(text: str, width: int = VALUE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _load(store: JobStore, job_id: str) -> JobState:
    job = store.load(job_id)
    if job is None:
        raise CommandError(EXIT_FAILED, f"{store!r} has no job {job_id}")
    return job


def _list(store: JobStore, arguments: argparse.Namespace) -> int:
    if arguments.all:
        lister = getattr(store, "job_ids", None)
        if lister is None:
            raise CommandError(
                EXIT_BAD_ARGUMENTS,
                f"{store!r} lists only unfinished jobs (finished ones expire): "
                "--all needs a SQLite store",
            )
        ids: list[str] = lister(arguments.flow_id)
    else:
        ids = store.unfinished_job_ids(arguments.flow_id)
    out = Output()
    rows = []
    unreadable = []
    for job_id in ids:
        try:
            job = store.load(job_id)
        except Exception as exc:  # one damaged job does not hide the others
            rows.append([job_id, "?", "unreadable", "", "", ""])
            unreadable.append(f"{job_id}: {exc}")
            continue
        if job is None:  # finished and expired meanwhile
            continue
        rows.append(
            [
                job.job_id,
                job.flow_id,
                job.status,
                str(len(job.pending_tasks)),
                str(len(job.errors)),
                _time(job.updated_at),
            ]
        )
    if not rows:
        out.line("no jobs" if arguments.all else "no unfinished jobs")
        return EXIT_OK
    out.table(["job", "flow", "status", "pending", "errors", "updated"], rows, right=(3, 4))
    if unreadable:
        out.line("unreadable:", style="bold")
        for text in unreadable:
            out.line(f"  {text}", style="red")
    return EXIT_OK


def _show(store: JobStore, arguments: argparse.Namespace) -> int:
    if arguments.tail < 0:
        raise CommandError(EXIT_BAD_ARGUMENTS, f"--tail must be >= 0, not {arguments.tail}")
    job = _load(store, arguments.job_id)
    out = Output()
    out.line(f"job {job.job_id}", style="bold")
    pending = Counter(task.routine_id for task in job.pending_tasks)
    fields = [
        ("flow", job.flow_id),
        ("status", job.status),
        ("entry", job.current_routine_id or "-"),
        ("created", _time(job.created_at)),
        ("updated", _time(job.updated_at)),
        (
            "pending",
            f"{len(job.pending_tasks)} activations"
            + (": " + ", ".join(f"{rid} {n}" for rid, n in pending.items()) if pending else ""),
        ),
    ]
    if job.deferred_events:
        fields.append(("deferred", f"{len(job.deferred_events)} events"))
    if job.status == "paused" and job.pause_points:
        point = job.pause_points[-1]
        fields.append(("paused", f"{point.get('reason')!r} at {point.get('timestamp')}"))
    cancellation = job.routine_states.get("_cancellation")
    if job.status == "cancelled" and cancellation:
        fields.append(("reason", str(cancellation.get("reason"))))
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        out.line(f"  {name.ljust(width)}  {value}", style=status_style(value))
    states = {k: v for k, v in job.routine_states.items() if k != "_cancellation"}
    if states:
        out.line("routine states:", style="bold")
        for routine_id, state in states.items():
            out.line(f"  {routine_id}: {_cut(repr(state), STATE_WIDTH)}")
    history = job.get_execution_history()
    if history and arguments.tail:
        shown = history[-arguments.tail :]
        out.line(f"history (last {len(shown)} of {len(history)}):", style="bold")
        out.table(
            ["  time", "routine", "event", "data"],
            [
                [
                    "  " + record.timestamp.isoformat(sep=" ", timespec="milliseconds"),
                    record.routine_id,
                    record.event_name,
                    _cut(repr(record.data)),
                ]
                for record in shown
            ],
        )
    print_errors(out, job.errors, tracebacks=True)
    return EXIT_OK


def _continue(store: JobStore, flow: Any, arguments: argparse.Namespace) -> int:
    """``resume`` (a paused job) and ``recover`` (a job whose process died, or a
    paused one): both continue the job from the store, through ``flow.recover``, which
    claims it first."""
    action, job_id = arguments.jobs_command, arguments.job_id
    stored = _load(store, job_id)
    out = Output()
    if action == "resume" and stored.status != "paused":
        hint = ""
        if stored.status == "running":
            hint = "; if the process that ran it died, use `routilux jobs recover`"
        raise CommandError(EXIT_FAILED, f"job {job_id} is {stored.status}, not paused{hint}")
    if stored.is_finished:
        out.line(
            f"job {job_id} of flow '{stored.flow_id}' is already {stored.status}: "
            "nothing to recover",
            style=status_style(stored.status),
        )
        return exit_code(stored.status)
    if stored.flow_id != flow.flow_id:
        raise CommandError(
            EXIT_BAD_ARGUMENTS,
            f"job {job_id} belongs to flow '{stored.flow_id}', not to '{flow.flow_id}' "
            f"({arguments.flow})",
        )

    def start(watched: JobStore) -> JobState:
        job: JobState = flow.recover(job_id, watched, wait=True)
        return job

    try:
        run = run_watched(flow, start, store=store, live=not arguments.no_live)
    except ConfigurationError as exc:  # the flow lacks what the job's pending work names
        raise CommandError(EXIT_BAD_ARGUMENTS, f"cannot {action} job {job_id}: {exc}") from None
    except JobStateError as exc:  # another process holds it
        raise CommandError(EXIT_FAILED, f"cannot {action} job {job_id}: {exc}") from None
    job = run.job
    print_summary(out, run.watch.snapshot(), job, run_errors(run.watch, job))
    if job.status == "paused":  # paused again
        out.line(
            f"resume it with: routilux jobs resume {job.job_id} "
            f"--store {shlex.quote(arguments.store)} --flow {shlex.quote(arguments.flow)}"
        )
    return EXIT_INTERRUPTED if run.interrupted else exit_code(job.status)


def _cancel(store: JobStore, arguments: argparse.Namespace) -> int:
    """Cancel a stored job that no process runs: claim it (refused while another live
    process holds it), drop its pending work and record it cancelled."""
    job_id = arguments.job_id
    try:
        store.acquire(job_id)
    except JobStateError as exc:
        raise CommandError(
            EXIT_FAILED,
            f"cannot cancel job {job_id}: {exc} (a job run by a Redis runtime is cancelled "
            "through its driver: routilux cancel JOB_ID --redis URL)",
        ) from None
    try:
        job = _load(store, job_id)
        if job.is_finished:
            raise CommandError(EXIT_FAILED, f"job {job_id} is already {job.status}")
        was, dropped = job.status, len(job.pending_tasks)
        with job._lock:
            # What cancelling a paused job drops (as flow.cancel does).
            job.pending_tasks.clear()
            job.deferred_events.clear()
            job._merge_buffers.clear()
        job._set_cancelled(arguments.reason)
        store.job_settled(job)  # records it, and gives up the claim
    except BaseException:
        store.release(job_id)
        raise
    Output().line(
        f"job {job_id} of flow '{job.flow_id}' cancelled (it was {was}; "
        f"{dropped} pending activations dropped)",
        style=status_style("cancelled"),
    )
    return EXIT_OK

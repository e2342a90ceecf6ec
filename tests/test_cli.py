"""The ``routilux`` command: run, validate, graph and jobs (issue 11, items 5 and 6).

Each command runs in this process through ``routilux._cli.main`` with its output
captured, and ``run`` (and a crash) in real subprocesses too. The ``jobs`` commands
act on a SQLite file made here holding a paused, a crashed (its process killed
itself mid-job), a completed and a failed job, and on a Redis store.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cli_app
import pytest
from redis_server import store_prefix

from routilux._cli import main
from routilux.stores import SQLiteStore

HERE = Path(__file__).resolve().parent
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def cli(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    """Run the command in this process: (exit code, stdout, stderr)."""
    code = main(list(arguments))
    out, err = capsys.readouterr()
    return code, out, err


def command(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m routilux ARGUMENTS`` in the tests' folder (where cli_app is)."""
    return subprocess.run(
        [sys.executable, "-m", "routilux", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=HERE,
        env={**os.environ, **(env or {})},
        check=False,
    )


def table(out: str) -> dict[str, list[str]]:
    """The rows of the routine table of a summary, by routine id."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("routine "))
    rows = {}
    for line in lines[start + 1 :]:
        cells = line.split()
        if not cells or not cells[1].replace(",", "").isdigit():
            break
        rows[cells[0]] = cells[1:]
    return rows


def job_id_of(out: str) -> str:
    match = re.match(rf"job ({UUID}) of flow", out)
    assert match, out
    return match[1]


ORDERS = json.dumps({"amounts": [10, 25.5, 4, 99.9]})


# -- run ---------------------------------------------------------------------------------


def test_run_prints_how_the_job_ended(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run", "cli_app:orders", "--entry", "source", "--params", ORDERS)
    assert (code, err) == (0, "")
    assert re.match(rf"job {UUID} of flow 'orders': completed in \d+\.\d\d s\n", out)
    assert out.splitlines()[1].split() == ["routine", "ran", "queued", "failed", "last", "error"]
    assert table(out) == {
        "source": ["1", "0", "0"],
        "price": ["4", "0", "0"],
        "ledger": ["4", "0", "0"],
    }
    assert "errors" not in out


def test_run_finds_the_only_entry_routine(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run", "cli_app:shared_flow", "--params", '{"amounts": [1]}')
    assert code == 0 and table(out)["ledger"] == ["1", "0", "0"]
    code, _, err = cli(capsys, "run", "cli_app:two_entries")
    assert code == 2 and "name the entry routine with --entry: one of 'a', 'b'" in err
    code, out, _ = cli(capsys, "run", "cli_app:two_entries", "--entry", "b")
    assert code == 0 and table(out)["b"] == ["1", "0", "0"]
    code, _, err = cli(capsys, "run", "cli_app:orders", "--entry", "nowhere")
    assert code == 2 and "flow 'orders' has no routine 'nowhere'" in err
    code, _, err = cli(capsys, "run", "cli_app:orders", "--entry", "ledger")
    assert code == 2 and "must have a 'trigger' slot" in err


def test_a_failed_job_prints_its_errors_with_tracebacks_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    params = json.dumps({"amounts": [10, -1, 4]})
    code, out, _ = cli(capsys, "run", "cli_app:orders", "--params", params)
    assert code == 1
    assert re.match(rf"job {UUID} of flow 'orders': failed in", out)
    assert table(out)["price"] == ["2", "0", "1", "ValueError:", "negative", "amount", "-1"]
    assert "errors (1):\n  price, slot input (strategy stop, attempt 0): ValueError: " in out
    trace = out[out.index("    Traceback (most recent call last):") :]
    assert 'cli_app.py", line' in trace and "in price" in trace
    assert trace.rstrip().endswith("    ValueError: negative amount -1")


def test_a_job_that_goes_on_after_failures_lists_them_without_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    params = json.dumps({"amounts": [-1, 2]})
    code, out, _ = cli(capsys, "run", "cli_app:lenient_orders", "--params", params)
    assert code == 0
    assert "errors (1):" in out and "Traceback" not in out


def test_a_paused_job_exits_3_and_says_how_to_resume_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = f"sqlite:{tmp_path / 'jobs.db'}"
    params = json.dumps({"amounts": [10, 25.5, 4], "pause_at": 25.5})
    code, out, _ = cli(capsys, "run", "cli_app:orders", "--params", params, "--store", store)
    assert code == 3
    job_id = job_id_of(out)
    assert "of flow 'orders': paused in" in out
    assert table(out) == {
        "source": ["1", "0", "0"],
        "price": ["2", "1", "0"],
        "ledger": ["0", "2", "0"],
    }
    assert out.splitlines()[-1] == (
        f"resume it with: routilux jobs resume {job_id} --store {store} --flow cli_app:orders"
    )
    recorded = SQLiteStore(tmp_path / "jobs.db")
    assert recorded.unfinished_job_ids() == [job_id]
    recorded.close()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("{bad", "--params is not valid JSON: Expecting property name"),
        ("[1, 2]", "--params must be a JSON object ({...}), not list"),
        ('"text"', "--params must be a JSON object ({...}), not str"),
        ("null", "--params must be a JSON object ({...}), not NoneType"),
        ("[" * 100_000 + "]" * 100_000, "--params is not valid JSON: nested too deeply"),
    ],
)
def test_params_must_be_a_json_object(
    capsys: pytest.CaptureFixture[str], params: str, message: str
) -> None:
    code, out, err = cli(capsys, "run", "cli_app:orders", "--params", params)
    assert (code, out) == (2, "")
    assert err.startswith(f"routilux: {message}")
    assert err.count("\n") == 1 and len(err) < 300  # the text is quoted, cut


@pytest.mark.parametrize(
    ("flow", "message"),
    [
        ("cli_app:nothing", "module 'cli_app' has no attribute 'nothing'"),
        ("cli_app:ordrs", "module 'cli_app' has no attribute 'ordrs' (did you mean 'orders'?)"),
        ("cli_app:orders.items", "cli_app:orders has no attribute 'items'"),
        ("cli_app:not_a_flow", "cli_app:not_a_flow is int, not a Flow"),
        ("cli_app:Source", "cli_app:Source() returned Source, not a Flow"),
        ("no_such_module_here:flow", "cannot import 'no_such_module_here': no module named"),
        ("cli_app", "the flow must be MODULE:FLOW or a FILE.json, not 'cli_app'"),
        ("cli_app:", "the flow must be MODULE:FLOW or a FILE.json, not 'cli_app:'"),
        ("cli_app:broken", "RuntimeError: cannot build this flow"),
        ("cli_app:broken_in_lines", "cannot build this flow: the second line says why"),
        ("missing.json", "no flow file missing.json"),
    ],
)
def test_a_flow_that_cannot_be_loaded_exits_2(
    capsys: pytest.CaptureFixture[str], flow: str, message: str
) -> None:
    for subcommand in ("run", "validate", "graph"):
        code, out, err = cli(capsys, subcommand, flow)
        assert (code, out) == (2, "")
        assert err.startswith("routilux: ") and message in err
        assert err.count("\n") == 1  # one line, no traceback
    # The worker finds its flow the same way (before it reaches for Redis).
    code, out, err = cli(capsys, "worker", flow, "--redis", "redis://127.0.0.1:1/0")
    assert (code, out) == (2, "") and message in err and err.count("\n") == 1


def test_a_damaged_or_misnamed_flow_file_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.json"
    damaged.write_text('{"format": "routilux.flow", ')
    folder = tmp_path / "folder.json"
    folder.mkdir()
    foreign = tmp_path / "list.json"
    foreign.write_text("[1, 2]")
    for path, message in (
        (damaged, "is not valid JSON"),
        (folder, f"{folder} is not a file"),
        (foreign, "must be a JSON object, not list"),
    ):
        code, out, err = cli(capsys, "run", str(path))
        assert (code, out) == (2, ""), err
        assert message in err and err.count("\n") == 1


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for arguments in (
        [],
        ["run"],
        ["nonsense"],
        ["graph", "cli_app:orders", "--format", "png"],
        ["run", "cli_app:orders", "--strategy", "parallel"],
        ["jobs"],
        ["jobs", "list"],  # no --store
        ["jobs", "resume", "some-id", "--store", "sqlite:x.db"],  # no --flow
    ):
        code, _, err = cli(capsys, *arguments)
        assert code == 2, arguments
        assert "usage: routilux" in err
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    for name in ("worker", "stats", "cancel", "pause", "run", "validate", "graph", "jobs"):
        assert name in out


def test_run_in_a_subprocess() -> None:
    done = command("run", "cli_app:orders", "--params", ORDERS, "--no-live")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert table(done.stdout)["price"] == ["4", "0", "0"]
    failed = command("run", "cli_app:orders", "--params", '{"amounts": [-5]}')
    assert failed.returncode == 1
    assert "ValueError: negative amount -5" in failed.stdout
    # The engine's warning about the failure (with its traceback) is not logged again.
    assert failed.stderr == ""
    bad = command("run", "cli_app:orders", "--params", "nope")
    assert (bad.returncode, bad.stdout) == (2, "")
    assert "routilux: --params is not valid JSON" in bad.stderr
    # Output that is not a terminal gets no escape codes, whatever the environment asks.
    coloured = command(
        "run", "cli_app:orders", "--params", ORDERS, env={"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"}
    )
    assert coloured.returncode == 0 and coloured.stderr == ""
    assert "\x1b" not in coloured.stdout and table(coloured.stdout)["price"] == ["4", "0", "0"]


def test_tables_print_every_cell_whole(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Output that is not a terminal is never fitted to a width: rich dropped the count
    columns of a routine with a long id, and cut job ids in `jobs list`."""
    store = f"sqlite:{tmp_path / 'jobs.db'}"
    code, out, _ = cli(capsys, "run", "cli_app:long_names", "--params", '{"count": 2}')
    assert code == 0
    lines = out.splitlines()
    width = len(cli_app.LONG_ID)
    assert lines[1:4] == [
        "routine".ljust(width) + "  ran  queued  failed  last error",
        cli_app.LONG_ID + "    1       0       0",
        # Columns line up on a terminal: a CJK character takes two columns.
        "sink 日本".ljust(width - 2) + "    2       0       0",
    ]
    assert "\x1b" not in out
    code, out, _ = cli(capsys, "run", "cli_app:long_names", "--store", store, "--params", "{}")
    job_id = job_id_of(out)
    code, out, _ = cli(capsys, "jobs", "list", "--store", store, "--all")
    assert code == 0
    assert out.splitlines()[1].split()[:3] == [job_id, cli_app.long_names().flow_id, "completed"]


def test_a_long_error_message_is_shown_once_whole(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run", "cli_app:noisy", "--params", '{"count": 1}')
    assert code == 1
    lines = out.splitlines()
    headline = lines[lines.index("errors (1):") + 1]
    # One line of the message: the traceback under it ends with all of it.
    assert headline.startswith("  noisy, slot input (strategy stop, attempt 0): RuntimeError: ")
    assert headline.endswith("record 0 is bad:…")
    assert lines[-3:] == [
        "    RuntimeError: record 0 is bad:",
        "    " + "x" * 5000,
        "    the last line",
    ]
    # Without a traceback (the job went on), the whole message, its lines indented.
    code, out, _ = cli(capsys, "run", "cli_app:lenient_noisy", "--params", '{"count": 1}')
    assert code == 0 and "Traceback" not in out
    lines = out.splitlines()
    assert lines[lines.index("errors (1):") + 1].endswith("RuntimeError: record 0 is bad:")
    assert lines[-2:] == ["    " + "x" * 5000, "    the last line"]
    assert table(out)["noisy"][:3] == ["1", "0", "1"]


def test_text_the_output_cannot_encode_is_escaped() -> None:
    done = command("graph", "cli_app:long_names", env={"PYTHONIOENCODING": "ascii"})
    assert (done.returncode, done.stderr) == (0, "")
    assert 'n1["sink \\u65e5\\u672c"]' in done.stdout
    done = command("run", "cli_app:long_names", env={"PYTHONIOENCODING": "ascii"})
    assert (done.returncode, done.stderr) == (0, "")
    assert "sink \\u65e5\\u672c" in done.stdout


def test_output_closed_by_its_reader_ends_quietly() -> None:
    """`routilux run ... | head -1`: no BrokenPipeError traceback, exit code 141."""
    process = subprocess.Popen(
        [sys.executable, "-m", "routilux", "run", "cli_app:big", "--params", '{"count": 1}'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=HERE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert " of flow 'big': completed in " in process.stdout.readline()
    process.stdout.close()  # the summary is longer than the pipe holds: the writer waits
    assert process.wait(timeout=60) == 141
    assert process.stderr.read() == ""
    process.stderr.close()


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_ctrl_c_cancels_the_job_and_exits_130(tmp_path: Path, strategy: str) -> None:
    """A first Ctrl-C cancels the job (the running handler finishes; the store records
    it cancelled), prints the summary and exits 130."""
    path = tmp_path / "jobs.db"
    arguments = ["run", "cli_app:gate", "--params", '{"count": 3}', "--store", f"sqlite:{path}"]
    process = subprocess.Popen(
        [sys.executable, "-m", "routilux", *arguments, "--strategy", strategy],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=HERE,
    )
    read_until(process, b"gate ")  # a handler waits at the gate
    process.send_signal(signal.SIGINT)
    notice = read_until(process, b"routilux: interrupted")
    assert b"cancelled; its running handlers finish (Ctrl-C again to quit at once)" in notice
    # The waiting handlers go on, and finish.
    out, err = process.communicate(input=b"\n" * 3, timeout=60)
    assert process.returncode == 130, err
    assert re.match(rf"job {UUID} of flow 'gate': cancelled in", out.decode())
    assert b"Traceback" not in err
    reader = SQLiteStore(path)
    (job_id,) = reader.job_ids()
    job = reader.load(job_id)
    assert job is not None and job.status == "cancelled" and job.pending_tasks == []
    assert job.routine_states["_cancellation"] == {"reason": "interrupted (Ctrl-C)"}
    assert reader.unfinished_job_ids() == []
    reader.close()


def test_a_second_ctrl_c_quits_at_once(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "routilux", "run", "cli_app:gate", "--params", '{"count": 2}'],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=HERE,
    )
    read_until(process, b"gate ")
    process.send_signal(signal.SIGINT)
    read_until(process, b"routilux: interrupted")
    process.send_signal(signal.SIGINT)  # the handler still waits (stdin stays open)
    assert process.wait(timeout=60) == 130
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read() == b""  # no summary: it quit without waiting
    assert process.stderr.read().decode().splitlines()[-1] == "routilux: interrupted"
    for stream in (process.stdin, process.stdout, process.stderr):
        assert stream is not None
        stream.close()


def read_until(process: subprocess.Popen[bytes], prefix: bytes) -> bytes:
    """Read the process's standard error up to a line starting with ``prefix``."""
    assert process.stderr is not None
    while True:
        line = process.stderr.readline()
        assert line, f"the process ended before a line starting with {prefix!r}"
        if line.startswith(prefix):
            return line


def test_the_console_script_imports_flows_from_the_current_directory() -> None:
    script = Path(sys.executable).parent / "routilux"
    if not script.exists():
        pytest.skip("the routilux console script is not installed next to this Python")
    done = subprocess.run(
        [str(script), "graph", "cli_app:orders"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=HERE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == cli_app.orders().to_mermaid()


# -- the live view of the command ----------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_run_shows_the_live_view_on_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    code = main(["run", "cli_app:orders", "--params", ORDERS])
    assert code == 0
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert "flow orders · job " in drawn
    assert re.search(r"price\s+4\s+0\s+0", drawn)
    assert table(capsys.readouterr().out)["price"] == ["4", "0", "0"]
    screen.seek(0)
    screen.truncate()
    assert main(["run", "cli_app:orders", "--params", ORDERS, "--no-live"]) == 0
    assert screen.getvalue() == ""


def test_without_rich_run_prints_plain_lines_and_the_extra_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("rich", "rich.console", "rich.live", "rich.table", "rich.text"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails
    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    code = main(["run", "cli_app:orders", "--params", ORDERS])
    assert code == 0
    assert screen.getvalue() == "routilux: no live view without rich: pip install 'routilux[cli]'\n"
    out = capsys.readouterr().out
    assert out.splitlines()[1:] == [
        "routine  ran  queued  failed  last error",
        "source     1       0       0",
        "price      4       0       0",
        "ledger     4       0       0",
    ]


# -- flows saved as JSON ------------------------------------------------------------------


def test_a_flow_saved_as_json_runs_validates_and_draws(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "orders.json"
    cli_app.orders().save(path)
    code, out, _ = cli(capsys, "run", str(path), "--params", ORDERS)
    assert code == 0 and table(out)["ledger"] == ["4", "0", "0"]
    assert cli(capsys, "validate", str(path))[:2] == (0, "ok\n")
    assert cli(capsys, "graph", str(path), "--format", "dot")[:2] == (0, cli_app.orders().to_dot())


def test_a_json_flow_in_a_new_process_needs_its_classes_imported(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    cli_app.orders().save(path)
    refused = command("run", str(path), "--params", ORDERS)
    assert refused.returncode == 2
    assert "module 'cli_app' is not imported" in refused.stderr
    assert "with --import MODULE" in refused.stderr
    done = command("run", str(path), "--params", ORDERS, "--import", "cli_app")
    assert done.returncode == 0, done.stderr
    assert table(done.stdout)["ledger"] == ["4", "0", "0"]
    missing = command("run", str(path), "--import", "no_such_module_here")
    assert missing.returncode == 2 and "cannot import 'no_such_module_here'" in missing.stderr


# -- validate and graph -------------------------------------------------------------------


def test_validate(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "validate", "cli_app:orders") == (0, "ok\n", "")
    warning = "warning: slot 'input' of routine 'ledger' is not connected\n"
    assert cli(capsys, "validate", "cli_app:miswired") == (0, warning + "ok (1 warning)\n", "")
    assert cli(capsys, "validate", "cli_app:miswired", "--strict") == (1, warning, "")
    # An entry routine the flow does not have is a bad argument, as for `run`.
    code, out, err = cli(capsys, "validate", "cli_app:orders", "--entry", "nowhere")
    assert (code, out) == (2, "")
    assert "flow 'orders' has no routine 'nowhere' (it has 'source', 'price', 'ledger')" in err
    code, out, _ = cli(capsys, "validate", "cli_app:orders", "--entry", "ledger")
    assert code == 1
    assert out.splitlines() == [
        "error: entry routine 'ledger' has no 'trigger' slot",
        "warning: routine 'source' is not reached from 'ledger'",
        "warning: routine 'price' is not reached from 'ledger'",
    ]


def test_graph(capsys: pytest.CaptureFixture[str]) -> None:
    flow = cli_app.orders()
    assert cli(capsys, "graph", "cli_app:orders") == (0, flow.to_mermaid(), "")
    assert cli(capsys, "graph", "cli_app:orders", "--format", "mermaid")[1] == flow.to_mermaid()
    assert cli(capsys, "graph", "cli_app:orders", "--format", "dot") == (0, flow.to_dot(), "")
    assert cli(capsys, "graph", "cli_app:orders", "--direction", "TB") == (
        0,
        flow.to_mermaid(direction="TB"),
        "",
    )
    drawn = cli(capsys, "graph", "cli_app:orders", "--format", "dot", "--direction", "TB")
    assert drawn == (0, flow.to_dot(direction="TB"), "")
    code, _, error = cli(capsys, "graph", "cli_app:orders", "--direction", "down")
    assert code == 2 and "--direction" in error


# -- jobs in a SQLite store -----------------------------------------------------------------


@dataclass
class Jobs:
    store: str  # the --store argument
    path: Path
    paused: str
    crashed: str
    completed: str
    failed: str


@pytest.fixture
def jobs(tmp_path: Path) -> Iterator[Jobs]:
    """A SQLite store holding a paused, a crashed, a completed and a failed job."""
    path = tmp_path / "jobs.db"
    store = f"sqlite:{path}"
    ids = {}
    for name, flow, params in (
        ("paused", "cli_app:orders", {"amounts": [10, 25.5, 4], "pause_at": 25.5}),
        ("completed", "cli_app:orders", {"amounts": [1, 2]}),
        ("failed", "cli_app:orders", {"amounts": [-1]}),
    ):
        done = command("run", flow, "--params", json.dumps(params), "--store", store)
        assert done.returncode in (0, 1, 3), done.stderr
        ids[name] = job_id_of(done.stdout)
    crashed = command(
        "run",
        "cli_app:loader",
        "--params",
        '{"count": 5}',
        "--store",
        store,
        env={"CLI_APP_CRASH_AT": "3"},
    )
    assert crashed.returncode == 1 and crashed.stdout == ""  # it died in the middle
    reader = SQLiteStore(path)
    (ids["crashed"],) = reader.unfinished_job_ids("loader")
    reader.close()
    yield Jobs(store, path, **ids)


def rows_of(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}


def test_jobs_list(capsys: pytest.CaptureFixture[str], jobs: Jobs) -> None:
    code, out, err = cli(capsys, "jobs", "list", "--store", jobs.store)
    assert (code, err) == (0, "")
    assert out.splitlines()[0].split() == ["job", "flow", "status", "pending", "errors", "updated"]
    rows = rows_of(out)
    assert set(rows) == {jobs.paused, jobs.crashed}
    assert rows[jobs.paused][:4] == ["orders", "paused", "3", "0"]
    assert rows[jobs.crashed][:2] == ["loader", "running"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", " ".join(rows[jobs.paused][4:]))
    code, out, _ = cli(capsys, "jobs", "list", "--store", jobs.store, "--all")
    rows = rows_of(out)
    assert code == 0 and set(rows) == {jobs.paused, jobs.crashed, jobs.completed, jobs.failed}
    assert rows[jobs.completed][:2] == ["orders", "completed"]
    assert rows[jobs.failed][:4] == ["orders", "failed", "0", "1"]
    code, out, _ = cli(capsys, "jobs", "list", "--store", jobs.store, "--flow-id", "loader")
    assert code == 0 and set(rows_of(out)) == {jobs.crashed}
    code, out, _ = cli(capsys, "jobs", "list", "--store", jobs.store, "--flow-id", "other")
    assert (code, out) == (0, "no unfinished jobs\n")


def test_jobs_show(capsys: pytest.CaptureFixture[str], jobs: Jobs) -> None:
    code, out, _ = cli(capsys, "jobs", "show", jobs.paused, "--store", jobs.store, "--tail", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"job {jobs.paused}"
    fields = {line.split()[0]: " ".join(line.split()[1:]) for line in lines[1:8]}
    assert fields["flow"] == "orders" and fields["status"] == "paused"
    assert fields["entry"] == "source"
    assert fields["pending"] == "3 activations: price 1, ledger 2"
    assert fields["paused"].startswith("'order 1 needs approval' at ")
    history = lines.index("history (last 2 of 6):")
    assert lines[history + 1].split() == ["time", "routine", "event", "data"]
    assert lines[history + 2].split()[2:4] == ["price", "priced"]
    assert lines[history + 3].split()[2:] == [
        "price",
        "priced",
        "{'order_id':",
        "1,",
        "'total':",
        "30.6}",
    ]
    assert "errors" not in out
    code, out, _ = cli(capsys, "jobs", "show", jobs.failed, "--store", jobs.store)
    assert code == 0
    assert "  status   failed" in out
    assert "  price: {'status': 'failed', 'error': 'negative amount -1'" in out
    assert "  source: {'execution_time': " in out  # the routine states
    assert "errors (1):\n  price, slot input (strategy stop, attempt 0): ValueError: " in out
    assert "    Traceback (most recent call last):" in out
    history = out.splitlines().index("history (last 3 of 3):")
    assert [line.split()[3] for line in out.splitlines()[history + 2 : history + 5]] == [
        "start",
        "order",
        "error",
    ]
    code, out, _ = cli(capsys, "jobs", "show", jobs.completed, "--store", jobs.store, "--tail", "0")
    assert code == 0 and "history" not in out
    code, _, err = cli(capsys, "jobs", "show", "no-such-job", "--store", jobs.store)
    assert code == 1 and "has no job no-such-job" in err
    code, _, err = cli(capsys, "jobs", "show", jobs.paused, "--store", jobs.store, "--tail", "-1")
    assert code == 2 and "--tail must be >= 0" in err


def test_jobs_resume(capsys: pytest.CaptureFixture[str], jobs: Jobs) -> None:
    code, out, err = cli(
        capsys, "jobs", "resume", jobs.paused, "--store", jobs.store, "--flow", "cli_app:orders"
    )
    assert (code, err) == (0, "")
    assert re.match(rf"job {jobs.paused} of flow 'orders': completed in", out)
    assert table(out) == {
        "source": ["0", "0", "0"],
        "price": ["1", "0", "0"],
        "ledger": ["3", "0", "0"],
    }
    reader = SQLiteStore(jobs.path)
    job = reader.load(jobs.paused)
    assert job is not None and job.status == "completed"
    assert sorted(job.get_channel().get("ledger")) == [[0, 12.0], [1, 30.6], [2, 4.8]]
    reader.close()
    code, _, err = cli(
        capsys, "jobs", "resume", jobs.paused, "--store", jobs.store, "--flow", "cli_app:orders"
    )
    assert code == 1 and "is completed, not paused" in err
    code, _, err = cli(
        capsys, "jobs", "resume", jobs.crashed, "--store", jobs.store, "--flow", "cli_app:loader"
    )
    assert code == 1
    assert (
        "is running, not paused; if the process that ran it died, use `routilux jobs recover`"
        in err
    )
    code, _, err = cli(
        capsys, "jobs", "resume", "no-such-job", "--store", jobs.store, "--flow", "cli_app:orders"
    )
    assert code == 1 and "has no job no-such-job" in err and err.count("\n") == 1


def test_jobs_recover(capsys: pytest.CaptureFixture[str], jobs: Jobs) -> None:
    code, _, err = cli(
        capsys, "jobs", "recover", jobs.crashed, "--store", jobs.store, "--flow", "cli_app:orders"
    )
    assert code == 2
    assert f"job {jobs.crashed} belongs to flow 'loader', not to 'orders'" in err
    saved = jobs.path.parent / "loader.json"  # the flow may be given as a JSON file too
    cli_app.loader().save(saved)
    code, out, err = cli(
        capsys, "jobs", "recover", jobs.crashed, "--store", jobs.store, "--flow", str(saved)
    )
    assert (code, err) == (0, "")
    assert re.match(rf"job {jobs.crashed} of flow 'loader': completed in", out)
    assert set(table(out)) == {"feed", "loader"}  # the counts depend on the last checkpoint
    reader = SQLiteStore(jobs.path)
    job = reader.load(jobs.crashed)
    assert job is not None and job.status == "completed"
    assert sorted(job.get_channel().get("loaded")) == [0, 1, 2, 3, 4]
    assert reader.unfinished_job_ids() == [jobs.paused]
    reader.close()
    code, out, _ = cli(
        capsys, "jobs", "recover", jobs.crashed, "--store", jobs.store, "--flow", "cli_app:loader"
    )
    assert code == 0
    assert out == f"job {jobs.crashed} of flow 'loader' is already completed: nothing to recover\n"
    code, out, _ = cli(
        capsys, "jobs", "recover", jobs.failed, "--store", jobs.store, "--flow", "cli_app:orders"
    )
    assert code == 1 and "is already failed" in out
    # A paused job is recovered as it is resumed.
    code, out, _ = cli(
        capsys, "jobs", "recover", jobs.paused, "--store", jobs.store, "--flow", "cli_app:orders"
    )
    assert code == 0 and table(out)["ledger"] == ["3", "0", "0"]


def test_jobs_cancel(capsys: pytest.CaptureFixture[str], jobs: Jobs) -> None:
    code, out, err = cli(
        capsys, "jobs", "cancel", jobs.paused, "--store", jobs.store, "--reason", "not needed"
    )
    assert (code, err) == (0, "")
    assert out == (
        f"job {jobs.paused} of flow 'orders' cancelled (it was paused; "
        "3 pending activations dropped)\n"
    )
    reader = SQLiteStore(jobs.path)
    job = reader.load(jobs.paused)
    assert job is not None and job.status == "cancelled"
    assert job.pending_tasks == [] and job.routine_states["_cancellation"] == {
        "reason": "not needed"
    }
    assert reader.unfinished_job_ids() == [jobs.crashed]
    code, _, err = cli(capsys, "jobs", "cancel", jobs.paused, "--store", jobs.store)
    assert code == 1 and f"job {jobs.paused} is already cancelled" in err
    code, _, err = cli(capsys, "jobs", "cancel", jobs.completed, "--store", jobs.store)
    assert code == 1 and "is already completed" in err
    code, _, err = cli(capsys, "jobs", "cancel", "no-such-job", "--store", jobs.store)
    assert code == 1 and "has no job no-such-job" in err
    # A job another live owner holds is refused (and stays as it was).
    reader.acquire(jobs.crashed)
    code, _, err = cli(capsys, "jobs", "cancel", jobs.crashed, "--store", jobs.store)
    assert code == 1 and f"cannot cancel job {jobs.crashed}" in err
    reader.release(jobs.crashed)
    # A job whose process died can be cancelled: it is never recovered then.
    code, out, _ = cli(capsys, "jobs", "cancel", jobs.crashed, "--store", jobs.store)
    assert code == 0 and "(it was running;" in out
    assert reader.unfinished_job_ids() == []
    code, out, _ = cli(
        capsys, "jobs", "recover", jobs.crashed, "--store", jobs.store, "--flow", "cli_app:loader"
    )
    assert code == 1 and "is already cancelled: nothing to recover" in out
    reader.close()


def test_jobs_store_arguments(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    code, _, err = cli(capsys, "jobs", "list", "--store", f"sqlite:{missing}")
    assert code == 2 and f"no SQLite store at {missing}" in err
    assert not missing.exists()  # not created by looking
    code, _, err = cli(capsys, "jobs", "list", "--store", "postgres://db/jobs")
    assert code == 2
    assert "--store must be sqlite:PATH or redis://HOST:PORT/DB, not 'postgres://db/jobs'" in err
    code, _, err = cli(capsys, "jobs", "list", "--store", "sqlite:")
    assert code == 2 and "needs a path" in err
    (tmp_path / "junk.db").write_text("not a database")
    code, _, err = cli(capsys, "jobs", "list", "--store", f"sqlite:{tmp_path / 'junk.db'}")
    assert code == 2 and "cannot open the store" in err
    empty = f"sqlite://{tmp_path / 'empty.db'}"
    assert cli(capsys, "run", "cli_app:orders", "--store", empty)[0] == 0
    code, out, _ = cli(capsys, "jobs", "list", "--store", empty)
    assert (code, out) == (0, "no unfinished jobs\n")


def test_jobs_list_names_the_unreadable_jobs(
    capsys: pytest.CaptureFixture[str], jobs: Jobs
) -> None:
    with sqlite3.connect(jobs.path) as connection:
        connection.execute("UPDATE jobs SET snapshot = '{oops' WHERE job_id = ?", (jobs.paused,))
    connection.close()
    code, out, _ = cli(capsys, "jobs", "list", "--store", jobs.store)
    assert code == 0
    lines = out.splitlines()
    rows = rows_of("\n".join(lines[: lines.index("unreadable:")]))
    assert rows[jobs.paused] == ["?", "unreadable"]
    assert rows[jobs.crashed][:2] == ["loader", "running"]
    (reason,) = lines[lines.index("unreadable:") + 1 :]
    assert reason.startswith(f"  {jobs.paused}: cannot load job '{jobs.paused}'")
    assert "not valid JSON" in reason
    code, _, err = cli(capsys, "jobs", "show", jobs.paused, "--store", jobs.store)
    assert code == 1 and err.count("\n") == 1 and "not valid JSON" in err


def test_a_resumed_job_that_pauses_again_says_how_to_resume_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = f"sqlite:{tmp_path / 'jobs.db'}"
    params = json.dumps({"amounts": [10, 25.5, 25.5], "pause_at": 25.5})
    code, out, _ = cli(capsys, "run", "cli_app:orders", "--params", params, "--store", store)
    assert code == 3
    job_id = job_id_of(out)
    code, out, _ = cli(
        capsys, "jobs", "resume", job_id, "--store", store, "--flow", "cli_app:orders"
    )
    assert code == 3 and "of flow 'orders': paused in" in out
    assert out.splitlines()[-1] == (
        f"resume it with: routilux jobs resume {job_id} --store {store} --flow cli_app:orders"
    )
    code, out, _ = cli(
        capsys, "jobs", "resume", job_id, "--store", store, "--flow", "cli_app:orders"
    )
    assert code == 0 and "of flow 'orders': completed in" in out


def test_a_redis_store_that_cannot_be_reached_cannot_be_opened(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Refused before the job runs (it failed at its first checkpoint, with pages of
    tracebacks), naming the store without its password."""
    url = "redis://:secret@127.0.0.1:1/0"
    for arguments in (["run", "cli_app:orders"], ["jobs", "list"], ["jobs", "show", "some-id"]):
        code, out, err = cli(capsys, *arguments, "--store", url)
        assert (code, out) == (2, ""), arguments
        assert err.startswith("routilux: cannot open the store redis://:***@127.0.0.1:1/0: ")
        assert "Connection refused" in err or "Error" in err
        assert err.count("\n") == 1 and "secret" not in err


def test_redis_commands_refuse_bad_arguments_and_say_when_redis_is_away(
    capsys: pytest.CaptureFixture[str],
) -> None:
    away = "redis://:secret@127.0.0.1:1/0"
    for arguments in (
        ["worker", "cli_app:orders"],
        ["stats", "orders"],
        ["cancel", "some-id"],
        ["pause", "some-id"],
    ):
        code, out, err = cli(capsys, *arguments, "--redis", "localhost:6379")
        assert (code, out) == (2, ""), arguments
        assert err.startswith("routilux: --redis localhost:6379 is not a Redis URL")
        code, out, err = cli(capsys, *arguments, "--redis", away)
        assert (code, out) == (1, ""), arguments
        assert err.startswith("routilux: cannot reach Redis at redis://:***@127.0.0.1:1/0: ")
        assert err.count("\n") == 1 and "secret" not in err
    code, _, err = cli(capsys, "worker", "cli_app:orders", "--redis", away, "--concurrency", "0")
    assert code == 2 and err == "routilux: concurrency must be an int >= 1, not 0\n"
    code, _, err = cli(capsys, "stats", "orders", "--redis", away, "--prefix", "")
    assert code == 2 and "prefix must be a non-empty str" in err


def test_a_worker_serves_a_flow_saved_as_json(redis_url: str, tmp_path: Path) -> None:
    from routilux.runtimes.redis import RedisRuntime

    prefix = store_prefix(tmp_path)
    path = tmp_path / "orders.json"
    cli_app.orders().save(path)
    arguments = ["worker", str(path), "--import", "cli_app", "--redis", redis_url]
    worker = subprocess.Popen(
        [sys.executable, "-m", "routilux", *arguments, "--prefix", prefix, "--concurrency", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=HERE,
    )
    assert worker.stdout is not None
    try:
        assert "serving flow 'orders'" in worker.stdout.readline()
        flow = cli_app.orders()
        runtime = RedisRuntime(redis_url, prefix=prefix)
        flow.runtime = runtime
        try:
            job = flow.execute("source", {"amounts": [1, 2]})
        finally:
            runtime.shutdown()
        assert job.status == "completed", job.errors
        assert sorted(job.get_channel().get("ledger")) == [[0, 1.2], [1, 2.4]]
    finally:
        worker.terminate()
        out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, out
    assert "stopped" in out


# -- jobs in a Redis store ------------------------------------------------------------------


def test_jobs_in_a_redis_store(
    capsys: pytest.CaptureFixture[str], redis_url: str, tmp_path: Path
) -> None:
    from routilux.stores import RedisStore

    prefix = store_prefix(tmp_path)
    store = ["--store", redis_url, "--prefix", prefix]
    params = json.dumps({"amounts": [10, 25.5, 4], "pause_at": 25.5})
    paused = []
    for _ in range(2):
        code, out, _ = cli(capsys, "run", "cli_app:orders", "--params", params, *store)
        assert code == 3
        paused.append(job_id_of(out))
    code, out, _ = cli(capsys, "jobs", "list", *store)
    assert code == 0 and set(rows_of(out)) == set(paused)
    code, out, _ = cli(capsys, "jobs", "show", paused[0], *store)
    assert code == 0 and "  status   paused" in out
    code, out, _ = cli(capsys, "jobs", "resume", paused[0], *store, "--flow", "cli_app:orders")
    assert code == 0 and table(out)["ledger"] == ["3", "0", "0"]
    code, out, _ = cli(capsys, "jobs", "cancel", paused[1], *store)
    assert code == 0 and "cancelled (it was paused" in out
    code, out, _ = cli(capsys, "jobs", "list", *store)
    assert (code, out) == (0, "no unfinished jobs\n")
    reader = RedisStore(redis_url, prefix=prefix)
    statuses = [reader.load(job_id).status for job_id in paused]  # type: ignore[union-attr]
    reader.close()
    assert statuses == ["completed", "cancelled"]
    code, _, err = cli(capsys, "jobs", "list", *store, "--all")
    assert code == 2 and "lists only unfinished jobs" in err

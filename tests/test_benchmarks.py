"""The benchmark script runs (its figures are read by people, never asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
ROOT = SCRIPT.parent.parent


def run_script(*args: str) -> str:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    return completed.stdout


def summary_rows(stdout: str) -> dict[str, tuple[str, str]]:
    """The summary table's rows: workload -> (whole line, met column)."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["workload", "figure"])
    rows = {}
    for line in lines[header + 2 :]:
        if not line.strip():
            break
        rows[line.split()[0]] = (line, line.split()[-1])
    return rows


def test_benchmark_script_runs_in_quick_mode() -> None:
    """9 (benchmarks): --quick and --only still work; the summary lists only the
    workloads asked for, each with its target where the issue sets one."""
    stdout = run_script("--quick", "--only", "chain", "many_jobs", "state_heavy")
    assert "many_jobs" in stdout and "correct" in stdout
    assert "WRONG" not in stdout
    rows = summary_rows(stdout)
    assert set(rows) == {"chain", "many_jobs", "many_jobs/concurrent", "state_heavy"}
    assert ">= 1.0x" in rows["chain"][0] and rows["chain"][1] in ("yes", "no")
    assert ">= 1,120 jobs/s" in rows["many_jobs/concurrent"][0]
    assert rows["state_heavy"][1] == "-"


def test_every_workload_runs_at_smoke_sizes() -> None:
    """9 (benchmarks): every workload (the async ones, history_memory and the
    bounded source in its own process included) runs to the end, checks its results
    and has a row in the summary whose met column is yes, no or - (no target)."""
    stdout = run_script("--sizes", "smoke")
    assert "could not run" not in stdout
    assert "WRONG" not in stdout
    rows = summary_rows(stdout)
    expected = {
        "chain": ">= 1.0x",
        "job_overhead": ">= 1.0x",
        "async_io/asyncio": ">= 0.9",
        "async_io/threads": ">= 0.9",
        "async_chain": ">= 100,000/s",
        "history_memory": "<= 100",
        "many_jobs": ">= 1,120 jobs/s",
        "many_jobs/concurrent": ">= 1,120 jobs/s",
        "durable_chain": ">= 0.5x",
        "bounded_source": "< 100 MB, finishes",
    }
    for workload, target in expected.items():
        line, met = rows[workload]
        assert target in line, line
        assert met in ("yes", "no"), line
    for workload in ("fanout", "fanin", "io_concurrent", "state_heavy", "job_files"):
        assert rows[workload][1] == "-", rows[workload][0]
    # The source's job finished with every item consumed (a fact, not a timing).
    assert "finished, every item consumed" in stdout
    assert "+" in rows["bounded_source"][0] and ", finished" in rows["bounded_source"][0]


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_bounded_source_baseline_is_its_own_process() -> None:
    """9 (benchmarks): the bounded-source process measures its own peak memory, not
    the peak of the process that started it (Linux carries ``ru_maxrss`` across exec,
    so a child of a big benchmark run read its parent's peak and reported +0 MB)."""
    parent = (
        "import subprocess, sys\n"
        "ballast = bytearray(256 * 1024 * 1024)\n"
        "for i in range(0, len(ballast), 4096):\n"
        "    ballast[i] = 1\n"
        f"out = subprocess.run([sys.executable, {str(SCRIPT)!r}, '--bounded-child', '200', "
        "'10'], capture_output=True, text=True, check=True).stdout\n"
        "print(out)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", parent],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    tag = "BOUNDED_SOURCE "
    line = next(line for line in completed.stdout.splitlines() if line.startswith(tag))
    report = json.loads(line[len(tag) :])
    assert report["status"] == "completed" and report["consumed"] == 200
    # The child (interpreter and routilux) is far below the parent's 256 MB ballast.
    assert report["baseline"] < 200 * 1024 * 1024, report
    assert report["peak"] >= report["baseline"]

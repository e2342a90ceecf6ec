"""The benchmark script runs (its figures are read by people, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def test_benchmark_script_runs_in_quick_mode() -> None:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--only", "chain", "many_jobs", "state_heavy"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "chain" in completed.stdout
    assert "many_jobs" in completed.stdout and "correct" in completed.stdout
    assert "WRONG" not in completed.stdout

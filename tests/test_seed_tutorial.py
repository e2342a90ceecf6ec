"""The five examples of the routilux 0.9 state management tutorial run unchanged.

The scripts in ``tutorials/state_management/`` are the tutorial's code, copied
verbatim. ``EXPECTED`` is the output the tutorial prints. We differ from it on
purpose in two ways, both because the tutorial is wrong about 0.9 itself:

- the history also holds the entry routine's ``start`` and ``completed`` records, so
  record totals are larger (steps 1 and 4);
- under the sequential strategy activations run first in first out, so records and
  log entries of fanned-out routines interleave (steps 3 and 4) where the tutorial
  shows them grouped; we compare those listings as multisets and check the real order
  separately.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parent.parent / "tutorials" / "state_management"

EXPECTED = {
    "step1_jobstate.py": """\
Status: completed
Flow ID: jobstate_flow
Created at: 2024-01-01 12:00:00
Execution records: 2
Processor state: {'last_processed': 'test', 'processed': True}
""",
    "step2_routine_state.py": """\
Processed: 3
Errors: 0
Last processed: routilux
""",
    "step3_shared_data.py": """\
Collected items: ['a', 'b', 'c']
Log entries: 6
  {'action': 'collected', 'data': 'a', 'routine': 'collector', 'timestamp': '...'}
  {'action': 'collected', 'data': 'b', 'routine': 'collector', 'timestamp': '...'}
  {'action': 'collected', 'data': 'c', 'routine': 'collector', 'timestamp': '...'}
  {'action': 'processed', 'data': 'a', 'result': '...', 'timestamp': '...'}
  {'action': 'processed', 'data': 'b', 'result': '...', 'timestamp': '...'}
  {'action': 'processed', 'data': 'c', 'result': '...', 'timestamp': '...'}
""",
    "step4_history.py": """\
Total records: 4
Processor executions: 3
  source: output at 2024-01-01 12:00:00
  processor: output at 2024-01-01 12:00:00.001
  source: output at 2024-01-01 12:00:00.002
  processor: output at 2024-01-01 12:00:00.003
""",
    "step5_complete.py": """\
Aggregated: item_0 (valid=True)
Aggregated: item_1 (valid=True)
Aggregated: item_2 (valid=True)
Aggregated: item_3 (valid=True)
Aggregated: item_4 (valid=True)

=== Execution State ===
Source generated: 5
Validator - Valid: 5, Invalid: 0
Aggregator - Total: 5, Valid: 5

Execution status: completed
""",
}

DATETIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?")
QUOTED_DATETIME = re.compile(r"'\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?'")


def run(script: str) -> str:
    completed = subprocess.run(
        [sys.executable, str(TUTORIAL / script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout


def normalise(text: str) -> list[str]:
    text = QUOTED_DATETIME.sub("'...'", text)
    text = DATETIME.sub("<time>", text)
    text = re.sub(r"'result': '[^']*'", "'result': '...'", text)
    return text.splitlines()


@pytest.mark.parametrize("script", ["step2_routine_state.py", "step5_complete.py"])
def test_prints_exactly_what_the_tutorial_shows(script: str) -> None:
    assert normalise(run(script)) == normalise(EXPECTED[script])


def test_step1_differs_only_in_the_record_total() -> None:
    ours = normalise(run("step1_jobstate.py"))
    theirs = normalise(EXPECTED["step1_jobstate.py"])
    assert theirs[3] == "Execution records: 2"
    assert ours[3] == "Execution records: 4"  # + source start and completed
    assert ours[:3] + ours[4:] == theirs[:3] + theirs[4:]


def test_step3_prints_the_tutorial_log_in_fifo_order() -> None:
    ours = normalise(run("step3_shared_data.py"))
    theirs = normalise(EXPECTED["step3_shared_data.py"])
    assert ours[:2] == theirs[:2]
    assert Counter(ours[2:]) == Counter(theirs[2:])
    actions = [re.search(r"'action': '(\w+)', 'data': '(\w)'", line).groups() for line in ours[2:]]
    assert actions == [
        ("collected", "a"),
        ("processed", "a"),
        ("collected", "b"),
        ("processed", "b"),
        ("collected", "c"),
        ("processed", "c"),
    ]
    assert "'result': 'Processed 1 items, current: a'" in run("step3_shared_data.py")


def test_step4_lists_every_record_including_start_and_completed() -> None:
    ours = normalise(run("step4_history.py"))
    theirs = normalise(EXPECTED["step4_history.py"])
    assert theirs[0] == "Total records: 4"
    assert ours[0] == "Total records: 8"  # start, 3 source, 3 processor, completed
    assert ours[1] == theirs[1] == "Processor executions: 3"
    assert not Counter(theirs[2:]) - Counter(ours[2:])  # every line shown is printed
    assert ours[2:] == [
        "  source: start at <time>",
        "  source: output at <time>",
        "  source: output at <time>",
        "  source: output at <time>",
        "  processor: output at <time>",
        "  processor: output at <time>",
        "  processor: output at <time>",
        "  source: completed at <time>",
    ]

"""Every script in tutorials/ runs and prints what we say it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from redis_server import script_environment

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"


def run(script: str) -> str:
    """What the tutorial prints ("" for one needing a Redis server when there is none:
    ``test_docs`` reports it as skipped)."""
    environment = script_environment((TUTORIALS / script).read_text(encoding="utf-8"))
    if environment is None:
        return ""
    completed = subprocess.run(
        [sys.executable, str(TUTORIALS / script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=environment,
    )
    return completed.stdout


def test_getting_started() -> None:
    assert run("getting_started.py") == (
        "Status: completed\n"
        "Report: {'lines': 3, 'words': 9}\n"
        "  counter emitted {'text': 'The quick brown fox', 'words': 4}\n"
        "  counter emitted {'text': 'jumps over', 'words': 2}\n"
        "  counter emitted {'text': 'the lazy dog', 'words': 3}\n"
    )


@pytest.mark.timeout(600)  # about a hundred scripts, each a fresh interpreter
def test_every_tutorial_script_runs() -> None:
    scripts = sorted(TUTORIALS.rglob("*.py"))
    assert scripts
    for script in scripts:
        run(str(script.relative_to(TUTORIALS)))


def fenced(text: str, language: str) -> list[str]:
    """The bodies of the ```language fenced blocks of a Markdown text, in order."""
    return re.findall(rf"^```{language}\n(.*?)\n```$", text, flags=re.DOTALL | re.MULTILINE)


def test_the_readme_first_command_runs_the_flow_it_shows() -> None:
    """Newcomer friction: the README's first command ran getting_started.py while the
    README showed quickstart.py's code and output. The script its first command runs
    must be the code shown under "A first flow", and print the output shown there."""
    readme = (TUTORIALS.parent / "README.md").read_text(encoding="utf-8")
    first_command = fenced(readme, "sh")[0]
    scripts = re.findall(r"\.venv/bin/python (tutorials/\S+\.py)\b", first_command)
    assert len(scripts) == 1, f"the first command runs no single tutorial: {first_command}"
    script = TUTORIALS.parent / scripts[0]
    first_flow = readme.split("\n## A first flow\n", 1)[1].split("\n## ", 1)[0]
    (shown_code,) = fenced(first_flow, "python")
    (shown_output,) = fenced(first_flow, "text")
    code = script.read_text(encoding="utf-8").split('"""', 2)[2].strip()
    assert shown_code == code
    printed = run(str(script.relative_to(TUTORIALS)))
    assert shown_output == printed.rstrip("\n")
    assert f"This is `{scripts[0]}`" in first_flow


def test_graphs_draw_prints_the_mermaid_and_dot_text() -> None:
    assert run("guide/graphs_draw.py") == (
        "flowchart LR\n"
        '    n0(["source"]):::entry\n'
        '    n1["counter"]\n'
        '    n2["report"]\n'
        '    n0 -->|"line -> input"| n1\n'
        '    n1 -->|"counted -> input"| n2\n'
        "    classDef entry stroke-width:3px\n"
        "\n"
        'digraph "word_count" {\n'
        "    rankdir=LR;\n"
        "    node [shape=box, style=rounded];\n"
        '    n0 [label="source", peripheries=2];\n'
        '    n1 [label="counter"];\n'
        '    n2 [label="report"];\n'
        '    n0 -> n1 [label="line -> input"];\n'
        '    n1 -> n2 [label="counted -> input"];\n'
        "}\n"
    )


def test_graphs_loop_draws_the_loop_dashed() -> None:
    assert run("guide/graphs_loop.py") == (
        "flowchart LR\n"
        '    n0(["download"]):::entry\n'
        '    n1["check"]\n'
        '    n2["save"]\n'
        '    n3["count"]\n'
        '    n0 -->|"fetched -> input"| n1\n'
        '    n1 -.->|"empty -> again"| n0\n'
        '    n1 -->|"page -> input (body as text)"| n2\n'
        '    n1 -->|"page -> input"| n3\n'
        "    classDef entry stroke-width:3px\n"
        "\n"
        'digraph "crawler" {\n'
        "    rankdir=LR;\n"
        "    node [shape=box, style=rounded];\n"
        '    n0 [label="download", peripheries=2];\n'
        '    n1 [label="check"];\n'
        '    n2 [label="save"];\n'
        '    n3 [label="count"];\n'
        '    n0 -> n1 [label="fetched -> input"];\n'
        '    n1 -> n0 [label="empty -> again", style=dashed, constraint=false];\n'
        '    n1 -> n2 [label="page -> input (body as text)"];\n'
        '    n1 -> n3 [label="page -> input"];\n'
        "}\n"
        "\n"
        "Running it:\n"
        "  save a.html: <html>a.html</html>\n"
        "  count a.html\n"
        "job: completed\n"
    )


def test_testing_run_routine_prints_what_each_run_observed() -> None:
    printed = re.sub(r"0x[0-9a-f]+", "0x...", run("guide/testing_run_routine.py"))
    assert printed == (
        "status: completed\n"
        "scaled: [{'value': 6}] skipped: []\n"
        "result: 6 shared data: {'scaled': 1}\n"
        "  Emission(event='scaled', data={'value': 10})\n"
        "  Emission(event='skipped', data={'value': -1})\n"
        "  Emission(event='scaled', data={'value': 40})\n"
        "shared data: {'factor': 10, 'scaled': 2}\n"
        "history: [('routine', 'start'), ('routine', 'output'), ('routine', 'output'), "
        "('routine', 'completed')]\n"
        "status: completed errors: [('input', 'TypeError')]\n"
        "assert_completed() raised:\n"
        "  routine 'routine' (slot 'input'): job completed\n"
        "  - routine.input: TypeError: '<' not supported between instances of 'str' and "
        "'int' (strategy default, attempt 0)\n"
        "page: [{'url': 'example.org', 'size': 11}]\n"
        "SlotNotFoundError: Slot 'inptu' not found in routine 'routine' (Scaler[0x...]); "
        "its slots: 'input'\n"
    )


def test_testing_history_checks_and_shows_a_mismatch() -> None:
    assert run("guide/testing_history.py") == (
        "exact: ok\n"
        "matched: [{'value': 2}, {'value': 4}]\n"
        "unordered: ok\n"
        "history differs at record 1 (mode 'exact'): expected doubler.output with "
        "{'value': 3}, got doubler.output {'value': 4}\n"
        "expected (2 records):\n"
        "     0  doubler.output with {'value': 2}\n"
        "  >  1  doubler.output with {'value': 3}\n"
        "actual (2 records):\n"
        "     0  doubler.output {'value': 2}\n"
        "  >  1  doubler.output {'value': 4}\n"
    )


def test_testing_clock_runs_the_retries_without_waiting() -> None:
    assert run("guide/testing_clock.py") == (
        "auto: completed delays: [10.0, 20.0, 40.0] clock: 70.0\n"
        "  at 0.0: retry due at [10.0]\n"
        "  at 5.0: still pending [10.0]\n"
        "  at 10.0: retry due at [30.0]\n"
        "  at 15.0: still pending [30.0]\n"
        "  at 30.0: retry due at [70.0]\n"
        "  at 35.0: still pending [70.0]\n"
        "manual: completed attempts: 4 clock: 70.0\n"
        "run_routine: completed [{'value': 7}] delays: [10.0, 20.0]\n"
    )


def test_testing_pytest_runs_its_tests_with_the_fixtures() -> None:
    assert run("guide/testing_pytest.py") == (
        "test_flaky_passes_the_value_on_after_two_retries: passed\n"
        "test_each_retry_waits_for_its_delay: passed\n"
        "pytest exit code: 0\n"
    )

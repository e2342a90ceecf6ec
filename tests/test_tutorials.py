"""Every script in tutorials/ runs and prints what we say it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"


def run(script: str) -> str:
    completed = subprocess.run(
        [sys.executable, str(TUTORIALS / script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
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


def test_every_tutorial_script_runs() -> None:
    scripts = sorted(TUTORIALS.rglob("*.py"))
    assert scripts
    for script in scripts:
        run(str(script.relative_to(TUTORIALS)))


def test_the_readme_example_is_the_quickstart_script() -> None:
    readme = (TUTORIALS.parent / "README.md").read_text(encoding="utf-8")
    script = (TUTORIALS / "quickstart.py").read_text(encoding="utf-8")
    code = script.split('"""', 2)[2].strip()
    assert f"```python\n{code}\n```" in readme
    printed = run("quickstart.py").strip()
    assert f"```text\n{printed}\n```" in readme

"""Every script in tutorials/ runs and prints what we say it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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

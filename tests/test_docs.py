"""The documentation builds without warnings, and every tutorial is true.

A tutorial page includes each script of ``tutorials/`` with ``literalinclude`` and
shows its output in the next ``.. code-block:: text`` with ``:class: output``. This
test runs every script and compares what it prints with what the page shows, after
normalising timestamps, ids and timing figures; a block with ``:class: output
unordered`` is compared as a multiset of lines (concurrent output).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from redis_server import script_environment

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TUTORIALS = ROOT / "tutorials"

_INCLUDE = re.compile(r"^\.\. literalinclude:: (?P<path>\S+\.py)\s*$")
_BLOCK = re.compile(r"^\.\. code-block:: text\s*$")

_NORMALISE = [
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?"), "<time>"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"0x[0-9a-f]+"), "<id>"),
    (re.compile(r"\d+\.\d+ s\b"), "<seconds> s"),
    (re.compile(r"\d+(\.\d+)? ms\b"), "<ms> ms"),
    (re.compile(r"'execution_time': [0-9.e-]+"), "'execution_time': <seconds>"),
    (re.compile(r"\d{9,}\.\d+"), "<epoch>"),
]


def normalise(text: str) -> list[str]:
    for pattern, replacement in _NORMALISE:
        text = pattern.sub(replacement, text)
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def examples() -> list[tuple[str, Path, list[str], bool]]:
    """(page, script, expected output lines, unordered) for every tutorial step."""
    found = []
    for page in sorted(DOCS.rglob("*.rst")):
        lines = page.read_text(encoding="utf-8").splitlines()
        index = 0
        while index < len(lines):
            match = _INCLUDE.match(lines[index])
            index += 1
            if not match:
                continue
            script = (page.parent / match["path"]).resolve()
            while index < len(lines) and not _BLOCK.match(lines[index]):
                if _INCLUDE.match(lines[index]):
                    raise AssertionError(f"{page}: {script.name} has no output block")
                index += 1
            assert index < len(lines), f"{page}: {script.name} has no output block"
            index += 1
            options = []
            while index < len(lines) and lines[index].strip().startswith(":"):
                options.append(lines[index].strip())
                index += 1
            assert any(o.startswith(":class:") and "output" in o for o in options), (
                f"{page}: the block after {script.name} is not marked ':class: output'"
            )
            unordered = any("unordered" in o for o in options)
            body = []
            while index < len(lines) and (lines[index].startswith("   ") or not lines[index]):
                body.append(lines[index][3:])
                index += 1
            found.append(
                (str(page.relative_to(DOCS)), script, normalise("\n".join(body)), unordered)
            )
    return found


EXAMPLES = examples()


def run(script: Path) -> str:
    environment = script_environment(script.read_text(encoding="utf-8"))
    if environment is None:
        pytest.skip(f"{script.name} needs a Redis server (see tests/redis_server.py)")
    completed = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=script.parent,
        check=False,
        env=environment,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.mark.parametrize(
    ("page", "script", "expected", "unordered"),
    EXAMPLES,
    ids=[f"{page}:{script.name}" for page, script, _, _ in EXAMPLES],
)
def test_tutorial_output_matches_the_page(
    page: str, script: Path, expected: list[str], unordered: bool
) -> None:
    printed = normalise(run(script))
    if unordered:
        assert Counter(printed) == Counter(expected)
    else:
        assert printed == expected


def test_every_tutorial_script_is_on_a_page() -> None:
    shown = {script for _, script, _, _ in EXAMPLES}
    scripts = {path.resolve() for path in TUTORIALS.rglob("*.py")}
    assert scripts - shown == set(), "tutorial scripts no page includes"
    assert shown <= scripts, "pages include scripts that are not in tutorials/"


@pytest.fixture(scope="module")
def html_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The HTML docs, built once for this module's tests: (output folder, errors)."""
    build = tmp_path_factory.mktemp("docs")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(build / "doctrees"),
            str(DOCS),
            str(build / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors = ""
    if completed.returncode != 0:
        errors = completed.stderr or completed.stdout or f"exit status {completed.returncode}"
    return build / "html", errors


@pytest.fixture
def html(html_build: tuple[Path, str]) -> Path:
    """The built HTML docs (the test is skipped if the build failed: reported once, by
    test_sphinx_builds_without_warnings)."""
    folder, errors = html_build
    if errors:
        pytest.skip("the docs did not build")
    return folder


def test_sphinx_builds_without_warnings(html_build: tuple[Path, str]) -> None:
    folder, errors = html_build
    assert errors == ""
    assert (folder / "index.html").exists()


def test_no_page_points_at_a_private_module() -> None:
    """Issue 8 (newcomer friction): the API reference and the guides name public
    modules only (they used to point at routilux._dispatch, _merge, _job_document)."""
    private = re.compile(r"routilux[./]_[a-z]")
    found = [
        f"{page.relative_to(DOCS)}:{number}: {line.strip()}"
        for page in sorted(DOCS.rglob("*.rst"))
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        if private.search(line)
    ]
    assert found == []


# -- the built site (issue 11, item 8) --------------------------------------------------

#: The pages of the API reference, one per topic, and the modules each documents.
API_PAGES = {
    "routines": ["routilux.routine", "routilux.slot", "routilux.event", "routilux.connection"],
    "flows": ["routilux.flow", "routilux.execution_context", "routilux.validation"],
    "runtimes": ["routilux.runtimes", "routilux.runtimes.redis"],
    "jobs": [
        "routilux.job_state",
        "routilux.execution_record",
        "routilux.execution_tracker",
        "routilux.output_handler",
    ],
    "errors": ["routilux.error_handler", "routilux.exceptions"],
    "channels": ["routilux.channels"],
    "persistence": [
        "routilux.registry",
        "routilux.stores",
        "routilux.activation",
        "routilux.documents",
    ],
    "testing": ["routilux.testing", "routilux.pytest_plugin"],
    "functional": ["routilux.functional"],
    "builtin_routines": [
        "routilux.builtin_routines",
        "routilux.builtin_routines.text_processing",
        "routilux.builtin_routines.utils",
        "routilux.builtin_routines.data_processing",
        "routilux.builtin_routines.control_flow",
    ],
}


def test_the_site_uses_furo_and_a_copy_button(html: Path) -> None:
    page = (html / "index.html").read_text(encoding="utf-8")
    assert "_static/styles/furo.css" in page
    assert "_static/copybutton.js" in page
    assert "_static/routilux.css" in page
    # What a script prints is shown, not offered for copying.
    script = (html / "_static" / "copybutton.js").read_text(encoding="utf-8")
    assert "'div:not(.output) > div.highlight pre'" in script
    assert '<div class="output highlight-text' in (html / "quickstart.html").read_text(
        encoding="utf-8"
    )


def test_the_api_reference_has_one_page_per_topic(html: Path) -> None:
    pages = {path.stem for path in (html / "api").glob("*.html")}
    assert pages == {"index", *API_PAGES}
    index = (html / "api" / "index.html").read_text(encoding="utf-8")
    for topic, modules in API_PAGES.items():
        assert f'href="{topic}.html"' in index, topic
        page = (html / "api" / f"{topic}.html").read_text(encoding="utf-8")
        documented = set(re.findall(r'id="module-([\w.]+)"', page))
        assert documented == set(modules), topic
    assert not (html / "api.html").exists()


def test_no_rendered_page_names_a_private_module(html: Path) -> None:
    """Nor does autodoc's output (signatures, bases, types) or the search index. The
    highlighted source listings (_modules/) are code, which imports private modules."""
    found = [
        str(path.relative_to(html))
        for path in sorted(html.rglob("*"))
        if path.suffix in {".html", ".js"}
        and path.relative_to(html).parts[0] not in {"_modules", "_static"}
        and "routilux._" in path.read_text(encoding="utf-8")
    ]
    assert found == []

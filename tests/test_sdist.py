"""The source distribution holds what its own test suite needs, and says what it is.

Building an sdist (in an isolated build environment) takes seconds and the package
index; instead, this asks hatchling, the build backend, which files it would put in
the sdist. After changing the sdist's includes, check it end to end by hand:

    python3 -m pip install build && python3 -m build --sdist --outdir /tmp/dist .
    tar xzf /tmp/dist/routilux-*.tar.gz -C /tmp && cd /tmp/routilux-*/
    python3 -m venv /tmp/sdist-venv && /tmp/sdist-venv/bin/pip install '.[test]'
    /tmp/sdist-venv/bin/python -m pytest
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import tomllib
from hatchling.builders.sdist import SdistBuilder

ROOT = Path(__file__).resolve().parent.parent
#: What the tests read: the package, the tests and their helpers, the tutorials they
#: run, the docs they build and compare with the tutorials, the benchmark script.
NEEDED_TREES = ("routilux", "tests", "tutorials", "docs", "benchmarks")
NEEDED_FILES = ("README.md", "LICENSE")
#: Made by running tools; never part of a distribution.
GENERATED = {"__pycache__", "_build", ".hypothesis", ".pytest_cache", ".mypy_cache"}
#: sha256 of the Apache License 2.0 text as published by the ASF (LICENSE-2.0.txt).
APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
BASE_URL = "https://github.com/routilux/routilux"


def pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        data: dict[str, object] = tomllib.load(file)
    return data


def sdist_files() -> set[str]:
    builder = SdistBuilder(str(ROOT))
    return {included.distribution_path for included in builder.recurse_included_files()}


def needed_files() -> set[str]:
    found = set(NEEDED_FILES)
    for top in NEEDED_TREES:
        for path in (ROOT / top).rglob("*"):
            relative = path.relative_to(ROOT)
            if path.is_file() and not GENERATED & set(relative.parts) and path.suffix != ".pyc":
                found.add(relative.as_posix())
    return found


def test_the_sdist_holds_every_file_the_tests_need_and_nothing_else() -> None:
    """Newcomer friction: the sdist lacked docs/ (but for docs/tutorials, matched by a
    bare "tutorials" pattern) and LICENSE, so its own tests/test_docs.py failed."""
    packed, needed = sdist_files(), needed_files()
    assert {"docs/conf.py", "docs/index.rst", "tests/recovery_app.py"} <= needed
    assert sorted(needed - packed) == [], "files the tests read but the sdist lacks"
    assert sorted(packed - needed) == [], "files in the sdist outside what it needs"


def test_the_license_file_is_the_declared_license() -> None:
    """Newcomer friction: pyproject declared Apache-2.0 and there was no LICENSE."""
    project = pyproject()["project"]
    assert isinstance(project, dict)
    assert project["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_0_SHA256, (
        "LICENSE is not the standard Apache License 2.0 text"
    )


def test_the_project_urls_point_at_the_repository() -> None:
    """Newcomer friction: the package metadata had no project URLs."""
    project = pyproject()["project"]
    assert isinstance(project, dict)
    urls = project["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues"}
    assert all(url.startswith(BASE_URL) for url in urls.values())
    assert urls["Issues"] == f"{BASE_URL}/issues"

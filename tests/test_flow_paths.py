"""Finding a flow by import path (routilux._flow_paths): what workers and the
``routilux`` command load; every failure is one ConfigurationError naming the cause."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routilux import Flow
from routilux._flow_paths import flow_from_path, import_module_named
from routilux.exceptions import ConfigurationError

APP = """
from routilux import Flow, Routine

class Thing(Routine):
    pass

orders = Flow("orders")

def make_orders():
    return Flow("made")

def broken():
    raise ValueError("no database")

def not_a_flow():
    return 42

class Holder:
    flow = Flow("held")

NUMBER = 7
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"flow_paths_app_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(APP, encoding="utf-8")
    (tmp_path / f"{name}_raises.py").write_text("raise RuntimeError('at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in (name, f"{name}_raises"):
        sys.modules.pop(module, None)


def test_a_flow_a_function_and_a_dotted_attribute_are_found(app: str) -> None:
    assert flow_from_path(f"{app}:orders").flow_id == "orders"
    assert flow_from_path(f"{app}:make_orders").flow_id == "made"
    assert flow_from_path(f"{app}:Holder.flow").flow_id == "held"
    assert isinstance(flow_from_path(f"{app}:orders"), Flow)


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        (":ordres", "has no attribute 'ordres' (did you mean 'orders'?)"),
        (":Holder.flwo", "Holder has no attribute 'flwo'"),
        (":broken", "ValueError: no database"),
        (":not_a_flow", "not_a_flow() returned int, not a Flow"),
        (":Thing", "Thing() returned Thing, not a Flow"),
        (":NUMBER", "NUMBER is int, not a Flow"),
        (":", "MODULE:FLOW"),
        (":orders.", "MODULE:FLOW"),
        ("", "MODULE:FLOW"),
        ("_raises:orders", "RuntimeError: at import"),
        ("_missing:orders", "no module named"),
    ],
)
def test_each_failure_is_one_line_naming_its_cause(app: str, suffix: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        flow_from_path(app + suffix)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("wrong", [None, 3, b"mod:flow", ["mod:flow"]])
def test_a_path_that_is_not_text_is_refused(wrong: Any) -> None:
    with pytest.raises(ConfigurationError, match="must be a str"):
        flow_from_path(wrong)


def test_a_long_malformed_path_is_quoted_short() -> None:
    with pytest.raises(ConfigurationError) as raised:
        flow_from_path("x" * 500)
    assert len(str(raised.value)) < 200


def test_a_missing_dependency_of_a_module_is_named_as_such(
    tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / "flow_paths_needs.py").write_text("import no_such_dependency_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(ConfigurationError, match=r"ModuleNotFoundError.*no_such_dependency"):
            import_module_named("flow_paths_needs")
    finally:
        sys.modules.pop("flow_paths_needs", None)

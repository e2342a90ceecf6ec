"""The eight builtin routines as a whole: import paths, defaults, slots and events,
and saving every one of them with its flow (0.9 reference, section 2.13)."""

from __future__ import annotations

import importlib
import json
import types
from collections.abc import Callable
from typing import Any

import pytest
from builtin_helpers import build_flow, outputs, round_trip

import routilux
import routilux.builtin_routines.utils.time_provider as time_provider_module
from routilux import Flow, Routine
from routilux.builtin_routines.data_processing.data_transformer import BUILTIN_TRANSFORMATIONS
from routilux.exceptions import MissingTriggerSlotError

NAMES = [
    "ConditionalRouter",
    "DataFlattener",
    "DataTransformer",
    "DataValidator",
    "ResultExtractor",
    "TextClipper",
    "TextRenderer",
    "TimeProvider",
]

SUBPACKAGES = {
    "text_processing": {
        "ResultExtractor": "result_extractor",
        "TextClipper": "text_clipper",
        "TextRenderer": "text_renderer",
    },
    "utils": {"DataFlattener": "data_flattener", "TimeProvider": "time_provider"},
    "data_processing": {"DataTransformer": "data_transformer", "DataValidator": "data_validator"},
    "control_flow": {"ConditionalRouter": "conditional_router"},
}

DEFAULTS: dict[str, dict[str, Any]] = {
    "TextClipper": {
        "max_length": 1000,
        "preserve_tracebacks": True,
        "truncation_message": "...(省略了{remaining}行)",
    },
    "TextRenderer": {"tag_format": "xml", "indent": "  ", "include_type_hints": False},
    "ResultExtractor": {
        "strategy": "auto",
        "extractor_priority": [],
        "extract_json_blocks": True,
        "extract_code_blocks": True,
        "extract_yaml_blocks": False,
        "extract_xml_blocks": False,
        "code_block_languages": ["json", "python", "output", "yaml", "xml"],
        "format_interpreter_output": True,
        "parse_json_strings": True,
        "parse_yaml_strings": False,
        "detect_nested_structures": True,
        "continue_on_error": True,
        "return_original_on_failure": True,
        "log_errors": True,
    },
    "TimeProvider": {
        "format": "iso",
        "custom_format": "%Y-%m-%d %H:%M:%S",
        "include_weekday": True,
        "locale": "zh_CN",
    },
    "DataFlattener": {"separator": ".", "preserve_lists": True, "max_depth": 100},
    "DataTransformer": {
        "transformations": [],
        "transformation_map": BUILTIN_TRANSFORMATIONS,
        "chain_transformations": True,
    },
    "DataValidator": {
        "rules": {},
        "strict_mode": False,
        "required_fields": [],
        "allow_extra_fields": True,
    },
    "ConditionalRouter": {"routes": [], "default_route": None, "route_priority": "first_match"},
}

# name -> (slots, {event: output_params}, {attribute: slot or event name})
SHAPES: dict[str, tuple[list[str], dict[str, list[str]], dict[str, str]]] = {
    "TextClipper": (
        ["input"],
        {"output": ["clipped_text", "was_clipped", "original_length"]},
        {"input_slot": "input", "output_event": "output"},
    ),
    "TextRenderer": (
        ["input"],
        {"output": ["rendered_text", "original_type"]},
        {"input_slot": "input", "output_event": "output"},
    ),
    "ResultExtractor": (
        ["input"],
        {"output": ["extracted_result", "format", "metadata", "confidence", "extraction_path"]},
        {"input_slot": "input", "output_event": "output"},
    ),
    "TimeProvider": (
        ["request"],
        {"output": ["time_string", "timestamp", "datetime", "formatted"]},
        {"trigger_slot": "request", "output_event": "output"},
    ),
    "DataFlattener": (
        ["input"],
        {"output": ["flattened_data", "original_type", "depth"]},
        {"input_slot": "input", "output_event": "output"},
    ),
    "DataTransformer": (
        ["input"],
        {"output": ["transformed_data", "transformation_applied", "errors"]},
        {"input_slot": "input", "output_event": "output"},
    ),
    "DataValidator": (
        ["input"],
        {"valid": ["validated_data"], "invalid": ["errors", "data"]},
        {"input_slot": "input", "valid_event": "valid", "invalid_event": "invalid"},
    ),
    "ConditionalRouter": (
        ["input"],
        {"output": ["data", "route"]},
        {"input_slot": "input", "output_event": "output"},
    ),
}


def builtin(name: str) -> type[Routine]:
    return getattr(routilux, name)  # type: ignore[no-any-return]


# -- import paths ---------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_builtin_is_exported_by_routilux(name):
    assert name in routilux.__all__
    cls = builtin(name)
    assert isinstance(cls, type) and issubclass(cls, Routine)


def test_builtin_routines_package_exports_exactly_the_eight():
    package = importlib.import_module("routilux.builtin_routines")
    assert sorted(package.__all__) == NAMES
    for name in NAMES:
        assert getattr(package, name) is builtin(name)


def test_from_imports_give_the_same_classes():
    from routilux import ConditionalRouter as A
    from routilux import TextClipper as B
    from routilux.builtin_routines import ConditionalRouter, TextClipper
    from routilux.builtin_routines.control_flow import ConditionalRouter as C
    from routilux.builtin_routines.text_processing import TextClipper as D

    assert A is ConditionalRouter is C
    assert B is TextClipper is D


@pytest.mark.parametrize("subpackage", sorted(SUBPACKAGES))
def test_each_subpackage_exports_its_routines(subpackage):
    module = importlib.import_module(f"routilux.builtin_routines.{subpackage}")
    expected = SUBPACKAGES[subpackage]
    assert sorted(module.__all__) == sorted(expected)
    for name, submodule in expected.items():
        cls = getattr(module, name)
        assert cls is builtin(name)
        assert cls.__module__ == f"routilux.builtin_routines.{subpackage}.{submodule}"
        inner = importlib.import_module(cls.__module__)
        assert getattr(inner, name) is cls
        assert name in inner.__all__


def test_the_subpackages_cover_every_builtin_once():
    listed = [name for names in SUBPACKAGES.values() for name in names]
    assert sorted(listed) == NAMES


# -- defaults, slots and events -------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_default_config(name):
    assert builtin(name)().config() == DEFAULTS[name]


@pytest.mark.parametrize("name", NAMES)
def test_instances_do_not_share_mutable_config(name):
    first, second = builtin(name)(), builtin(name)()
    for key, value in first.config().items():
        if isinstance(value, (list, dict)):
            assert value is not second.get_config(key), key


@pytest.mark.parametrize("name", NAMES)
def test_slots_events_and_output_params(name):
    routine = builtin(name)()
    slots, events, attributes = SHAPES[name]
    assert sorted(routine._slots) == sorted(slots)
    assert {event: routine.get_event(event).output_params for event in routine._events} == events
    for attribute, target in attributes.items():
        value = getattr(routine, attribute)
        assert value is (routine.get_slot(target) or routine.get_event(target)), attribute


@pytest.mark.parametrize("name", NAMES)
def test_no_builtin_has_a_trigger_slot_so_none_can_be_an_entry(name):
    routine = builtin(name)()
    assert routine.get_slot("trigger") is None
    flow = Flow()
    flow.add_routine(routine, "r")
    with pytest.raises(MissingTriggerSlotError):
        flow.execute("r")


def test_a_flow_of_every_builtin_with_defaults_saves_to_json_and_loads():
    flow = Flow(flow_id="all_builtins")
    for name in NAMES:
        flow.add_routine(builtin(name)(), name.lower())
    text = json.dumps(flow.serialize())
    loaded = Flow.deserialize(json.loads(text))
    assert loaded.flow_id == "all_builtins"
    for name in NAMES:
        routine = loaded.routines[name.lower()]
        assert type(routine) is builtin(name)
        assert routine.config() == DEFAULTS[name]
        assert sorted(routine._slots) == sorted(SHAPES[name][0])


# -- round trip of every builtin with a non-default config ----------------------------


class FrozenDatetime(time_provider_module.datetime):  # type: ignore[misc, name-defined]
    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return cls(2024, 3, 4, 5, 6, 7)


FOUR_LINES = "line1\nline2\nline3\nline4"


def configured(name: str, **config: Any) -> Callable[[], Routine]:
    def make() -> Routine:
        routine = builtin(name)()
        routine.set_config(**config)
        return routine

    return make


def configured_router() -> Routine:
    routine = routilux.ConditionalRouter()
    routine.add_route("big", "data['n'] > 10")
    routine.add_route("even", {"parity": "even"})
    routine.set_config(default_route="other", route_priority="all_matches")
    return routine


ROUND_TRIPS = [
    pytest.param(
        configured(
            "TextClipper",
            max_length=12,
            preserve_tracebacks=False,
            truncation_message="<{remaining} dropped>",
        ),
        [{"text": FOUR_LINES}, {"text": "Traceback:\n" + "x" * 20}, {"text": "short"}],
        ("output",),
        "input",
        id="TextClipper",
    ),
    pytest.param(
        configured("TextRenderer", tag_format="markdown", indent="\t", include_type_hints=True),
        [{"data": {"a": 1, "b": [1, {"c": 2}]}}, {"x": 1, "y": [2]}],
        ("output",),
        "input",
        id="TextRenderer",
    ),
    pytest.param(
        configured(
            "ResultExtractor",
            strategy="all",
            extract_xml_blocks=True,
            code_block_languages=["python"],
            extractor_priority=["code_block"],
            return_original_on_failure=True,
        ),
        [
            {"text": '```json\n{"a": 1}\n```\n```python\nx = 1\n```\n```xml\n<a/>\n```'},
            {"text": "plain"},
            {"a": 1, "b": [2]},
        ],
        ("output",),
        "input",
        id="ResultExtractor",
    ),
    pytest.param(
        configured(
            "TimeProvider",
            format="custom",
            custom_format="%Y|%H",
            include_weekday=False,
            locale="en_US",
        ),
        [{}, {"format": "formatted"}, {"format": "iso"}],
        ("output",),
        "request",
        id="TimeProvider",
    ),
    pytest.param(
        configured("DataFlattener", separator="/", preserve_lists=False, max_depth=2),
        [{"data": {"a": {"b": 1, "c": [2, 3]}, "d": {}}}, {"data": {"a": {"b": {"c": 1}}}}],
        ("output",),
        "input",
        id="DataFlattener",
    ),
    pytest.param(
        configured(
            "DataTransformer",
            transformations=["strip_whitespace", "uppercase"],
            chain_transformations=False,
        ),
        [{"data": "  abc "}, {"data": "7", "transformations": ["to_int", "nope"]}],
        ("output",),
        "input",
        id="DataTransformer",
    ),
    pytest.param(
        configured(
            "DataValidator",
            rules={"name": "is_string", "age": "is_positive"},
            strict_mode=True,
            required_fields=["name", "age"],
            allow_extra_fields=False,
        ),
        [{"name": "Ann", "age": 3}, {"name": 1, "age": -1, "x": 0}, {"name": "x"}],
        ("valid", "invalid"),
        "input",
        id="DataValidator",
    ),
    pytest.param(
        configured_router,
        [{"n": 20, "parity": "even"}, {"n": 3, "parity": "odd"}, {"n": 4, "parity": "even"}],
        ("big", "even", "other", "output"),
        "input",
        id="ConditionalRouter",
    ),
]


@pytest.mark.parametrize(("factory", "payloads", "events", "slot"), ROUND_TRIPS)
def test_round_trip_through_json_keeps_config_and_outputs(
    factory, payloads, events, slot, monkeypatch
):
    monkeypatch.setattr(time_provider_module, "datetime", FrozenDatetime)
    monkeypatch.setattr(time_provider_module, "time", types.SimpleNamespace(time=lambda: 1.5))
    routine = factory()
    assert routine.config() != builtin(type(routine).__name__)().config()
    flow = build_flow(routine, events=events, slot=slot)
    before = outputs(flow, payloads, events)
    assert any(before.values())

    loaded = round_trip(flow)
    copy = loaded.routines["subject"]
    assert type(copy) is type(routine)
    assert copy is not routine
    assert copy.config() == routine.config()
    assert sorted(copy._events) == sorted(routine._events)
    assert sorted(copy._slots) == sorted(routine._slots)
    assert outputs(loaded, payloads, events) == before
    # and again: a loaded flow saves to the same document
    assert json.loads(json.dumps(loaded.serialize())) == json.loads(json.dumps(flow.serialize()))

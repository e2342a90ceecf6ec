"""ResultExtractor: structured results out of text, code blocks or tool output
(0.9 reference, section 2.13)."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import pytest
from builtin_helpers import (
    build_flow,
    emitted,
    outputs,
    restored_registry,
    round_trip,
    run,
    unique,
)

from routilux import ResultExtractor, register_serializable
from routilux.exceptions import SerializationError

HAS_YAML = importlib.util.find_spec("yaml") is not None

FENCED_OBJECT = 'Here you go:\n```json\n{"answer": 42}\n```\nDone.'
THREE_KINDS = '```json\n{"a": 1}\n```\n```python\nprint(1)\n```\n```xml\n<a/>\n```'


@pytest.fixture(autouse=True)
def _restore_registry():
    with restored_registry():
        yield


def extractor(**config: Any) -> ResultExtractor:
    routine = ResultExtractor()
    routine.set_config(**config)
    return routine


def failure(value: Any, errors: list[str] | None = None) -> dict[str, Any]:
    return {
        "extracted_result": value,
        "format": type(value).__name__.lower(),
        "metadata": {
            "extraction_method": "none",
            "errors": errors or [],
            "original_type": type(value).__name__,
        },
        "confidence": 0.0,
        "extraction_path": [],
    }


# -- the builtin extractors and their confidence --------------------------------------


def test_fenced_json_object_scores_0_9():
    assert extractor().extract_value(FENCED_OBJECT) == {
        "extracted_result": {"answer": 42},
        "format": "json",
        "metadata": {
            "extraction_method": "json_code_block",
            "block_count": 1,
            "block_index": 0,
            "extractor": "json_code_block",
            "strategy": "auto",
        },
        "confidence": 0.9,
        "extraction_path": ["json_code_block"],
    }


def test_bare_json_string_scores_0_8():
    assert extractor().extract_value('  {"answer": 42}\n') == {
        "extracted_result": {"answer": 42},
        "format": "json",
        "metadata": {
            "extraction_method": "json_string",
            "extractor": "json_string",
            "strategy": "auto",
        },
        "confidence": 0.8,
        "extraction_path": ["json_string"],
    }


def test_bare_json_array_string():
    result = extractor().extract_value("[1, 2, 3]")
    assert result["extracted_result"] == [1, 2, 3]
    assert result["extraction_path"] == ["json_string"]
    assert result["confidence"] == 0.8


@pytest.mark.parametrize("text", ["[]", "{}", "{x", "{not json}", '"a string"', "42"])
def test_short_or_invalid_or_non_container_json_text_is_not_extracted(text):
    assert extractor().extract_value(text) == failure(text)


def test_the_last_parseable_fenced_json_block_wins():
    text = (
        '```json\n{"first": 1}\n```\nthen\n```json\n{"second": 2}\n```\n'
        "and a broken one\n```json\n{oops\n```"
    )
    result = extractor().extract_value(text)
    assert result["extracted_result"] == {"second": 2}
    assert result["metadata"]["block_count"] == 3
    assert result["metadata"]["block_index"] == 1


def test_fenced_json_language_is_case_insensitive():
    result = extractor().extract_value('```JSON\n{"a": 1}\n```')
    assert result["extracted_result"] == {"a": 1}
    assert result["extraction_path"] == ["json_code_block"]


def test_an_empty_fenced_json_array_loses_0_3():
    result = extractor().extract_value("```json\n[]\n```")
    assert result["extracted_result"] == []
    # 0.5 + 0.2 (list) + 0.1 (code block) + 0.1 (json) - 0.3 (empty)
    assert result["confidence"] == 0.6


def test_extract_json_blocks_off_skips_fenced_json():
    assert extractor(extract_json_blocks=False).extract_value(FENCED_OBJECT) == failure(
        FENCED_OBJECT
    )


def test_parse_json_strings_off_skips_bare_json():
    assert extractor(parse_json_strings=False).extract_value('{"a": 1}') == failure('{"a": 1}')


def test_code_block_of_a_configured_language():
    assert extractor().extract_value("run:\n```python\nprint(1)\n```") == {
        "extracted_result": "print(1)\n",
        "format": "python",
        "metadata": {
            "extraction_method": "python_code_block",
            "block_count": 1,
            "extractor": "code_block",
            "strategy": "auto",
        },
        "confidence": 0.6,
        "extraction_path": ["code_block"],
    }


def test_code_block_takes_the_last_block_of_the_first_configured_language_found():
    text = "```output\nout\n```\n```python\nfirst\n```\n```python\nsecond\n```"
    result = extractor().extract_value(text)
    assert (result["format"], result["extracted_result"]) == ("python", "second\n")
    reordered = extractor(code_block_languages=["output", "python"]).extract_value(text)
    assert (reordered["format"], reordered["extracted_result"]) == ("output", "out\n")


def test_a_blank_code_block_loses_0_3():
    result = extractor().extract_value("```python\n\n```")
    assert result["extracted_result"] == ""
    assert result["confidence"] == pytest.approx(0.3)


def test_extract_code_blocks_off_skips_code_blocks():
    text = "```python\nprint(1)\n```"
    assert extractor(extract_code_blocks=False).extract_value(text) == failure(text)


def test_fences_may_put_the_language_in_braces_and_blocks_keep_their_order():
    text = "```{python}\nfirst\n```\n```python\nsecond\n```\n```{json}\n[1]\n```"
    result = extractor(extract_json_blocks=False).extract_value(text)
    assert result["extracted_result"] == "second\n"
    assert result["metadata"]["block_count"] == 2
    assert extractor().extract_value(text)["extracted_result"] == [1]


def test_a_language_not_configured_is_not_extracted():
    text = "```ruby\nputs 1\n```"
    assert extractor().extract_value(text) == failure(text)
    result = extractor(code_block_languages=["ruby"]).extract_value(text)
    assert (result["format"], result["extracted_result"]) == ("ruby", "puts 1\n")


def test_xml_blocks_come_from_code_block_unless_the_xml_extractor_is_enabled():
    text = "```xml\n<a>1</a>\n```"
    default = extractor().extract_value(text)
    assert default["extraction_path"] == ["code_block"]
    assert (default["format"], default["extracted_result"]) == ("xml", "<a>1</a>\n")
    enabled = extractor(extract_xml_blocks=True).extract_value(text)
    assert enabled == {
        "extracted_result": "<a>1</a>\n",
        "format": "xml",
        "metadata": {
            "extraction_method": "xml_code_block",
            "block_count": 1,
            "extractor": "xml_code_block",
            "strategy": "auto",
        },
        "confidence": 0.6,
        "extraction_path": ["xml_code_block"],
    }


def test_interpreter_output_joins_output_contents_and_plain_strings():
    data = [
        {"format": "output", "content": "line A"},
        {"format": "code", "content": "x = 1"},
        "   ",
        "plain",
        {"format": "output", "content": "line B"},
    ]
    assert extractor().extract_value(data) == {
        "extracted_result": "line A\nplain\nline B",
        "format": "interpreter_output",
        "metadata": {
            "extraction_method": "interpreter_output",
            "output_count": 3,
            "line_count": 3,
            "extractor": "interpreter_output",
            "strategy": "auto",
        },
        "confidence": 0.5,
        "extraction_path": ["interpreter_output"],
    }


@pytest.mark.parametrize(
    "data", [[{"format": "image"}], [{"format": "output", "content": "  "}], ["a", {"x": 1}]]
)
def test_a_list_without_output_lines_or_interpreter_items_is_not_interpreter_output(data):
    result = extractor().extract_value(data)
    assert result["extracted_result"] == data
    assert result["extraction_path"] == ["list_extractor"]
    assert result["confidence"] == 0.7


def test_a_dict_with_content_but_no_format_marks_interpreter_output():
    result = extractor().extract_value([{"content": "ignored"}, "shown"])
    assert result["extracted_result"] == "shown"
    assert result["format"] == "interpreter_output"


def test_format_interpreter_output_off_disables_the_interpreter_extractor():
    data = [{"format": "output", "content": "A"}]
    result = extractor(format_interpreter_output=False).extract_value(data)
    assert result["extraction_path"] == ["list_extractor"]


def test_a_list_without_interpreter_items_is_passed_through():
    result = extractor().extract_value(["a", "b"])
    assert result == {
        "extracted_result": ["a", "b"],
        "format": "list",
        "metadata": {
            "extraction_method": "direct",
            "item_count": 2,
            "extractor": "list_extractor",
            "strategy": "auto",
        },
        "confidence": 0.7,
        "extraction_path": ["list_extractor"],
    }


def test_a_dict_is_passed_through():
    result = extractor().extract_value({"k": "v"})
    assert result == {
        "extracted_result": {"k": "v"},
        "format": "dict",
        "metadata": {
            "extraction_method": "direct",
            "key_count": 1,
            "extractor": "dict_extractor",
            "strategy": "auto",
        },
        "confidence": 0.7,
        "extraction_path": ["dict_extractor"],
    }


def test_an_empty_dict_given_directly_scores_0_4():
    assert extractor().extract_value({})["confidence"] == pytest.approx(0.4)


@pytest.mark.parametrize("value", ["no structure here", 5, 1.5, None, ""])
def test_nothing_extractable_returns_the_original_with_confidence_zero(value):
    assert extractor().extract_value(value) == failure(value)


def test_without_return_original_a_failure_raises_value_error():
    with pytest.raises(ValueError, match=r"^All extractors failed\. Errors: \[\]$"):
        extractor(return_original_on_failure=False).extract_value("plain text")


@pytest.mark.skipif(HAS_YAML, reason="checks the behaviour without PyYAML")
def test_without_pyyaml_yaml_is_never_extracted():
    text = "```yaml\na: 1\n```"
    routine = extractor(extract_yaml_blocks=True, parse_yaml_strings=True, code_block_languages=[])
    assert routine.extract_value(text) == failure(text)
    assert routine.extract_value("a: 1\nb: 2") == failure("a: 1\nb: 2")


@pytest.mark.skipif(not HAS_YAML, reason="PyYAML is not installed")
def test_yaml_extractors_when_enabled():  # pragma: no cover - depends on the environment
    routine = extractor(extract_yaml_blocks=True, parse_yaml_strings=True)
    block = routine.extract_value("```yaml\na: 1\n```")
    assert (block["extracted_result"], block["format"], block["confidence"]) == (
        {"a": 1},
        "yaml",
        0.9,
    )
    plain = routine.extract_value("a: 1\nb: 2")
    assert (plain["extracted_result"], plain["confidence"]) == ({"a": 1, "b": 2}, 0.8)
    assert extractor().extract_value("a: 1\nb: 2") == failure("a: 1\nb: 2")


# -- strategies and order -------------------------------------------------------------


def test_default_order_seen_through_strategy_all():
    result = extractor(strategy="all", extract_xml_blocks=True).extract_value(THREE_KINDS)
    assert result["extraction_path"] == ["json_code_block", "xml_code_block", "code_block"]
    assert result["extracted_result"] == [{"a": 1}, "<a/>\n", "print(1)\n"]


def test_strategy_all_collects_every_success():
    result = extractor(strategy="all").extract_value(THREE_KINDS)
    assert result["format"] == "multi"
    assert result["extracted_result"] == [{"a": 1}, "print(1)\n"]
    assert result["confidence"] == 0.9
    assert result["extraction_path"] == ["json_code_block", "code_block"]
    metadata = result["metadata"]
    assert metadata["count"] == 2
    assert metadata["errors"] == []
    assert [e["format"] for e in metadata["extractions"]] == ["json", "python"]
    assert [e["confidence"] for e in metadata["extractions"]] == [0.9, 0.6]
    assert all(e["metadata"]["strategy"] == "all" for e in metadata["extractions"])


def test_strategy_all_with_nothing_found_fails_like_the_others():
    assert extractor(strategy="all").extract_value("plain") == failure("plain")


@pytest.mark.parametrize("strategy", ["auto", "priority", "first_match"])
def test_first_success_strategies_follow_the_priority(strategy):
    routine = extractor(strategy=strategy, extractor_priority=["code_block"])
    result = routine.extract_value(THREE_KINDS)
    assert result["extraction_path"] == ["code_block"]
    assert result["confidence"] == 0.6
    assert result["metadata"]["strategy"] == strategy


def test_an_unknown_strategy_returns_the_most_confident():
    routine = extractor(strategy="best", extractor_priority=["code_block"])
    result = routine.extract_value(THREE_KINDS)
    assert result["extraction_path"] == ["json_code_block"]
    assert result["confidence"] == 0.9
    assert result["metadata"]["strategy"] == "best"


def test_extractor_priority_puts_the_listed_names_first_in_that_order():
    routine = extractor(
        strategy="all",
        extract_xml_blocks=True,
        extractor_priority=["code_block", "no_such_extractor", "xml_code_block"],
    )
    assert routine.extract_value(THREE_KINDS)["extraction_path"] == [
        "code_block",
        "xml_code_block",
        "json_code_block",
    ]


def test_priority_can_pass_interpreter_output_through_as_a_list():
    data = [{"format": "output", "content": "A"}]
    result = extractor(extractor_priority=["list_extractor"]).extract_value(data)
    assert result["extraction_path"] == ["list_extractor"]
    assert result["extracted_result"] == data


# -- custom extractors ----------------------------------------------------------------


def upper_words(data: Any, config: dict[str, Any]) -> Any:
    if isinstance(data, str) and data.startswith("WORDS:"):
        return data[6:].split(), "words", {"extraction_method": "custom_words"}
    return None


def dict_keys(data: Any, config: dict[str, Any]) -> Any:
    if isinstance(data, dict):
        return sorted(data), "keys", {"extraction_method": "keys"}
    return None


def test_a_registered_extractor_is_used_and_scored():
    routine = extractor()
    routine.register_extractor("words", upper_words)
    assert routine.extract_value("WORDS:a b") == {
        "extracted_result": ["a", "b"],
        "format": "words",
        "metadata": {"extraction_method": "custom_words", "extractor": "words", "strategy": "auto"},
        "confidence": 0.7,
        "extraction_path": ["words"],
    }


def test_custom_extractors_run_after_dict_and_list():
    routine = extractor(strategy="all")
    routine.register_extractor("keys", dict_keys)
    assert routine.extract_value({"b": 1, "a": 2})["extraction_path"] == ["dict_extractor", "keys"]
    first = extractor()
    first.register_extractor("keys", dict_keys)
    assert first.extract_value({"b": 1})["extraction_path"] == ["dict_extractor"]
    first.set_config(extractor_priority=["keys"])
    assert first.extract_value({"b": 1, "a": 2})["extracted_result"] == ["a", "b"]


def test_custom_extractors_receive_the_config():
    seen: list[dict[str, Any]] = []

    def spy(data: Any, config: dict[str, Any]) -> Any:
        seen.append(config)
        return None

    routine = extractor(code_block_languages=["python"])
    routine.register_extractor("spy", spy)
    routine.extract_value("nothing")
    assert len(seen) == 1
    assert seen[0]["code_block_languages"] == ["python"]
    assert seen[0]["strategy"] == "auto"


def test_registering_a_builtin_name_replaces_it_in_place():
    def never(data: Any, config: dict[str, Any]) -> Any:
        return None

    routine = extractor(strategy="all")
    routine.register_extractor("json_string", never)
    assert routine.extract_value('{"a": 1}') == failure('{"a": 1}')
    routine.register_extractor("json_string", upper_words)
    assert routine.extract_value("WORDS:x")["extraction_path"] == ["json_string"]


def test_register_extractor_keeps_it_in_the_config():
    routine = extractor()
    routine.register_extractor("words", upper_words)
    assert routine.config()["custom_extractors"] == {"words": upper_words}


def boom(data: Any, config: dict[str, Any]) -> Any:
    raise RuntimeError("extractor exploded")


def test_a_raising_extractor_is_recorded_and_the_others_go_on(caplog):
    routine = extractor(strategy="all", extractor_priority=["boom"])
    routine.register_extractor("boom", boom)
    with caplog.at_level(logging.WARNING, logger="routilux"):
        result = routine.extract_value('{"a": 1}')
    assert result["extraction_path"] == ["json_string"]
    assert result["metadata"]["errors"] == [
        {"extractor": "boom", "error": "Extractor 'boom' failed: extractor exploded"}
    ]
    assert any("extractor exploded" in r.getMessage() for r in caplog.records)


def test_log_errors_off_keeps_the_log_quiet(caplog):
    routine = extractor(log_errors=False, extractor_priority=["boom"])
    routine.register_extractor("boom", boom)
    with caplog.at_level(logging.DEBUG, logger="routilux"):
        assert routine.extract_value('{"a": 1}')["extraction_path"] == ["json_string"]
    assert not any("extractor exploded" in r.getMessage() for r in caplog.records)


def test_continue_on_error_off_stops_at_the_first_failure():
    routine = extractor(continue_on_error=False, log_errors=False, extractor_priority=["boom"])
    routine.register_extractor("boom", boom)
    assert routine.extract_value('{"a": 1}') == failure(
        '{"a": 1}', [{"extractor": "boom", "error": "Extractor 'boom' failed: extractor exploded"}]
    )
    routine.set_config(return_original_on_failure=False)
    with pytest.raises(ValueError, match=r"All extractors failed\..*extractor exploded"):
        routine.extract_value('{"a": 1}')


# -- in a flow ------------------------------------------------------------------------


def test_extracts_in_a_flow():
    out = emitted(extractor(), [{"text": FENCED_OBJECT}, {"data": '{"b": 2}'}])
    assert [o["extracted_result"] for o in out] == [{"answer": 42}, {"b": 2}]
    assert [o["confidence"] for o in out] == [0.9, 0.8]
    assert [o["extraction_path"] for o in out] == [["json_code_block"], ["json_string"]]
    assert set(out[0]) == {
        "extracted_result",
        "format",
        "metadata",
        "confidence",
        "extraction_path",
    }


def test_an_empty_payload_is_extracted_as_an_empty_string():
    assert emitted(extractor(), [{}]) == [failure("")]


def test_a_payload_with_several_keys_is_passed_through_as_a_dict():
    (out,) = emitted(extractor(), [{"a": 1, "b": 2}])
    assert out["extracted_result"] == {"a": 1, "b": 2}
    assert out["extraction_path"] == ["dict_extractor"]


def test_a_failure_without_return_original_is_recorded_in_the_job():
    flow = build_flow(extractor(return_original_on_failure=False))
    job = run(flow, [{"text": "nothing"}, {"text": '{"ok": 1}'}])
    assert [e["error_type"] for e in job.errors] == ["ValueError"]
    assert job.errors[0]["routine_id"] == "subject"
    assert "All extractors failed" in job.errors[0]["error"]
    outs = job.get_routine_state("got_output")["received"]
    assert [o["extracted_result"] for o in outs] == [{"ok": 1}]


def test_round_trip_with_a_registered_custom_extractor():
    register_serializable(upper_words, name=unique("upper_words"))
    routine = extractor(strategy="all", extractor_priority=["words", "code_block"])
    routine.register_extractor("words", upper_words)
    flow = build_flow(routine)
    payloads = [{"text": "WORDS:x y"}, {"text": THREE_KINDS}, {"text": "nothing"}]
    before = outputs(flow, payloads)
    loaded = round_trip(flow)
    assert loaded.routines["subject"].config() == routine.config()
    assert outputs(loaded, payloads) == before
    assert before["output"][0]["extracted_result"] == [["x", "y"]]
    assert before["output"][1]["extraction_path"] == ["code_block", "json_code_block"]


def test_an_unregistered_custom_extractor_cannot_be_saved():
    def local_extractor(data: Any, config: dict[str, Any]) -> Any:
        return None

    routine = extractor()
    routine.register_extractor("local", local_extractor)
    flow = build_flow(routine)
    with pytest.raises(SerializationError, match="local_extractor"):
        flow.serialize()

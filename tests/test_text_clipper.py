"""TextClipper: clips long text by whole lines (routilux 0.9 reference, section 2.13)."""

from __future__ import annotations

import pytest
from builtin_helpers import build_flow, emitted, outputs, round_trip, run

from routilux import TextClipper
from routilux.builtin_routines.text_processing.text_clipper import TextClipper as ModuleClipper

FOUR_LINES = "line1\nline2\nline3\nline4"


def clipper(**config: object) -> TextClipper:
    routine = TextClipper()
    routine.set_config(**config)
    return routine


# -- clip_text ----------------------------------------------------------------------


def test_the_module_class_is_the_exported_one():
    assert ModuleClipper is TextClipper


def test_verified_example_four_lines_limit_12():
    assert clipper().clip_text(FOUR_LINES, 12) == ("line1\n...(省略了3行)", True)


def test_verified_example_single_long_line_keeps_no_line():
    assert clipper().clip_text("abcdefgh", 5) == ("\n...(省略了1行)", True)


def test_lines_are_kept_while_strictly_below_the_limit():
    # "line1\n" is 6 characters, "line1\nline2\n" 12: at limit 13 two lines fit.
    assert clipper().clip_text(FOUR_LINES, 13) == ("line1\nline2\n...(省略了2行)", True)
    # At limit 12 the second line would reach the limit exactly: it is dropped.
    assert clipper().clip_text(FOUR_LINES, 12)[0].startswith("line1\n...")
    # Three lines need 18 < 19.
    assert clipper().clip_text(FOUR_LINES, 19) == ("line1\nline2\nline3\n...(省略了1行)", True)


def test_text_within_the_limit_is_unchanged():
    assert clipper().clip_text(FOUR_LINES, len(FOUR_LINES)) == (FOUR_LINES, False)
    assert clipper().clip_text(FOUR_LINES, 1000) == (FOUR_LINES, False)
    assert clipper().clip_text("", 1) == ("", False)


def test_one_character_over_the_limit_is_clipped():
    text, clipped = clipper().clip_text(FOUR_LINES, len(FOUR_LINES) - 1)
    assert clipped is True
    assert text == "line1\nline2\nline3\n...(省略了1行)"


def test_text_with_a_traceback_is_never_clipped_by_default():
    trace = "Traceback (most recent call last):\n" + "  frame\n" * 50 + "ValueError: x"
    assert clipper().clip_text(trace, 10) == (trace, False)


def test_tracebacks_are_clipped_when_preservation_is_off():
    trace = "Traceback (most recent call last):\n  File x\nValueError: boom"
    text, was_clipped = clipper(preserve_tracebacks=False).clip_text(trace, 20)
    assert was_clipped is True
    assert text == "\n...(省略了3行)"


def test_custom_truncation_message_gets_the_number_of_dropped_lines():
    routine = clipper(truncation_message="[{remaining} more]")
    assert routine.clip_text(FOUR_LINES, 12) == ("line1\n[3 more]", True)
    assert clipper(truncation_message="[cut]").clip_text(FOUR_LINES, 12) == (
        "line1\n[cut]",
        True,
    )


# -- in a flow ------------------------------------------------------------------------


def test_clips_text_in_a_flow_with_the_configured_limit():
    (out,) = emitted(clipper(max_length=12), [{"text": FOUR_LINES}])
    assert out == {
        "clipped_text": "line1\n...(省略了3行)",
        "was_clipped": True,
        "original_length": len(FOUR_LINES),
    }


def test_max_length_of_the_delivery_overrides_the_config():
    out = emitted(
        clipper(max_length=1000),
        [{"text": "abcdefgh", "max_length": 5}, {"text": "abcdefgh"}],
    )
    assert out == [
        {"clipped_text": "\n...(省略了1行)", "was_clipped": True, "original_length": 8},
        {"clipped_text": "abcdefgh", "was_clipped": False, "original_length": 8},
    ]


def test_default_limit_is_1000_characters():
    fits, too_long = "x" * 1000, "x" * 1001
    out = emitted(TextClipper(), [{"text": fits}, {"text": too_long}])
    assert out[0] == {"clipped_text": fits, "was_clipped": False, "original_length": 1000}
    assert out[1] == {
        "clipped_text": "\n...(省略了1行)",
        "was_clipped": True,
        "original_length": 1001,
    }


def test_traceback_in_a_flow_is_passed_through_whatever_its_length():
    trace = "Traceback (most recent call last):\n" + "x" * 200
    (out,) = emitted(clipper(max_length=10), [{"text": trace}])
    assert out == {"clipped_text": trace, "was_clipped": False, "original_length": len(trace)}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"data": "plain"}, "plain"),
        ({"content": "from content", "other": "x"}, "from content"),
        ({"message": "from message", "other": "x"}, "from message"),
        ({"text": {"content": "nested content", "zzz": "x"}}, "nested content"),
        ({"data": {"data": "inner data"}}, "inner data"),
        # the text keys in order: text, content, message, data
        ({"data": {"data": "d", "message": "m", "content": "c"}}, "c"),
        # a text key holding no string is skipped for the first string value
        ({"data": {"text": 5, "title": "first str", "body": "second"}}, "first str"),
        ({"a": 1, "b": 2}, str({"a": 1, "b": 2})),
        ({"text": 12345}, "12345"),
        ({"data": ["a", "b"]}, str(["a", "b"])),
    ],
)
def test_text_extraction(payload, expected):
    (out,) = emitted(clipper(max_length=1000), [payload])
    assert out["clipped_text"] == expected
    assert out["original_length"] == len(expected)
    assert out["was_clipped"] is False


def test_a_one_key_payload_is_seen_as_a_dict_not_as_its_bare_value():
    # 0.9 collapsed {"count": 5} to 5 and clipped "5"; the dict has no string, so its
    # text is str() of the whole dict.
    (out,) = emitted(clipper(), [{"count": 5}])
    assert out["clipped_text"] == "{'count': 5}"
    assert out["original_length"] == len("{'count': 5}")
    # a one-key dict with a string value still yields that string
    (out,) = emitted(clipper(), [{"name": "x"}])
    assert out["clipped_text"] == "x"


def test_original_length_is_measured_before_clipping():
    text = "a" * 30 + "\n" + "b" * 30
    (out,) = emitted(clipper(max_length=40), [{"text": text}])
    assert out["was_clipped"] is True
    assert out["clipped_text"] == "a" * 30 + "\n...(省略了1行)"
    assert out["original_length"] == 61


def test_round_trip_keeps_the_config_and_the_outputs():
    routine = clipper(max_length=13, truncation_message="<{remaining} cut>")
    flow = build_flow(routine)
    payloads = [{"text": FOUR_LINES}, {"text": "short"}]
    before = outputs(flow, payloads)
    loaded = round_trip(flow)
    assert loaded.routines["subject"].config() == {
        "max_length": 13,
        "preserve_tracebacks": True,
        "truncation_message": "<{remaining} cut>",
    }
    assert outputs(loaded, payloads) == before
    assert before["output"][0]["clipped_text"] == "line1\nline2\n<2 cut>"


def test_each_job_clips_independently():
    flow = build_flow(clipper(max_length=12))
    first = run(flow, [{"text": FOUR_LINES}])
    second = run(flow, [{"text": "short"}])
    assert [r["clipped_text"] for r in first.get_routine_state("got_output")["received"]] == [
        "line1\n...(省略了3行)"
    ]
    assert [r["clipped_text"] for r in second.get_routine_state("got_output")["received"]] == [
        "short"
    ]

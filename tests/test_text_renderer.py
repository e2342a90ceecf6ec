"""TextRenderer: nested data as XML-like tags or Markdown (0.9 reference, section 2.13)."""

from __future__ import annotations

import pytest
from builtin_helpers import build_flow, emitted, outputs, round_trip

from routilux import TextRenderer


def renderer(**config: object) -> TextRenderer:
    routine = TextRenderer()
    routine.set_config(**config)
    return routine


VERIFIED = {"a": 1, "b": [1, {"c": 2}]}
VERIFIED_XML = "<a>1</a>\n<b>  <item_0>1</item_0>\n  <item_1>    <c>2</c></item_1></b>"


# -- render_value ---------------------------------------------------------------------


def test_verified_example_in_xml():
    assert (
        renderer().render_value(VERIFIED)
        == "<a>1</a>\n<b>  <item_0>1</item_0>\n  <item_1>    <c>2</c></item_1></b>"
    )


def test_the_same_example_in_markdown():
    assert (
        renderer(tag_format="markdown").render_value(VERIFIED)
        == "**a**: 1\n**b**:   - 1\n  -     **c**: 2"
    )


def test_any_tag_format_other_than_xml_means_markdown():
    assert renderer(tag_format="whatever").render_value({"k": "v"}) == "**k**: v"
    assert renderer(tag_format="whatever").render_value(["x", "y"]) == "- x\n- y"


def test_a_list_gives_one_numbered_tag_per_item():
    assert renderer().render_value(["x", "y", "z"]) == (
        "<item_0>x</item_0>\n<item_1>y</item_1>\n<item_2>z</item_2>"
    )


@pytest.mark.parametrize("value", [{}, []])
@pytest.mark.parametrize("tag_format", ["xml", "markdown"])
def test_empty_containers_render_as_empty_text(value, tag_format):
    assert renderer(tag_format=tag_format).render_value(value) == ""


def test_empty_container_nested_in_a_dict():
    assert renderer().render_value({"e": {}, "l": []}) == "<e></e>\n<l></l>"
    assert renderer(tag_format="md").render_value({"e": {}}) == "**e**: "


@pytest.mark.parametrize(
    ("value", "text"),
    [(42, "42"), (1.5, "1.5"), ("text", "text"), (None, "None"), (True, "True")],
)
def test_scalars_render_with_str(value, text):
    assert renderer().render_value(value) == text


def test_the_indent_is_configurable_and_grows_with_the_level():
    routine = renderer(indent="--")
    assert routine.render_value({"a": {"b": {"c": 1}}}) == "<a>--<b>----<c>1</c></b></a>"
    assert routine.render_value({"a": 1}, level=2) == "----<a>1</a>"


def test_a_list_containing_itself_renders_the_cycle():
    looped: list[object] = [1]
    looped.append(looped)
    assert renderer().render_value(looped) == (
        "<item_0>1</item_0>\n<item_1>[Circular Reference]</item_1>"
    )
    assert renderer(tag_format="md").render_value(looped) == "- 1\n- [Circular Reference]"


def test_a_dict_containing_itself_renders_the_cycle():
    looped: dict[str, object] = {"name": "n"}
    looped["self"] = looped
    assert renderer().render_value(looped) == "<name>n</name>\n<self>[Circular Reference]</self>"


def test_a_value_shared_but_not_cyclic_is_rendered_each_time():
    shared = {"x": 1}
    assert renderer().render_value({"a": shared, "b": shared}) == (
        "<a>  <x>1</x></a>\n<b>  <x>1</x></b>"
    )


# -- in a flow ------------------------------------------------------------------------


def test_renders_in_a_flow_with_the_original_type():
    out = emitted(renderer(), [{"data": VERIFIED}, {"data": [1, 2]}, {"data": 7}])
    assert out == [
        {"rendered_text": VERIFIED_XML, "original_type": "dict"},
        {"rendered_text": "<item_0>1</item_0>\n<item_1>2</item_1>", "original_type": "list"},
        {"rendered_text": "7", "original_type": "int"},
    ]


def test_a_payload_with_several_keys_is_rendered_as_a_dict():
    (out,) = emitted(renderer(), [{"x": 1, "y": "two"}])
    assert out == {"rendered_text": "<x>1</x>\n<y>two</y>", "original_type": "dict"}


def test_a_payload_with_one_key_renders_its_value_as_documented():
    (out,) = emitted(renderer(), [{"name": "x"}])
    assert out == {"rendered_text": "x", "original_type": "str"}


def test_an_empty_payload_renders_as_an_empty_dict():
    (out,) = emitted(renderer(), [{}])
    assert out == {"rendered_text": "", "original_type": "dict"}


def test_round_trip_keeps_the_config_and_the_outputs():
    flow = build_flow(renderer(tag_format="markdown", indent="    "))
    payloads = [{"data": VERIFIED}, {"a": 1, "b": 2}]
    before = outputs(flow, payloads)
    loaded = round_trip(flow)
    assert loaded.routines["subject"].config() == {
        "tag_format": "markdown",
        "indent": "    ",
        "include_type_hints": False,
    }
    assert outputs(loaded, payloads) == before
    assert (
        before["output"][0]["rendered_text"] == "**a**: 1\n**b**:     - 1\n    -         **c**: 2"
    )

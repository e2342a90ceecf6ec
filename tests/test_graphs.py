"""Flow.to_mermaid and Flow.to_dot draw a flow's graph as text (issue 11, item 1).

Golden drawings of the tutorials' flows (drawn from the tutorial scripts, as the docs
draw them); ids and names that could break either syntax (checked by parsing the
Mermaid text back as Mermaid reads it, and by Graphviz's ``dot`` when installed);
cycles; entry routines; a 50-routine flow; drawing while another thread wires.
"""

from __future__ import annotations

import ast
import html
import importlib.util
import itertools
import re
import shutil
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routilux import Flow, Routine
from routilux.exceptions import ConfigurationError

from helpers import Collector, Relay, Source

ROOT = Path(__file__).resolve().parent.parent
DOT = shutil.which("dot")
needs_dot = pytest.mark.skipif(DOT is None, reason="Graphviz's dot is not installed")


class Wired(Routine):
    """A routine with the given slots and events, whose handlers do nothing."""

    def __init__(self, slots: tuple[str, ...] = ("input",), events: tuple[str, ...] = ()) -> None:
        super().__init__()
        for name in slots:
            self.define_slot(name, handler=self.ignore)
        for name in events:
            self.define_event(name)

    def ignore(self, **data: Any) -> None:
        return None


def build(
    flow_id: str,
    routines: list[tuple[str, Routine]],
    connections: list[tuple[Any, ...]],
) -> Flow:
    flow = Flow(flow_id)
    for routine_id, routine in routines:
        flow.add_routine(routine, routine_id)
    for connection in connections:
        flow.connect(*connection)
    return flow


# -- golden drawings of the tutorials' flows -------------------------------------------


def word_count() -> Flow:
    """The flow of tutorials/getting_started.py, rebuilt with routines that do nothing."""
    return build(
        "word_count",
        [
            ("source", Wired(("trigger",), ("line",))),
            ("counter", Wired(("input",), ("counted",))),
            ("report", Wired(("input",))),
        ],
        [("source", "line", "counter", "input"), ("counter", "counted", "report", "input")],
    )


def _docs_extension() -> Any:
    """docs/_ext/flow_graphs.py, the code that draws the tutorials' flows in the docs."""
    spec = importlib.util.spec_from_file_location(
        "routilux_docs_flow_graphs", ROOT / "docs" / "_ext" / "flow_graphs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tutorial_drawings(script: str, flow_id: str) -> tuple[str, str]:
    """(Mermaid, DOT) of the flow ``flow_id`` that ``tutorials/<script>`` builds, drawn
    as the docs draw it: the script is run, and its flow drawn when it ends."""
    drawings = _docs_extension().flow_drawings(ROOT / "tutorials" / script, flow_id)
    return drawings["mermaid"], drawings["dot"]


#: script: (flow id, Mermaid, DOT), drawn from the tutorial scripts themselves.
GOLDEN: dict[str, tuple[str, str, str]] = {
    "getting_started.py": (
        "word_count",
        "flowchart LR\n"
        '    n0(["source"]):::entry\n'
        '    n1["counter"]\n'
        '    n2["report"]\n'
        '    n0 -->|"line -> input"| n1\n'
        '    n1 -->|"counted -> input"| n2\n'
        "    classDef entry stroke-width:3px\n",
        'digraph "word_count" {\n'
        "    rankdir=LR;\n"
        "    node [shape=box, style=rounded];\n"
        '    n0 [label="source", peripheries=2];\n'
        '    n1 [label="counter"];\n'
        '    n2 [label="report"];\n'
        '    n0 -> n1 [label="line -> input"];\n'
        '    n1 -> n2 [label="counted -> input"];\n'
        "}\n",
    ),
    # The mappings on the edges.
    "data_flow/step3_param_mapping.py": (
        "param_mapping",
        "flowchart LR\n"
        '    n0(["article"]):::entry\n'
        '    n1["mailer"]\n'
        '    n2["inspector"]\n'
        '    n0 -->|"article -> input (title as subject, body as text)"| n1\n'
        '    n0 -->|"article -> input (title as subject)"| n2\n'
        "    classDef entry stroke-width:3px\n",
        'digraph "param_mapping" {\n'
        "    rankdir=LR;\n"
        "    node [shape=box, style=rounded];\n"
        '    n0 [label="article", peripheries=2];\n'
        '    n1 [label="mailer"];\n'
        '    n2 [label="inspector"];\n'
        '    n0 -> n1 [label="article -> input (title as subject, body as text)"];\n'
        '    n0 -> n2 [label="article -> input (title as subject)"];\n'
        "}\n",
    ),
    # Two edges into one slot, both drawn.
    "connecting/step2_fan_in.py": (
        "fan_in",
        "flowchart LR\n"
        '    n0(["document"]):::entry\n'
        '    n1["length"]\n'
        '    n2["repeats"]\n'
        '    n3["report"]\n'
        '    n0 -->|"document -> input"| n1\n'
        '    n0 -->|"document -> input"| n2\n'
        '    n1 -->|"finding -> input"| n3\n'
        '    n2 -->|"finding -> input"| n3\n'
        "    classDef entry stroke-width:3px\n",
        'digraph "fan_in" {\n'
        "    rankdir=LR;\n"
        "    node [shape=box, style=rounded];\n"
        '    n0 [label="document", peripheries=2];\n'
        '    n1 [label="length"];\n'
        '    n2 [label="repeats"];\n'
        '    n3 [label="report"];\n'
        '    n0 -> n1 [label="document -> input"];\n'
        '    n0 -> n2 [label="document -> input"];\n'
        '    n1 -> n3 [label="finding -> input"];\n'
        '    n2 -> n3 [label="finding -> input"];\n'
        "}\n",
    ),
    # The builtin ConditionalRouter: one event per route.
    "advanced/step3_router.py": (
        "tickets",
        "flowchart LR\n"
        '    n0(["tickets"]):::entry\n'
        '    n1["router"]\n'
        '    n2["escalate_desk"]\n'
        '    n3["refunds_desk"]\n'
        '    n4["vip_desk"]\n'
        '    n5["general_desk"]\n'
        '    n0 -->|"ticket -> input"| n1\n'
        '    n1 -->|"escalate -> input"| n2\n'
        '    n1 -->|"refunds -> input"| n3\n'
        '    n1 -->|"vip -> input"| n4\n'
        '    n1 -->|"general -> input"| n5\n'
        "    classDef entry stroke-width:3px\n",
        'digraph "tickets" {\n'
        "    rankdir=LR;\n"
        "    node [shape=box, style=rounded];\n"
        '    n0 [label="tickets", peripheries=2];\n'
        '    n1 [label="router"];\n'
        '    n2 [label="escalate_desk"];\n'
        '    n3 [label="refunds_desk"];\n'
        '    n4 [label="vip_desk"];\n'
        '    n5 [label="general_desk"];\n'
        '    n0 -> n1 [label="ticket -> input"];\n'
        '    n1 -> n2 [label="escalate -> input"];\n'
        '    n1 -> n3 [label="refunds -> input"];\n'
        '    n1 -> n4 [label="vip -> input"];\n'
        '    n1 -> n5 [label="general -> input"];\n'
        "}\n",
    ),
    # A loop: check sends empty pages back to download, drawn whole with that edge
    # dashed; a fan-out, one edge with a mapping.
    "guide/graphs_loop.py": (
        "crawler",
        "flowchart LR\n"
        '    n0(["download"]):::entry\n'
        '    n1["check"]\n'
        '    n2["save"]\n'
        '    n3["count"]\n'
        '    n0 -->|"fetched -> input"| n1\n'
        '    n1 -.->|"empty -> again"| n0\n'
        '    n1 -->|"page -> input (body as text)"| n2\n'
        '    n1 -->|"page -> input"| n3\n'
        "    classDef entry stroke-width:3px\n",
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
        "}\n",
    ),
}


@pytest.mark.parametrize("script", GOLDEN)
def test_the_tutorial_scripts_flows_are_drawn_as_the_golden_text(script: str) -> None:
    flow_id, mermaid, dot = GOLDEN[script]
    assert tutorial_drawings(script, flow_id) == (mermaid, dot)


def test_the_rebuilt_getting_started_flow_draws_as_the_tutorial() -> None:
    flow = word_count()
    _, mermaid, dot = GOLDEN["getting_started.py"]
    assert (flow.to_mermaid(), flow.to_dot()) == (mermaid, dot)


@needs_dot
@pytest.mark.parametrize("script", GOLDEN)
def test_graphviz_draws_the_tutorial_flows_as_their_mermaid_text(script: str) -> None:
    _, mermaid, dot = GOLDEN[script]
    mermaid_nodes, mermaid_edges = parse_mermaid(mermaid)
    assert rendered(dot) == (
        {f"n{number}": label for number, (label, _) in enumerate(mermaid_nodes)},
        Counter((f"n{source}", f"n{target}", label) for source, target, label, _ in mermaid_edges),
    )


def test_a_script_without_the_flow_is_reported() -> None:
    with pytest.raises(ValueError, match=r"has no flow 'nope' among its module-level names"):
        tutorial_drawings("getting_started.py", "nope")


def test_an_empty_flow() -> None:
    flow = Flow("empty")
    assert flow.to_mermaid() == "flowchart LR\n"
    assert flow.to_dot() == (
        'digraph "empty" {\n    rankdir=LR;\n    node [shape=box, style=rounded];\n}\n'
    )


# -- order, entries, cycles, missing routines ------------------------------------------


def test_routines_keep_insertion_order_and_edges_connection_order() -> None:
    flow = build(
        "order",
        [("zeta", Wired(("trigger",), ("out",))), ("alpha", Wired()), ("mid", Wired())],
        [("zeta", "out", "mid", "input"), ("zeta", "out", "alpha", "input")],
    )
    # Connecting an event and a slot again changes the mapping, not the order.
    flow.connect("zeta", "out", "mid", "input", {"a": "b"})
    assert flow.to_mermaid().splitlines()[1:6] == [
        '    n0(["zeta"]):::entry',
        '    n1["alpha"]',
        '    n2["mid"]',
        '    n0 -->|"out -> input (a as b)"| n2',
        '    n0 -->|"out -> input"| n1',
    ]
    assert flow.to_mermaid() == flow.to_mermaid()
    assert flow.to_dot() == flow.to_dot()


def test_every_routine_with_a_trigger_slot_is_an_entry() -> None:
    """An entry is a routine Flow.execute can start at; one fed by another routine
    (here "second") still is, and a routine without a trigger slot is not."""
    flow = build(
        "entries",
        [
            ("first", Wired(("trigger",), ("out",))),
            ("second", Wired(("trigger", "input"), ("out",))),
            ("plain", Wired(("input",), ("out",))),
            ("lonely", Wired(("trigger",))),
        ],
        [("first", "out", "second", "input"), ("second", "out", "plain", "input")],
    )
    mermaid = flow.to_mermaid().splitlines()
    assert mermaid[1:5] == [
        '    n0(["first"]):::entry',
        '    n1(["second"]):::entry',
        '    n2["plain"]',
        '    n3(["lonely"]):::entry',
    ]
    dot = flow.to_dot().splitlines()
    assert [line for line in dot if "peripheries=2" in line] == [
        '    n0 [label="first", peripheries=2];',
        '    n1 [label="second", peripheries=2];',
        '    n3 [label="lonely", peripheries=2];',
    ]


def test_a_self_loop_and_a_loop_without_entry_are_dashed() -> None:
    flow = build(
        "loops",
        [
            ("again", Wired(("input",), ("out",))),
            ("a", Wired(("input",), ("out",))),
            ("b", Wired(("input",), ("out",))),
        ],
        [
            ("again", "out", "again", "input"),
            ("a", "out", "b", "input"),
            ("b", "out", "a", "input"),
        ],
    )
    assert flow.to_mermaid().splitlines()[4:] == [
        '    n0 -.->|"out -> input"| n0',
        '    n1 -->|"out -> input"| n2',
        '    n2 -.->|"out -> input"| n1',
    ]
    assert flow.to_dot().splitlines()[6:9] == [
        '    n0 -> n0 [label="out -> input", style=dashed, constraint=false];',
        '    n1 -> n2 [label="out -> input"];',
        '    n2 -> n1 [label="out -> input", style=dashed, constraint=false];',
    ]


def test_the_walk_for_cycles_starts_at_the_entry_routines() -> None:
    """The loop is entered from "entry" at "b", so the edge back to "b" closes it,
    though "a" was added first."""
    flow = build(
        "walk",
        [
            ("a", Wired(("input",), ("out",))),
            ("b", Wired(("input",), ("out",))),
            ("entry", Wired(("trigger",), ("out",))),
        ],
        [
            ("a", "out", "b", "input"),
            ("b", "out", "a", "input"),
            ("entry", "out", "b", "input"),
        ],
    )
    assert flow.to_mermaid().splitlines()[4:7] == [
        '    n0 -.->|"out -> input"| n1',
        '    n1 -->|"out -> input"| n0',
        '    n2 -->|"out -> input"| n1',
    ]


def test_a_routine_no_longer_in_the_flow_is_drawn_as_missing() -> None:
    flow = word_count()
    del flow.routines["counter"]
    assert flow.to_mermaid() == (
        "flowchart LR\n"
        '    n0(["source"]):::entry\n'
        '    n1["report"]\n'
        '    n2["counter"]:::missing\n'
        '    n0 -->|"line -> input"| n2\n'
        '    n2 -->|"counted -> input"| n1\n'
        "    classDef entry stroke-width:3px\n"
        "    classDef missing stroke-dasharray:5 5\n"
    )
    assert '    n2 [label="counter", style="rounded,dashed"];\n' in flow.to_dot()


# -- hostile ids and names -------------------------------------------------------------

NASTY = [
    "two words",
    'say "hi"',
    "a-->b",
    "x --- y",
    "日本語",
    "café",
    "#quot;",
    "semi;colon",
    "pipe|bar",
    "<b>bold</b>",
    "back\\slash",
    "a&amp;b",
    "new\nline",
    "tab\there",
    "%%comment",
    "`tick`",
    "end",
    "ﬂ°°35¶ß",
    "nul\x00",
    "sep\u2028",
    "lone\ud800",
    "nbsp\xa0x",
    " ",
    "😀",
]


def test_nasty_ids_are_escaped_in_mermaid() -> None:
    flow = Flow("nasty")
    for routine_id in NASTY:
        flow.add_routine(Wired(("input",), ("out",)), routine_id)
    flow.connect(NASTY[1], "out", NASTY[2], "input", {'k"1': "v|2"})
    lines = flow.to_mermaid().splitlines()
    assert lines[1:5] == [
        '    n0["two words"]',
        '    n1["say #34;hi#34;"]',
        '    n2["a--#62;b"]',
        '    n3["x --- y"]',
    ]
    assert lines[5:] == [
        *(f'    n{n}["{label}"]' for n, label in enumerate(MERMAID_LABELS, 4)),
        '    n1 -->|"out -> input (k#34;1 as v#124;2)"| n2',
    ]
    nodes, edges = parse_mermaid(flow.to_mermaid())
    assert [label for label, _ in nodes] == [visible(routine_id) for routine_id in NASTY]
    assert edges == [(1, 2, 'out -> input (k"1 as v|2)', False)]


def test_labels_mermaid_could_take_for_its_style_syntax_keep_their_entity_codes() -> None:
    """Mermaid drops the last ``;`` of a line like ``style n0 fill:#f9f;`` before
    parsing; a label with ``style`` or ``classDef``, a colon and an entity code after
    it must not lose the entity code's ``;``."""
    ids = ["style:#1", "classDef:a;b", "x"]
    flow = Flow("styles")
    for routine_id in ids:
        flow.add_routine(Wired(("input",), ("style:out#",)), routine_id)
    flow.connect("style:#1", "style:out#", "x", "input", {"classDef:k": "v;w"})
    text = flow.to_mermaid()
    assert mermaid_preprocessed(text) == text
    nodes, edges = parse_mermaid(text)
    assert [label for label, _ in nodes] == ids
    assert edges == [(0, 2, "style:out# -> input (classDef:k as v;w)", False)]
    assert '    n0["style#58;#35;1"]' in text.splitlines()


MERMAID_LABELS = [
    "日本語",
    "café",
    "#35;quot#59;",
    "semi#59;colon",
    "pipe#124;bar",
    "#60;b#62;bold#60;/b#62;",
    "back#92;slash",
    "a#38;amp#59;b",
    "new#92;nline",
    "tab#92;there",
    "#37;#37;comment",
    "#96;tick#96;",
    "end",
    "ﬂ#176;#176;35#182;ß",
    "nul#92;x00",
    "sep#92;u2028",
    "lone#92;ud800",
    "nbsp#92;xa0x",
    " ",
    "#128512;",
]


def test_nasty_ids_are_escaped_in_dot() -> None:
    flow = Flow('flow "q" \\ &')
    for routine_id in NASTY:
        flow.add_routine(Wired(("input",), ("out",)), routine_id)
    flow.connect(NASTY[1], "out", NASTY[2], "input", {'k"1': "v|2"})
    lines = flow.to_dot().splitlines()
    assert lines[0] == 'digraph "flow \\"q\\" \\\\ &amp;" {'
    assert lines[3:] == [
        *(f'    n{n} [label="{label}"];' for n, label in enumerate(DOT_LABELS)),
        '    n1 -> n2 [label="out -> input (k\\"1 as v|2)"];',
        "}",
    ]


DOT_LABELS = [
    "two words",
    'say \\"hi\\"',
    "a-->b",
    "x --- y",
    "日本語",
    "café",
    "#quot;",
    "semi;colon",
    "pipe|bar",
    "<b>bold</b>",
    "back\\\\slash",
    "a&amp;amp;b",
    "new\\\\nline",
    "tab\\\\there",
    "%%comment",
    "`tick`",
    "end",
    "ﬂ°°35¶ß",
    "nul\\\\x00",
    "sep\\\\u2028",
    "lone\\\\ud800",
    "nbsp\\\\xa0x",
    " ",
    "😀",
]


@needs_dot
def test_graphviz_draws_nasty_ids_as_they_are() -> None:
    flow = Flow("nasty")
    for routine_id in NASTY:
        flow.add_routine(Wired(("input",), ("out",)), routine_id)
    for source, target in itertools.pairwise(NASTY):
        flow.connect(source, "out", target, "input")
    assert rendered(flow.to_dot()) == expected_rendering(flow)


def visible(text: str) -> str:
    """What a label shows for ``text``: unprintable characters as Python escapes."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


_MERMAID_PLAIN = set(" _-.,/()+=@!?*")
_MERMAID_NODE = re.compile(r'    n(\d+)(?:\["([^"]*)"\]|\(\["([^"]*)"\]\)(:::entry))(:::missing)?')
_MERMAID_EDGE = re.compile(r'    n(\d+) (-->|-\.->)\|"([^"]*)"\| n(\d+)')
_MERMAID_CLASS = re.compile(r"    classDef (entry|missing) [-a-z:0-9 ]+")
_PIECE = re.compile(r"#(\d+);|(.)", re.DOTALL)


def unescape_mermaid(text: str, arrows: int = 0) -> str:
    """The text of a Mermaid label, checking that it holds only letters, digits,
    plain punctuation and entity codes (and ``arrows`` times the drawing's own
    `` -> ``, the only ``>`` allowed)."""
    assert text.count(">") == text.count(" -> ") == arrows, text
    out = []
    for code, char in _PIECE.findall(text):
        if code:
            out.append(chr(int(code)))
        else:
            assert char.isalnum() or char in _MERMAID_PLAIN | {">"}, f"{char!r} in {text!r}"
            out.append(char)
    return "".join(out)


#: What Mermaid does to a chart's text before parsing it (``encodeEntities`` of its
#: mermaidAPI): the last ``;`` of each match of these is dropped, so that the colour in
#: ``style n0 fill:#f9f;`` is not read as an entity code. ``.`` stops at line ends, as
#: in JavaScript.
_MERMAID_STYLE_LINES = [re.compile(r"style.*:\S*#.*;"), re.compile(r"classDef.*:\S*#.*;")]


def mermaid_preprocessed(text: str) -> str:
    """``text`` as Mermaid's parser gets it (see ``_MERMAID_STYLE_LINES``)."""
    for pattern in _MERMAID_STYLE_LINES:
        text = pattern.sub(lambda match: match[0][:-1], text)
    return text


def parse_mermaid(text: str) -> tuple[list[tuple[str, str]], list[tuple[int, int, str, bool]]]:
    """Nodes ``(label, kind)`` and edges ``(source, target, label, dashed)`` of a
    drawing, read as Mermaid reads it; fails on any line that is not one of the
    drawing's own forms."""
    text = mermaid_preprocessed(text)
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert text.endswith("\n")
    nodes: list[tuple[str, str]] = []
    edges: list[tuple[int, int, str, bool]] = []
    for line in lines[1:]:
        if match := _MERMAID_NODE.fullmatch(line):
            assert int(match[1]) == len(nodes), "nodes are n0, n1, ... in order"
            kind = "entry" if match[4] else "missing" if match[5] else "routine"
            nodes.append((unescape_mermaid(match[2] or match[3]), kind))
        elif match := _MERMAID_EDGE.fullmatch(line):
            label = unescape_mermaid(match[3], arrows=1)
            edges.append((int(match[1]), int(match[4]), label, match[2] == "-.->"))
        else:
            assert _MERMAID_CLASS.fullmatch(line), f"unexpected line {line!r}"
    assert all(0 <= s < len(nodes) and 0 <= t < len(nodes) for s, t, _, _ in edges)
    return nodes, edges


def rendered(dot: str) -> tuple[dict[str, str], Counter[tuple[str, str, str]]]:
    """What Graphviz draws: node name -> label, and (tail, head, label) edges."""
    assert DOT is not None
    completed = subprocess.run(
        [DOT, "-Tsvg"], input=dot.encode(), capture_output=True, timeout=30, check=False
    )
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")
    svg = "{http://www.w3.org/2000/svg}"
    root = ET.fromstring(completed.stdout)
    nodes: dict[str, str] = {}
    edges: Counter[tuple[str, str, str]] = Counter()
    for group in root.iter(f"{svg}g"):
        title = group.findtext(f"{svg}title") or ""
        # Graphviz keeps runs of spaces with no-break spaces.
        label = "".join(t.text or "" for t in group.iter(f"{svg}text")).replace("\xa0", " ")
        if group.get("class") == "node":
            nodes[title] = label
        elif group.get("class") == "edge":
            tail, head = title.split("->")
            edges[tail, head, label] += 1
    return nodes, edges


def expected_rendering(flow: Flow) -> tuple[dict[str, str], Counter[tuple[str, str, str]]]:
    ids = list(flow.routines)
    edges: Counter[tuple[str, str, str]] = Counter()
    for connection in flow.connections:
        assert connection.source_event is not None and connection.target_slot is not None
        label = f"{visible(connection.source_event.name)} -> {visible(connection.target_slot.name)}"
        if connection.param_mapping:
            label += " (" + ", ".join(
                f"{visible(a)} as {visible(b)}" for a, b in connection.param_mapping.items()
            )
            label += ")"
        source = ids.index(connection.source_routine_id)  # type: ignore[arg-type]
        target = ids.index(connection.target_routine_id)  # type: ignore[arg-type]
        edges[f"n{source}", f"n{target}", label] += 1
    return {f"n{n}": visible(routine_id) for n, routine_id in enumerate(ids)}, edges


names = st.text(min_size=1, max_size=12)


@st.composite
def hostile_flows(draw: st.DrawFn) -> Flow:
    """A flow of routines with arbitrary ids, events and slots, arbitrarily wired
    (with loops and mappings)."""
    ids = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    event, slot = draw(names), draw(names)
    flow = Flow(draw(names))
    for routine_id in ids:
        slots = (
            (slot,) if slot == "trigger" else (slot, "trigger") if draw(st.booleans()) else (slot,)
        )
        flow.add_routine(Wired(slots, (event,)), routine_id)
    pairs = draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=8))
    for source, target in pairs:
        mapping = draw(st.dictionaries(names, names, max_size=2))
        flow.connect(source, event, target, slot, mapping)
    return flow


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_flows())
def test_any_ids_and_names_parse_back_from_mermaid(flow: Flow) -> None:
    nodes, edges = parse_mermaid(flow.to_mermaid())
    assert [label for label, _ in nodes] == [visible(routine_id) for routine_id in flow.routines]
    assert [kind == "entry" for _, kind in nodes] == [
        routine.get_slot("trigger") is not None for routine in flow.routines.values()
    ]
    expected = expected_rendering(flow)[1]
    assert Counter((f"n{s}", f"n{t}", label) for s, t, label, _ in edges) == expected
    # Dropping the dashed edges leaves no cycle.
    assert acyclic(len(nodes), [(s, t) for s, t, _, dashed in edges if not dashed])


@needs_dot
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_flows())
def test_any_ids_and_names_are_drawn_as_they_are_by_graphviz(flow: Flow) -> None:
    dot = flow.to_dot()
    assert rendered(dot) == expected_rendering(flow)
    dashed = [
        line for line in dot.splitlines() if line.endswith("style=dashed, constraint=false];")
    ]
    mermaid_dashed = [line for line in flow.to_mermaid().splitlines() if " -.->|" in line]
    assert len(dashed) == len(mermaid_dashed)


def acyclic(count: int, edges: list[tuple[int, int]]) -> bool:
    """Kahn's algorithm: can every node be removed once nothing leads into it?"""
    incoming = [0] * count
    for _, target in edges:
        incoming[target] += 1
    ready = [node for node in range(count) if incoming[node] == 0]
    removed = 0
    while ready:
        node = ready.pop()
        removed += 1
        for source, target in edges:
            if source == node:
                incoming[target] -= 1
                if incoming[target] == 0:
                    ready.append(target)
    return removed == count


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=8).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=20),
            st.sets(st.integers(0, n - 1)),
        )
    )
)
def test_every_cycle_has_a_dashed_edge_and_every_edge_is_drawn(
    graph: tuple[int, list[tuple[int, int]], set[int]],
) -> None:
    count, pairs, entries = graph
    flow = Flow("cycles")
    for node in range(count):
        slots = ("trigger", "input") if node in entries else ("input",)
        routine = Wired(slots, tuple(f"to{target}" for target in range(count)))
        flow.add_routine(routine, f"r{node}")
    for source, target in dict.fromkeys(pairs):  # connect() merges repeats
        flow.connect(f"r{source}", f"to{target}", f"r{target}", "input")
    nodes, edges = parse_mermaid(flow.to_mermaid())
    assert len(nodes) == count
    assert [(s, t) for s, t, _, _ in edges] == list(dict.fromkeys(pairs))
    assert acyclic(count, [(s, t) for s, t, _, dashed in edges if not dashed])
    dot_dashed = [
        "constraint=false" in line for line in flow.to_dot().splitlines() if " -> n" in line
    ]
    assert dot_dashed == [dashed for _, _, _, dashed in edges]


# -- a large flow ----------------------------------------------------------------------


def fifty() -> Flow:
    """source -> r1 -> ... -> r48 -> sink, plus a fan-out every ten routines and a
    loop back to r1."""
    flow = Flow("fifty")
    flow.add_routine(Source(), "source")
    for number in range(1, 49):
        flow.add_routine(Relay(), f"r{number}")
    flow.add_routine(Collector(), "sink")
    ids = list(flow.routines)
    for source, target in itertools.pairwise(ids):
        flow.connect(source, "output", target, "input")
    for number in range(10, 49, 10):
        flow.connect(f"r{number}", "output", "sink", "input")
    flow.connect("r48", "output", "r1", "input", {"value": "value"})
    return flow


def test_a_fifty_routine_flow() -> None:
    flow = fifty()
    lines = flow.to_mermaid().splitlines()
    nodes = [line for line in lines if re.fullmatch(r"    n\d+(\[|\().*", line)]
    assert len(nodes) == 50
    assert nodes[0] == '    n0(["source"]):::entry'
    assert nodes[1:49] == [f'    n{n}["r{n}"]' for n in range(1, 49)]
    assert nodes[49] == '    n49["sink"]'
    edges = [line for line in lines if " -" in line]
    assert edges[:49] == [f'    n{n} -->|"output -> input"| n{n + 1}' for n in range(49)]
    assert edges[49:53] == [f'    n{n} -->|"output -> input"| n49' for n in (10, 20, 30, 40)]
    assert edges[53:] == ['    n48 -.->|"output -> input (value as value)"| n1']
    dot = flow.to_dot().splitlines()
    assert len([line for line in dot if re.fullmatch(r"    n\d+ \[.*", line)]) == 50
    dot_edges = [line for line in dot if " -> n" in line]
    assert len(dot_edges) == 54
    assert dot_edges[-1] == (
        '    n48 -> n1 [label="output -> input (value as value)", style=dashed, constraint=false];'
    )


@pytest.mark.parametrize("direction", ["LR", "TB", "RL", "BT"])
def test_a_drawing_reads_in_the_direction_asked_and_nothing_else_changes(direction: str) -> None:
    flow = fifty()
    mermaid = flow.to_mermaid(direction=direction).splitlines()
    assert mermaid[0] == f"flowchart {direction}"
    assert mermaid[1:] == flow.to_mermaid().splitlines()[1:]
    dot = flow.to_dot(direction=direction).splitlines()
    assert dot[1] == f"    rankdir={direction};"
    assert dot[:1] + dot[2:] == [
        line for index, line in enumerate(flow.to_dot().splitlines()) if index != 1
    ]


@pytest.mark.parametrize("wrong", ["down", "lr", "", None, 3])
def test_a_direction_that_is_not_one_of_the_four_is_refused(wrong: Any) -> None:
    flow = fifty()
    for draw in (flow.to_mermaid, flow.to_dot):
        with pytest.raises(ConfigurationError, match="direction must be one of LR, TB, RL, BT"):
            draw(direction=wrong)


@needs_dot
def test_graphviz_draws_the_fifty_routine_flow_top_to_bottom() -> None:
    flow = fifty()
    nodes, edges = rendered(flow.to_dot(direction="TB"))
    assert (nodes, edges) == expected_rendering(flow)


@needs_dot
def test_graphviz_draws_the_fifty_routine_flow() -> None:
    flow = fifty()
    nodes, edges = rendered(flow.to_dot())
    assert len(nodes) == 50
    assert sum(edges.values()) == 54
    assert (nodes, edges) == expected_rendering(flow)


# -- threads, imports, docs ------------------------------------------------------------


def test_drawing_while_another_thread_wires_sees_whole_routines_and_connections() -> None:
    flow = Flow("busy")
    flow.add_routine(Source(), "source")
    done = threading.Event()
    failures: list[BaseException] = []

    def wire() -> None:
        try:
            previous = "source"
            for number in range(300):
                flow.add_routine(Relay(), f"r{number}")
                flow.connect(previous, "output", f"r{number}", "input")
                previous = f"r{number}"
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            done.set()

    wirer = threading.Thread(target=wire)
    wirer.start()
    drawings = 0
    while not done.is_set() or drawings == 0:
        nodes, edges = parse_mermaid(flow.to_mermaid())
        assert all(kind != "missing" for _, kind in nodes)
        assert len(edges) in (len(nodes) - 1, len(nodes) - 2)
        drawings += 1
    wirer.join(timeout=30)
    assert failures == []
    nodes, edges = parse_mermaid(flow.to_mermaid())
    assert (len(nodes), len(edges)) == (301, 300)


def test_the_drawing_module_does_not_import_the_engine() -> None:
    source = (ROOT / "routilux" / "_graphs.py").read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert not any(
        name.startswith(("routilux._engine", "routilux.runtimes")) for name in imported
    ), imported
    assert not any(name.startswith(("urllib", "http", "socket")) for name in imported)


def test_the_docs_build_without_graphviz_shows_the_dot_text(tmp_path: Path) -> None:
    """The guide's diagrams fall back to DOT text when dot is missing (the regular
    build in test_docs draws them when it is installed)."""
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
            "-D",
            "graphviz_dot=routilux-no-such-dot",
            "-d",
            str(tmp_path / "doctrees"),
            str(ROOT / "docs"),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=55,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr or completed.stdout
    page = (tmp_path / "html" / "guide" / "graphs.html").read_text(encoding="utf-8")
    # The guide's two flows and five of the tutorials', as DOT text, and no image.
    assert page.count('class="highlight-dot') == 7
    assert "<object" not in page
    text = html.unescape(re.sub(r"<[^>]*>", "", page))
    for flow_id in ("word_count", "crawler", "fan_out", "fan_in", "param_mapping", "tickets"):
        assert f'digraph "{flow_id}" {{' in text, flow_id
    # Drawn from the tutorial scripts themselves: the router's four desks.
    assert GOLDEN["advanced/step3_router.py"][2] in text

"""Drawing a flow's graph as text: Mermaid and Graphviz DOT (:meth:`Flow.to_mermaid`,
:meth:`Flow.to_dot`).

A drawing has one node per routine, in the order the routines were added, and one edge
per connection of ``flow.connections``, in the order they were made (connecting an
event and a slot again keeps the connection's place). Nodes get generated names
(``n0``, ``n1``, ...) and show the routine id as their label, so that no id can break
the syntax. An edge is labelled ``event -> slot``, followed by the connection's
``param_mapping`` as ``(source as target, ...)`` when it has one.

Entry routines, those with a ``trigger`` slot (the routines ``Flow.execute`` can start
a job at), are drawn with a double border (DOT) or as a stadium (Mermaid). A routine a
connection names but the flow no longer holds gets a dashed node after the others.

Every cycle keeps all its edges, and at least one of them is dashed: the edges a
depth-first walk finds closing a loop (from the entry routines first, then the others,
in insertion order; each routine's connections in connection order). Removing the
dashed edges leaves a graph without cycles, which DOT is told to lay out.

Nothing here imports the engine: a drawing reads the flow's wiring only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import attrs

from routilux.exceptions import ConfigurationError

__all__ = ["flow_to_dot", "flow_to_mermaid"]


class Flow(Protocol):
    """What a drawing reads of a flow (the model's ``Flow``; named by this protocol so
    that the flow module, which imports this one, is not imported back)."""

    @property
    def flow_id(self) -> str: ...

    @property
    def routines(self) -> Mapping[str, Any]: ...

    @property
    def connections(self) -> Sequence[Any]: ...

    @property
    def _lock(self) -> AbstractContextManager[Any]: ...


#: The slot ``Flow.execute`` delivers the entry parameters to.
ENTRY_SLOT = "trigger"

#: What a missing event or slot name (a connection without both ends) is shown as.
_UNKNOWN = "?"


@attrs.frozen
class _Node:
    routine_id: str | None
    entry: bool
    #: Named by a connection, but not a routine of the flow.
    missing: bool


@attrs.frozen
class _Edge:
    source: int
    target: int
    event: str
    slot: str
    mapping: tuple[tuple[str, str], ...]
    #: Found closing a cycle by the depth-first walk (drawn dashed).
    closes_cycle: bool = False


@attrs.frozen
class _Graph:
    name: str
    nodes: tuple[_Node, ...]
    edges: tuple[_Edge, ...]


def _graph(flow: Flow) -> _Graph:
    """A snapshot of ``flow``'s wiring, taken under its lock (see the module docs)."""
    with flow._lock:
        routines = [
            (routine_id, routine.get_slot(ENTRY_SLOT) is not None)
            for routine_id, routine in flow.routines.items()
        ]
        wires = [
            (
                connection.source_routine_id,
                _UNKNOWN if connection.source_event is None else connection.source_event.name,
                connection.target_routine_id,
                _UNKNOWN if connection.target_slot is None else connection.target_slot.name,
                tuple(connection.param_mapping.items()),
            )
            for connection in flow.connections
        ]
    nodes = [_Node(routine_id, entry, False) for routine_id, entry in routines]
    index: dict[str | None, int] = {node.routine_id: number for number, node in enumerate(nodes)}

    def node(routine_id: str | None) -> int:
        if routine_id not in index:
            index[routine_id] = len(nodes)
            nodes.append(_Node(routine_id, False, True))
        return index[routine_id]

    edges = [
        _Edge(node(source), node(target), event, slot, mapping)
        for source, event, target, slot, mapping in wires
    ]
    closing = _closing_edges(len(nodes), edges, [n for n, node in enumerate(nodes) if node.entry])
    edges = [attrs.evolve(edge, closes_cycle=n in closing) for n, edge in enumerate(edges)]
    return _Graph(flow.flow_id, tuple(nodes), tuple(edges))


def _closing_edges(count: int, edges: list[_Edge], entries: list[int]) -> set[int]:
    """The indexes of the edges a depth-first walk finds closing a cycle (edges to a
    node on the walk's path): from ``entries`` first, then every node, in order.
    Iterative, so that long chains need no deep recursion."""
    outgoing: list[list[int]] = [[] for _ in range(count)]
    for number, edge in enumerate(edges):
        outgoing[edge.source].append(number)
    new, on_path, done = 0, 1, 2
    state = [new] * count
    closing: set[int] = set()
    for root in [*entries, *range(count)]:
        if state[root] != new:
            continue
        state[root] = on_path
        path = [(root, 0)]
        while path:
            node, position = path[-1]
            if position == len(outgoing[node]):
                state[node] = done
                path.pop()
                continue
            path[-1] = (node, position + 1)
            number = outgoing[node][position]
            target = edges[number].target
            if state[target] == on_path:
                closing.add(number)
            elif state[target] == new:
                state[target] = on_path
                path.append((target, 0))
    return closing


def _visible(text: str) -> str:
    """``text`` with each unprintable character (newline, tab, control and format
    characters, lone surrogates...) written as its Python escape (``\\n``,
    ``\\x00``, ``\\u2028``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _label(edge: _Edge, text: Callable[[str], str]) -> str:
    """An edge's label, its names passed through ``text`` (the arrow and the mapping's
    punctuation are the drawing's own)."""
    label = f"{text(edge.event)} -> {text(edge.slot)}"
    if edge.mapping:
        pairs = ", ".join(f"{text(source)} as {text(target)}" for source, target in edge.mapping)
        label += f" ({pairs})"
    return label


def _node_name(node: _Node) -> str:
    return _UNKNOWN if node.routine_id is None else node.routine_id


# -- Mermaid ----------------------------------------------------------------------------

#: Characters a Mermaid label shows as they are (besides letters and digits); every
#: other one is written as an entity code, ``#<decimal>;``. Not ``:``: before parsing,
#: Mermaid drops the last ``;`` of any line matching ``style.*:\S*#.*;`` or
#: ``classDef.*:\S*#.*;`` (its own style syntax), which would break the entity code
#: that ends such a label (``style:#1`` would show as ``style:#351``). With ``:``
#: written as ``#58;``, the only colons of a line are the ``:::entry`` at its end.
_MERMAID_PLAIN = frozenset(" _-.,/()+=@!?*")


def mermaid_text(text: str) -> str:
    """``text`` for a double-quoted Mermaid label: letters, digits and
    ``_MERMAID_PLAIN`` as they are, anything else (quotes, ``#``, ``;``, ``:``,
    ``<``, ``>``, ``|``, backticks...) as ``#<decimal>;``, unprintable characters as
    Python escapes first."""
    return "".join(
        c if c.isalnum() or c in _MERMAID_PLAIN else f"#{ord(c)};" for c in _visible(text)
    )


#: The directions a drawing may read in: left to right, top to bottom, and reversed.
DIRECTIONS = ("LR", "TB", "RL", "BT")


def check_direction(method: str, direction: Any) -> str:
    """``direction`` if it is one of :data:`DIRECTIONS`.

    Raises:
        ConfigurationError: it is not, naming ``method`` and what was given.
    """
    if not isinstance(direction, str) or direction not in DIRECTIONS:
        raise ConfigurationError(
            f"Flow.{method}: direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}"
        )
    return direction


def flow_to_mermaid(flow: Flow, direction: str = "LR") -> str:
    """The Mermaid ``flowchart`` text of ``flow`` (see :meth:`Flow.to_mermaid`)."""
    check_direction("to_mermaid", direction)
    graph = _graph(flow)
    lines = [f"flowchart {direction}"]
    for number, node in enumerate(graph.nodes):
        label = mermaid_text(_node_name(node))
        if node.entry:
            lines.append(f'    n{number}(["{label}"]):::entry')
        elif node.missing:
            lines.append(f'    n{number}["{label}"]:::missing')
        else:
            lines.append(f'    n{number}["{label}"]')
    for edge in graph.edges:
        arrow = "-.->" if edge.closes_cycle else "-->"
        label = _label(edge, mermaid_text)
        lines.append(f'    n{edge.source} {arrow}|"{label}"| n{edge.target}')
    lines.extend(_classes(graph.nodes))
    return "\n".join(lines) + "\n"


def _classes(nodes: Iterable[_Node]) -> list[str]:
    kinds = {("entry" if node.entry else "missing") for node in nodes if node.entry or node.missing}
    lines = []
    if "entry" in kinds:
        lines.append("    classDef entry stroke-width:3px")
    if "missing" in kinds:
        lines.append("    classDef missing stroke-dasharray:5 5")
    return lines


# -- Graphviz DOT -----------------------------------------------------------------------


def dot_text(text: str) -> str:
    """``text`` for a double-quoted DOT string: ``\\`` and ``"`` escaped with a
    backslash, ``&`` as ``&amp;`` (Graphviz reads entities in labels), unprintable
    characters as Python escapes first (so a label stays on one line)."""
    return _visible(text).replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")


def flow_to_dot(flow: Flow, direction: str = "LR") -> str:
    """The Graphviz ``digraph`` text of ``flow`` (see :meth:`Flow.to_dot`)."""
    check_direction("to_dot", direction)
    graph = _graph(flow)
    lines = [
        f'digraph "{dot_text(graph.name)}" {{',
        f"    rankdir={direction};",
        "    node [shape=box, style=rounded];",
    ]
    for number, node in enumerate(graph.nodes):
        attributes = f'label="{dot_text(_node_name(node))}"'
        if node.entry:
            attributes += ", peripheries=2"
        elif node.missing:
            attributes += ', style="rounded,dashed"'
        lines.append(f"    n{number} [{attributes}];")
    for edge in graph.edges:
        attributes = f'label="{_label(edge, dot_text)}"'
        if edge.closes_cycle:
            attributes += ", style=dashed, constraint=false"
        lines.append(f"    n{edge.source} -> n{edge.target} [{attributes}];")
    lines.append("}")
    return "\n".join(lines) + "\n"

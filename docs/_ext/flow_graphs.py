"""``.. flow-graph:: script.py`` with ``:flow: flow_id``: the diagram of a flow that a
tutorial script prints with ``Flow.to_dot()``, drawn when the docs are built.

The directive runs the script (a new Python process, with the repository first on its
path) and takes the ``digraph "flow_id" { ... }`` block of what it prints. When
Graphviz's ``dot`` (the ``graphviz_dot`` setting) is installed the block becomes a
``sphinx.ext.graphviz`` diagram, which runs ``dot`` locally; otherwise it is shown as
DOT text, so that the build works (and warns about nothing) either way. Nothing is
fetched from anywhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.ext.graphviz import Graphviz
from sphinx.util.typing import OptionSpec

ROOT = Path(__file__).resolve().parents[2]


def printed_dot(script: Path, flow_id: str) -> str:
    """The ``digraph`` block for ``flow_id`` among what ``script`` prints.

    Raises:
        ValueError: the script failed, or printed no such block.
    """
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [environment.get("PYTHONPATH")])]
    )
    completed = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=script.parent,
        check=False,
        env=environment,
    )
    if completed.returncode != 0:
        raise ValueError(f"{script} failed:\n{completed.stderr}")
    quoted = flow_id.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")
    lines = completed.stdout.splitlines()
    head = f'digraph "{quoted}" {{'
    if head not in lines:
        raise ValueError(f"{script} prints no {head} ... }} block")
    start = lines.index(head)
    end = lines.index("}", start)
    return "\n".join(lines[start : end + 1]) + "\n"


class FlowGraph(Graphviz):
    """A flow a tutorial script draws (see the module documentation)."""

    has_content = False
    required_arguments = 1
    optional_arguments = 0
    option_spec: ClassVar[OptionSpec] = {
        **Graphviz.option_spec,
        "flow": directives.unchanged_required,
    }

    def run(self) -> list[nodes.Node]:
        relative, absolute = self.env.relfn2path(self.arguments[0])
        self.env.note_dependency(relative)
        if "flow" not in self.options:
            raise self.error("flow-graph needs a :flow: option (the flow's id)")
        try:
            dot = printed_dot(Path(absolute), self.options["flow"])
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            raise self.error(f"flow-graph: {exc}") from exc
        if shutil.which(self.config.graphviz_dot) is None:
            block = nodes.literal_block(dot, dot)
            block["language"] = "dot"
            return [block]
        self.arguments.clear()  # the DOT text is the content, not a file
        self.content = StringList(dot.splitlines(), source=absolute)
        return super().run()


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.graphviz")
    app.add_directive("flow-graph", FlowGraph)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

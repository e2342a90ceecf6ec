"""``.. flow-graph:: script.py`` with ``:flow: flow_id``: the diagram of a flow that a
tutorial script builds, drawn with ``Flow.to_dot()`` when the docs are built.

The directive runs the script (a new Python process, in the script's folder, with the
repository first on its path, what it prints thrown away) and draws the first
:class:`~routilux.Flow` of that id among the script's module-level names, as it is when
the script ends. When Graphviz's ``dot`` (the ``graphviz_dot`` setting) is installed
the DOT text becomes a ``sphinx.ext.graphviz`` diagram, which runs ``dot`` locally;
otherwise it is shown as DOT text, so that the build works (and warns about nothing)
either way. Nothing is fetched from anywhere.
"""

from __future__ import annotations

import json
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

#: Run in the new process: ``script`` as ``python script`` would run it (its folder is
#: the working directory and ``sys.path[0]``), then the drawings of its flow.
_DRAW = """
import contextlib, io, json, runpy, sys
from routilux import Flow

script, flow_id = sys.argv[1:]
sys.argv = [script]
with contextlib.redirect_stdout(io.StringIO()):
    names = runpy.run_path(script, run_name="__main__")
flows = [v for v in names.values() if isinstance(v, Flow) and v.flow_id == flow_id]
if not flows:
    built = sorted({v.flow_id for v in names.values() if isinstance(v, Flow)})
    sys.exit(f"{script} has no flow {flow_id!r} among its module-level names: {built}")
print(json.dumps({"mermaid": flows[0].to_mermaid(), "dot": flows[0].to_dot()}))
"""


def flow_drawings(script: Path, flow_id: str) -> dict[str, str]:
    """``{"mermaid": ..., "dot": ...}``: the drawings of the flow ``flow_id`` that
    ``script`` builds (see the module documentation).

    Raises:
        ValueError: the script failed, or has no such flow.
    """
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [environment.get("PYTHONPATH")])]
    )
    completed = subprocess.run(
        [sys.executable, "-c", _DRAW, str(script), flow_id],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=script.parent,
        check=False,
        env=environment,
    )
    if completed.returncode != 0:
        raise ValueError(f"{script} failed:\n{completed.stderr}")
    drawings: dict[str, str] = json.loads(completed.stdout)
    return drawings


class FlowGraph(Graphviz):
    """A flow a tutorial script builds (see the module documentation)."""

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
            dot = flow_drawings(Path(absolute), self.options["flow"])["dot"]
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

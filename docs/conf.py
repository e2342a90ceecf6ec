"""Sphinx configuration for the Routilux documentation."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))

import routilux

project = "Routilux"
author = "The Routilux team"
copyright = "2026, The Routilux team"
version = release = routilux.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    # Flow diagrams drawn at build time by the local Graphviz, shown as DOT text
    # without it (docs/_ext/flow_graphs.py).
    "sphinx.ext.graphviz",
    "flow_graphs",
    "sphinx_copybutton",
]

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
graphviz_output_format = "svg"

html_theme = "furo"
html_title = f"Routilux {release}"
html_theme_options = {
    "source_repository": "https://github.com/routilux/routilux/",
    "source_branch": "main",
    "source_directory": "docs/",
}
html_static_path = ["_static"]
html_css_files = ["routilux.css"]
exclude_patterns = ["_build"]

# The copy button: on code, not on what a script prints (the blocks marked
# ``:class: output``, compared with the tutorials by tests/test_docs.py). Prompts and
# line numbers are left out of what is copied, and so are the output lines of a
# console session.
copybutton_selector = "div:not(.output) > div.highlight pre"
copybutton_exclude = ".linenos, .gp, .go"
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True


def _resolve_public_name(app, env, node, contnode):  # type: ignore[no-untyped-def]
    """Let ``routilux.Flow`` and ``Flow.execute`` (the names users import) link to
    ``routilux.flow.Flow`` and its members (where autodoc documents them)."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py":
        return None
    name, dot, rest = target.removeprefix("routilux.").partition(".")
    if name not in routilux.__all__:
        return None
    module = getattr(getattr(routilux, name), "__module__", None)
    if not module:
        return None
    canonical = f"{module}.{name}{dot}{rest}"
    return env.get_domain("py").resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], canonical, node, contnode
    )


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("missing-reference", _resolve_public_name)

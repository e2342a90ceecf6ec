"""TextRenderer: renders nested data as XML-like tags or Markdown."""

from __future__ import annotations

from typing import Any

from routilux.routine import Routine

__all__ = ["TextRenderer"]


class TextRenderer(Routine):
    """Renders a value as text.

    Slot ``input``; event ``output`` with ``rendered_text`` and ``original_type`` (the
    input's type name).

    Config: ``tag_format`` (``"xml"``; anything else renders Markdown), ``indent``
    (``"  "``), ``include_type_hints`` (False; kept for compatibility, unused).

    A dict gives one line per key (``<key>value</key>`` or ``**key**: value``), a list
    one line per item (``<item_0>value</item_0>`` or ``- value``); nested values are
    rendered inline one level deeper; empty containers give ``""``; a cycle renders as
    ``"[Circular Reference]"``. The input is picked as by
    :meth:`Routine._extract_input_data` (a payload with one key gives its value).
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(tag_format="xml", indent="  ", include_type_hints=False)
        self.input_slot = self.define_slot("input", handler=self.render)
        self.output_event = self.define_event("output", ["rendered_text", "original_type"])

    def render(self, data: Any = None, **kwargs: Any) -> None:
        """The ``input`` handler: emit the delivery rendered as text."""
        value = self._extract_input_data(data, **kwargs)
        self.emit(
            "output",
            rendered_text=self.render_value(value),
            original_type=type(value).__name__,
        )

    def render_value(self, value: Any, level: int = 0, path: tuple[int, ...] = ()) -> str:
        """``value`` rendered at indentation ``level``."""
        if isinstance(value, (dict, list, tuple)):
            if id(value) in path:
                return "[Circular Reference]"
            path = (*path, id(value))
        xml = self.get_config("tag_format", "xml") == "xml"
        pad = str(self.get_config("indent", "  ")) * level
        if isinstance(value, dict):
            lines = []
            for key, item in value.items():
                inner = self.render_value(item, level + 1, path)
                lines.append(f"{pad}<{key}>{inner}</{key}>" if xml else f"{pad}**{key}**: {inner}")
            return "\n".join(lines)
        if isinstance(value, (list, tuple)):
            lines = []
            for index, item in enumerate(value):
                inner = self.render_value(item, level + 1, path)
                lines.append(
                    f"{pad}<item_{index}>{inner}</item_{index}>" if xml else f"{pad}- {inner}"
                )
            return "\n".join(lines)
        return str(value)

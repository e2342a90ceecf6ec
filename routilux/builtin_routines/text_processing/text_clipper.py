"""TextClipper: shortens long text by whole lines."""

from __future__ import annotations

from typing import Any

from routilux.builtin_routines._inputs import payload
from routilux.routine import Routine

__all__ = ["TextClipper"]

_TEXT_KEYS = ("text", "content", "message", "data")


class TextClipper(Routine):
    """Clips text to at most ``max_length`` characters, keeping whole lines.

    Slot ``input`` (handler arguments ``text``, ``max_length``, or any payload); event
    ``output`` with ``clipped_text``, ``was_clipped`` and ``original_length``.

    Config: ``max_length`` (1000), ``preserve_tracebacks`` (True: text containing
    ``"Traceback"`` is never clipped), ``truncation_message``
    (``"...(省略了{remaining}行)"``, formatted with the number of dropped lines).

    Lines are kept while the kept text plus the next line and its newline stay
    strictly below the limit; the message follows on its own line. A dict payload is
    searched for a string under ``text``, ``content``, ``message`` or ``data``, then
    for any string value; other values are converted with ``str``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(
            max_length=1000,
            preserve_tracebacks=True,
            truncation_message="...(省略了{remaining}行)",
        )
        self.input_slot = self.define_slot("input", handler=self.clip)
        self.output_event = self.define_event(
            "output", ["clipped_text", "was_clipped", "original_length"]
        )

    def clip(self, text: Any = None, max_length: int | None = None, **kwargs: Any) -> None:
        """The ``input`` handler: emit the text clipped to ``max_length``."""
        source = _as_text(payload(text, kwargs))
        limit = max_length or self.get_config("max_length", 1000)
        clipped, was_clipped = self.clip_text(source, limit)
        self.emit(
            "output",
            clipped_text=clipped,
            was_clipped=was_clipped,
            original_length=len(source),
        )

    def clip_text(self, text: str, limit: int) -> tuple[str, bool]:
        """``(clipped text, whether it was clipped)`` for ``text`` and ``limit``."""
        if self.get_config("preserve_tracebacks", True) and "Traceback" in text:
            return text, False
        if len(text) <= limit:
            return text, False
        lines = text.split("\n")
        kept: list[str] = []
        count = 0
        for line in lines:
            if count + len(line) + 1 < limit:
                kept.append(line)
                count += len(line) + 1
            else:
                break
        message = str(self.get_config("truncation_message", "...({remaining})")).format(
            remaining=len(lines) - len(kept)
        )
        return "\n".join(kept) + "\n" + message, True


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in _TEXT_KEYS:
            if isinstance(value.get(key), str):
                return value[key]  # type: ignore[no-any-return]
        for item in value.values():
            if isinstance(item, str):
                return item
        return str(value)
    return str(value)

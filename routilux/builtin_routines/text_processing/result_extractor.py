"""ResultExtractor: pulls structured results out of tool or model output."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from routilux.routine import Routine

__all__ = ["ResultExtractor"]

logger = logging.getLogger("routilux")

Extraction = tuple[Any, str, dict[str, Any]]
Extractor = Callable[[Any, dict[str, Any]], Extraction | None]

try:  # PyYAML is optional: the YAML extractors exist only when it is installed.
    import yaml as _yaml  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - depends on the environment
    _yaml = None


def _fenced_blocks(text: str, language: str) -> list[str]:
    """The blocks fenced as ```` ```lang ```` or ```` ```{lang} ````, in text order."""
    name = re.escape(language)
    pattern = rf"```(?:{name}|\{{{name}\}})\s*\n(.*?)```"
    return re.findall(pattern, text, flags=re.IGNORECASE | re.DOTALL)


def _interpreter_output(data: Any, config: dict[str, Any]) -> Extraction | None:
    """The non-blank ``content`` of ``{"format": "output"}`` items and the non-blank
    strings of a list, one per line; only for lists holding a dict with ``format`` or
    ``content`` and at least one such line (as 0.9)."""
    if not isinstance(data, list) or not config.get("format_interpreter_output", True):
        return None
    shaped = False
    lines = []
    for item in data:
        if isinstance(item, dict):
            if "format" in item or "content" in item:
                shaped = True
                content = item.get("content")
                if item.get("format") == "output" and content and str(content).strip():
                    lines.append(str(content))
        elif isinstance(item, str) and item.strip():
            lines.append(item)
    if not (shaped and lines):
        return None
    metadata = {
        "extraction_method": "interpreter_output",
        "output_count": len(lines),
        "line_count": len(lines),
    }
    return "\n".join(lines), "interpreter_output", metadata


def _json_code_block(data: Any, config: dict[str, Any]) -> Extraction | None:
    if not isinstance(data, str) or not config.get("extract_json_blocks", True):
        return None
    blocks = _fenced_blocks(data, "json")
    for index in range(len(blocks) - 1, -1, -1):
        try:
            value = json.loads(blocks[index])
        except ValueError:
            continue
        return (
            value,
            "json",
            {
                "extraction_method": "json_code_block",
                "block_count": len(blocks),
                "block_index": index,
            },
        )
    return None


def _json_string(data: Any, config: dict[str, Any]) -> Extraction | None:
    if not isinstance(data, str) or not config.get("parse_json_strings", True):
        return None
    text = data.strip()
    if len(text) <= 2 or text[0] not in "{[":
        return None
    try:
        return json.loads(text), "json", {"extraction_method": "json_string"}
    except ValueError:
        return None


def _yaml_code_block(data: Any, config: dict[str, Any]) -> Extraction | None:
    if _yaml is None or not isinstance(data, str) or not config.get("extract_yaml_blocks"):
        return None
    blocks = _fenced_blocks(data, "yaml") or _fenced_blocks(data, "yml")
    for index in range(len(blocks) - 1, -1, -1):
        try:
            value = _yaml.safe_load(blocks[index])
        except Exception:
            continue
        metadata = {
            "extraction_method": "yaml_code_block",
            "block_count": len(blocks),
            "block_index": index,
        }
        return value, "yaml", metadata
    return None


def _yaml_string(data: Any, config: dict[str, Any]) -> Extraction | None:
    if _yaml is None or not isinstance(data, str) or not config.get("parse_yaml_strings"):
        return None
    try:
        value = _yaml.safe_load(data)
    except Exception:
        return None
    if isinstance(value, (dict, list)):
        return value, "yaml", {"extraction_method": "yaml_string"}
    return None


def _xml_code_block(data: Any, config: dict[str, Any]) -> Extraction | None:
    if not isinstance(data, str) or not config.get("extract_xml_blocks"):
        return None
    blocks = _fenced_blocks(data, "xml")
    if not blocks:
        return None
    return blocks[-1], "xml", {"extraction_method": "xml_code_block", "block_count": len(blocks)}


def _code_block(data: Any, config: dict[str, Any]) -> Extraction | None:
    if not isinstance(data, str) or not config.get("extract_code_blocks", True):
        return None
    for language in config.get("code_block_languages", []):
        if language == "json":
            continue
        blocks = _fenced_blocks(data, language)
        if blocks:
            metadata = {"extraction_method": f"{language}_code_block", "block_count": len(blocks)}
            return blocks[-1], language, metadata
    return None


def _dict_extractor(data: Any, config: dict[str, Any]) -> Extraction | None:
    if isinstance(data, dict):
        return data, "dict", {"extraction_method": "direct", "key_count": len(data)}
    return None


def _list_extractor(data: Any, config: dict[str, Any]) -> Extraction | None:
    if isinstance(data, list):
        return data, "list", {"extraction_method": "direct", "item_count": len(data)}
    return None


# (name, extractor), in the default order; custom extractors come after these.
_BUILTIN_EXTRACTORS: list[tuple[str, Extractor]] = [
    ("interpreter_output", _interpreter_output),
    ("json_code_block", _json_code_block),
    ("json_string", _json_string),
    ("yaml_code_block", _yaml_code_block),
    ("yaml_string", _yaml_string),
    ("xml_code_block", _xml_code_block),
    ("code_block", _code_block),
    ("dict_extractor", _dict_extractor),
    ("list_extractor", _list_extractor),
]
if _yaml is None:
    _BUILTIN_EXTRACTORS = [e for e in _BUILTIN_EXTRACTORS if not e[0].startswith("yaml")]


class ResultExtractor(Routine):
    """Extracts a structured result from text, code blocks or tool output.

    Slot ``input``; event ``output`` with ``extracted_result``, ``format``,
    ``metadata``, ``confidence`` and ``extraction_path``.

    Extractors are tried in order: ``interpreter_output`` (lists of dicts with
    ``format``/``content``), ``json_code_block`` (the last parseable fenced JSON block),
    ``json_string``, ``yaml_code_block`` and ``yaml_string`` (only if PyYAML is
    installed, and only when enabled), ``xml_code_block`` (when enabled),
    ``code_block`` (the last block of the first configured language found),
    ``dict_extractor``, ``list_extractor``, then custom extractors added with
    :meth:`register_extractor`. ``extractor_priority`` lists names to try first.

    Strategies (config ``strategy``): ``"auto"``, ``"priority"`` and ``"first_match"``
    return the first success; ``"all"`` returns every success (format ``"multi"``);
    any other value returns the most confident. Confidence starts at 0.5: +0.2 for a
    dict or list, +0.1 for a code block, +0.1 for JSON or YAML, -0.3 for an empty
    value, clamped to [0, 1]. When nothing matches, the original value is returned
    with confidence 0 (``return_original_on_failure``), or a ``ValueError`` is raised.

    Custom extractors are kept in the config (``custom_extractors``) and are saved
    with the flow by name, so they must be registered functions
    (:func:`~routilux.register_serializable`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(
            strategy="auto",
            extractor_priority=[],
            extract_json_blocks=True,
            extract_code_blocks=True,
            extract_yaml_blocks=False,
            extract_xml_blocks=False,
            code_block_languages=["json", "python", "output", "yaml", "xml"],
            format_interpreter_output=True,
            parse_json_strings=True,
            parse_yaml_strings=False,
            detect_nested_structures=True,
            continue_on_error=True,
            return_original_on_failure=True,
            log_errors=True,
        )
        self.input_slot = self.define_slot("input", handler=self.extract)
        self.output_event = self.define_event(
            "output",
            ["extracted_result", "format", "metadata", "confidence", "extraction_path"],
        )

    def register_extractor(self, name: str, extractor: Extractor) -> None:
        """Add (or replace) an extractor ``extractor(data, config) -> (value, format,
        metadata) | None``; it runs after the builtin ones unless listed in
        ``extractor_priority``."""
        custom = dict(self.get_config("custom_extractors") or {})
        custom[name] = extractor
        self.set_config(custom_extractors=custom)

    def _extractors(self) -> list[tuple[str, Extractor]]:
        extractors = list(_BUILTIN_EXTRACTORS)
        builtin_names = {name for name, _ in extractors}
        for name, extractor in (self.get_config("custom_extractors") or {}).items():
            if name in builtin_names:
                extractors = [(n, extractor if n == name else e) for n, e in extractors]
            else:
                extractors.append((name, extractor))
        priority = list(self.get_config("extractor_priority") or [])
        if priority:
            by_name = dict(extractors)
            first = [(name, by_name[name]) for name in priority if name in by_name]
            extractors = first + [(n, e) for n, e in extractors if n not in priority]
        return extractors

    def extract(self, data: Any = None, **kwargs: Any) -> None:
        """The ``input`` handler: emit what :meth:`extract_value` finds."""
        value = self._extract_input_data(data, **kwargs)
        if value == {}:
            value = ""
        result = self.extract_value(value)
        self.emit("output", **result)

    def extract_value(self, value: Any) -> dict[str, Any]:
        """The ``output`` fields for ``value``."""
        config = self.config()
        strategy = config.get("strategy", "auto")
        found: list[dict[str, Any]] = []
        errors: list[dict[str, str]] = []
        for name, extractor in self._extractors():
            try:
                extraction = extractor(value, config)
            except Exception as exc:
                message = f"Extractor '{name}' failed: {exc}"
                errors.append({"extractor": name, "error": message})
                if config.get("log_errors", True):
                    logger.warning(message)
                if not config.get("continue_on_error", True):
                    break
                continue
            if extraction is None:
                continue
            found.append(self._result(name, extraction, strategy))
            if strategy in ("auto", "priority", "first_match"):
                return found[0]
        if found:
            if strategy == "all":
                return {
                    "extracted_result": [r["extracted_result"] for r in found],
                    "format": "multi",
                    "metadata": {
                        "extractions": found,
                        "count": len(found),
                        "errors": errors,
                    },
                    "confidence": max(r["confidence"] for r in found),
                    "extraction_path": [r["extraction_path"][0] for r in found],
                }
            return max(found, key=lambda r: r["confidence"])
        if not config.get("return_original_on_failure", True):
            raise ValueError(f"All extractors failed. Errors: {errors}")
        return {
            "extracted_result": value,
            "format": type(value).__name__.lower(),
            "metadata": {
                "extraction_method": "none",
                "errors": errors,
                "original_type": type(value).__name__,
            },
            "confidence": 0.0,
            "extraction_path": [],
        }

    @staticmethod
    def _result(name: str, extraction: Extraction, strategy: str) -> dict[str, Any]:
        value, form, metadata = extraction
        metadata = {**metadata, "extractor": name, "strategy": strategy}
        confidence = 0.5
        if isinstance(value, (dict, list)):
            confidence += 0.2
        if "code_block" in str(metadata.get("extraction_method", "")):
            confidence += 0.1
        if form in ("json", "yaml"):
            confidence += 0.1
        if not value or (isinstance(value, str) and not value.strip()):
            confidence -= 0.3
        return {
            "extracted_result": value,
            "format": form,
            "metadata": metadata,
            "confidence": round(min(1.0, max(0.0, confidence)), 10),
            "extraction_path": [name],
        }

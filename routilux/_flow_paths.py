"""Finding a flow by import path (``MODULE:FLOW``), for workers and the command line.

Every failure raises :class:`~routilux.exceptions.ConfigurationError` with one line
that names the module, the attribute or what was found instead.
"""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING, Any

from routilux.exceptions import ConfigurationError

if TYPE_CHECKING:
    from routilux.flow import Flow

__all__ = ["flow_from_path", "import_module_named"]

#: How much of a malformed path an error message quotes.
_QUOTE_WIDTH = 80

_MISSING = object()


def _quote(text: str) -> str:
    return repr(text) if len(text) <= _QUOTE_WIDTH else repr(text[: _QUOTE_WIDTH - 3]) + "..."


def import_module_named(name: str) -> Any:
    """Import module ``name``.

    Raises:
        ConfigurationError: it is missing, or its own code raised (or exited) while it
            was imported.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (name == missing or name.startswith(missing + ".")):
            raise ConfigurationError(
                f"cannot import {name!r}: no module named {missing!r}"
            ) from None
        raise ConfigurationError(f"cannot import {name!r}: ModuleNotFoundError: {exc}") from None
    except (Exception, SystemExit) as exc:  # the module's own code raised (or exited)
        raise ConfigurationError(f"cannot import {name!r}: {type(exc).__name__}: {exc}") from None


def _attribute(found: Any, part: str, where: str) -> Any:
    """``found.part``, or a ConfigurationError naming ``where`` and the missing
    attribute (with the nearest names ``found`` has, if some are close)."""
    value = getattr(found, part, _MISSING)
    if value is not _MISSING:
        return value
    names = [name for name in dir(found) if not name.startswith("_")]
    close = difflib.get_close_matches(part, names, n=3, cutoff=0.75)
    hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
    raise ConfigurationError(f"{where} has no attribute {part!r}{hint}")


def flow_from_path(path: str) -> Flow:
    """The flow named by ``"package.module:name"`` (``name`` may be dotted): a Flow, or
    a function (or class) that returns one when called with no arguments.

    Raises:
        ConfigurationError: the path is malformed, the module cannot be imported, the
            attribute is missing, calling it raised, or it is not (and does not
            return) a Flow.
    """
    from routilux.flow import Flow

    if not isinstance(path, str):
        raise ConfigurationError(f"a flow path must be a str, not {type(path).__name__}")
    module_name, colon, attribute = path.partition(":")
    if not colon or not module_name or not attribute or any(not p for p in attribute.split(".")):
        raise ConfigurationError(f"the flow must be MODULE:FLOW or a FILE.json, not {_quote(path)}")
    found = import_module_named(module_name)
    walked: list[str] = []
    for part in attribute.split("."):
        where = f"{module_name}:{'.'.join(walked)}" if walked else f"module {module_name!r}"
        found = _attribute(found, part, where)
        walked.append(part)
    if isinstance(found, Flow):
        return found
    if not callable(found):
        raise ConfigurationError(
            f"{path} is {type(found).__name__}, not a Flow (nor a function returning one)"
        )
    try:
        made = found()
    except (Exception, SystemExit) as exc:  # the function making the flow raised
        raise ConfigurationError(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(made, Flow):
        raise ConfigurationError(f"{path}() returned {type(made).__name__}, not a Flow")
    return made

"""Where the serialize and deserialize methods of the model and the record find the
code that writes and reads their documents.

The document modules (:mod:`routilux._component_documents`,
:mod:`routilux._job_document`) know the classes they write; the classes must not know
them back, or the model and the documents would import each other. So each document
module registers its two functions per kind here when it is imported (the package's
``__init__`` imports them, and every ``import routilux.x`` runs it first), and the
methods look them up by kind. Registration happens at import time only; lookups need
no lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["from_document", "register", "to_document"]

T = TypeVar("T")

_writers: dict[str, Callable[[Any], dict[str, Any]]] = {}
_readers: dict[str, Callable[[Any, Any, Any], Any]] = {}


def register(
    kind: str,
    write: Callable[[Any], dict[str, Any]],
    read: Callable[[Any, Any, Any], Any],
) -> None:
    """Make ``write(obj)`` and ``read(cls, instance or None, data)`` the document code of
    ``kind`` (``"slot"``, ``"job"``, ...)."""
    _writers[kind] = write
    _readers[kind] = read


def to_document(kind: str, obj: object) -> dict[str, Any]:
    """The document of ``obj``, a ``kind``."""
    return _writers[kind](obj)


def from_document(kind: str, cls: type[T], instance: T | None, data: Any) -> T:
    """``instance`` filled from ``data`` (a new ``cls`` when it is None)."""
    result: T = _readers[kind](cls, instance, data)
    return result

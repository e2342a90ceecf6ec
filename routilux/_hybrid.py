"""``hybridmethod``: one name that works on the class and on an instance."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["hybridmethod"]

R = TypeVar("R")


class hybridmethod(Generic[R]):
    """Calls ``func(cls, instance_or_None, *args)``: ``C.m(x)`` passes None,
    ``c.m(x)`` passes ``c``."""

    def __init__(self, func: Callable[..., R]) -> None:
        self.func = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    def __get__(self, instance: Any, owner: type | None = None) -> Callable[..., R]:
        cls = owner if owner is not None else type(instance)
        return functools.partial(self.func, cls, instance)

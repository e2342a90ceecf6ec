"""Where a flow records its jobs.

- :class:`MemoryStore` (the default): unfinished jobs in this process's memory.
- :class:`SQLiteStore`: one SQLite file; jobs are checkpointed as they run, so that
  after the process dies a new one can continue them with ``Flow.recover``.

Pass a store to ``Flow(..., store=...)``. To write a store of your own, subclass
:class:`JobStore` (and, to checkpoint running jobs, return a :class:`Checkpointer`);
:mod:`routilux.documents` turns jobs into JSON and back, and :func:`check_id` checks
ids with the built-in stores' messages.

:class:`RedisStore` (jobs in Redis) needs the ``routilux[redis]`` extra; it is imported
from here on first use.
"""

from typing import TYPE_CHECKING, Any

from routilux.stores.base import Checkpoint, Checkpointer, JobStore, check_id
from routilux.stores.memory import MemoryStore
from routilux.stores.sqlite import SQLiteStore

if TYPE_CHECKING:
    from routilux.stores.redis import RedisStore

__all__ = [
    "Checkpoint",
    "Checkpointer",
    "JobStore",
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
    "check_id",
]


def __getattr__(name: str) -> Any:
    # RedisStore needs redis-py, an optional extra: imported only when asked for.
    if name == "RedisStore":
        from routilux.stores.redis import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

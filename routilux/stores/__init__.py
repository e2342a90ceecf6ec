"""Where a flow records its jobs.

- :class:`MemoryStore` (the default): unfinished jobs in this process's memory.
- :class:`SQLiteStore`: one SQLite file; jobs are checkpointed as they run, so that
  after the process dies a new one can continue them with ``Flow.recover``.

Pass a store to ``Flow(..., store=...)``.
"""

from routilux.stores.base import Checkpoint, Checkpointer, JobStore
from routilux.stores.memory import MemoryStore
from routilux.stores.sqlite import SQLiteStore

__all__ = ["Checkpoint", "Checkpointer", "JobStore", "MemoryStore", "SQLiteStore"]

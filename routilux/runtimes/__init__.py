"""Where a flow's activations run.

- :class:`ThreadRuntime` (the default): threads; the thread that calls ``execute`` and
  waits drives its job itself, other drivers run on a pool; ``async def`` handlers run
  on an event loop the runtime keeps in a thread of its own.
- :class:`AsyncioRuntime`: asyncio tasks on one event loop (the caller's, for
  ``await flow.execute_async(...)``); plain handlers run in an executor's threads.

Pass one to ``Flow(..., runtime=...)``. Both keep every promise of the flow: the
strategies, error handling and retries, pause, resume and cancel, checkpoints and
recovery, and what an activation commits (see :doc:`/guide/runtimes`).
"""

from routilux.runtimes.aio import AsyncioRuntime
from routilux.runtimes.base import Cancellable, Runtime
from routilux.runtimes.threads import ThreadRuntime

__all__ = ["AsyncioRuntime", "Cancellable", "Runtime", "ThreadRuntime"]

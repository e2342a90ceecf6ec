"""The engine: what happens while jobs run. Private; the graph model never imports it.

- :mod:`~routilux._engine.queue`: one job's queue of activations.
- :mod:`~routilux._engine.fanout`: where an event's emissions go in a flow.
- :mod:`~routilux._engine.machine`: the job machine -- outstanding work, running
  activations and committing their effects, failures and retries, pause, resume,
  cancel, checkpoints, settling and the final status. It decides; runtimes
  (:mod:`routilux.runtimes`) run activations where they run, and stores
  (:mod:`routilux.stores`) keep what they keep.
- :mod:`~routilux._engine.pending`: activations leaving the machine and coming back.
- :mod:`~routilux._engine.runs`: which machine drives a job (one at a time).
"""

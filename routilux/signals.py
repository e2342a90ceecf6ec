"""Lifecycle signals: what happens to jobs and activations, as blinker signals.

Connect a receiver to be told when a job starts and settles, when each slot
activation starts, finishes, fails or is retried, and when a handler's emission takes
effect::

    from routilux import signals

    def on_failed(job_state, **kw):
        print(kw["routine_id"], kw["slot"], kw["attempt"], kw["error"])

    signals.activation_failed.connect(on_failed)

Every signal is a :class:`blinker.NamedSignal` in :data:`namespace`; the sender is
the job's :class:`~routilux.JobState` (connect with ``sender=job_state`` for one job
only), and everything else comes as keyword arguments, listed with each signal
below. Times are seconds since the epoch (``time.time()``), durations seconds.

Caveats:

- **Connecting.** blinker keeps receivers by weak reference unless connected with
  ``weak=False``: a receiver defined inside a function disappears with it. Receivers
  are called in the order they were first connected. A coroutine function cannot be
  connected (``TypeError``: receivers are called, never awaited). ``signal.muted()``
  silences a signal, as for blinker's ``send``. A receiver connected while a job runs
  gets the signals of what starts afterwards (not the end of an activation that was
  already running). The engine keeps no reference to what receivers are given.
- **Threads.** A receiver runs in the thread that runs the activation (or settles the
  job), never under the engine's locks, and may be called from several threads at
  once under the concurrent strategy. The signals of an ``async def`` handler's
  activation are sent on the event loop that runs it: keep such receivers quick.
  Activation signals run as if in the activation's handler: ``flow.pause(job_state)``
  returns at once there, and :class:`routilux.log.ContextFilter` sees the activation.
- **Errors.** An exception a receiver raises is logged (logger ``routilux``, with its
  traceback) and does not reach the job: the other receivers are still called. That
  holds for ``KeyboardInterrupt`` and ``SystemExit`` too (raised into the engine they
  would leave the job unfinished): a receiver cannot stop a job by raising; to stop
  one, call ``flow.cancel(job_state)``.
- **Order.** Under the sequential strategy every signal of a job arrives in execution
  order: ``job_started``; per activation ``activation_started``, then its
  ``event_emitted`` signals and ``activation_finished`` (or ``activation_failed``,
  then ``activation_retried`` when it is retried); ``job_settled`` last. Under the
  concurrent strategy the signals of one activation keep that order, but those of
  activations that run at once interleave, and the ``activation_retried`` of an
  attempt may come after the retry (of ``retry_delay=0``) started. ``job_settled``
  always comes after the last activation's signals.
- **Settling.** ``job_settled`` is sent before the job counts as settled:
  ``execute()`` and ``wait_for_completion()`` return after its receivers have
  returned. A receiver of it must not wait for the job or resume it (hand that to
  another thread); saving a paused job there works.
- **Cost.** With no receiver connected the engine does not build or send anything.
- **Redis workers.** For an activation run by a worker (:mod:`routilux.runtimes.redis`)
  ``activation_started`` is sent when the driver sends it, the others when its reply
  is applied, all in the driver's process.
"""

from __future__ import annotations

from routilux._observe import ACTIVATION, JOB, namespace

__all__ = [
    "activation_failed",
    "activation_finished",
    "activation_retried",
    "activation_started",
    "event_emitted",
    "job_settled",
    "job_started",
    "namespace",
]

#: A job started running: ``job_id``, ``flow_id``, ``routine_id`` (the entry
#: routine), ``start``, ``resumed`` (True when a paused or recovered job goes on).
job_started = namespace.signal("job-started", "A job started running (or was resumed).", level=JOB)

#: A job settled: ``job_id``, ``flow_id``, ``routine_id`` (the entry routine),
#: ``status`` (``"completed"``, ``"failed"``, ``"cancelled"`` or ``"paused"``),
#: ``start`` (of this run) and ``duration``. A job that is paused and resumed settles
#: once per run.
job_settled = namespace.signal(
    "job-settled", "A job completed, failed, was cancelled or paused.", level=JOB
)

#: A slot activation is about to run its handler: ``job_id``, ``routine_id``,
#: ``slot``, ``attempt`` (0 first, then one more per retry), ``activation_id`` (the
#: same for every attempt) and ``start``.
activation_started = namespace.signal(
    "activation-started", "A slot activation started.", level=ACTIVATION
)

#: The handler returned: the keywords of ``activation_started`` and ``duration``.
activation_finished = namespace.signal(
    "activation-finished", "A slot activation finished.", level=ACTIVATION
)

#: The handler raised (before its error handler decides what happens), or the
#: activation was interrupted (its job was cancelled or stopped while it was suspended):
#: the keywords of ``activation_started``, ``duration`` and ``error`` (the exception).
activation_failed = namespace.signal(
    "activation-failed", "A slot activation failed.", level=ACTIVATION
)

#: The failed attempt will be retried after ``delay`` seconds: the keywords of its
#: ``activation_failed`` and ``delay``. The retry's own signals carry ``attempt + 1``.
activation_retried = namespace.signal(
    "activation-retried", "A failed slot activation will be retried.", level=ACTIVATION
)

#: A handler's emission took effect: ``job_id``, ``routine_id`` (whose event it is),
#: ``event`` (its name), ``data`` (the emitted dict; do not change it) and ``time`` (of
#: the ``emit`` call). Sent when the handler has returned without an error, before its
#: ``activation_finished``; an ``emit_now`` emission when it is handed on. Emissions of
#: a failed attempt, or of an activation that returns after its job failed or was
#: cancelled, are dropped and never sent.
event_emitted = namespace.signal(
    "event-emitted", "An emission of a handler took effect.", level=ACTIVATION
)

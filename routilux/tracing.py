"""OpenTelemetry spans of jobs and activations (the ``routilux[otel]`` extra).

Tracing is off until :func:`instrument` is called; then every job run is a trace::

    from routilux import tracing

    tracing.instrument()  # the global tracer provider, or instrument(provider)

What is traced:

- **A span per job run**, ``job <flow id>``: the root of a new trace (one trace per
  job), linked to the span that was current where ``execute`` (or ``resume``) was
  called, if any. Attributes ``routilux.job_id``, ``routilux.flow_id``,
  ``routilux.routine_id`` (the entry routine), ``routilux.resumed``, and at its end
  ``routilux.status``; a failed job's span has the error status. A paused job's span
  ends with its pause; the resumed run starts a new trace, linked to the previous
  run's span when it runs in the same process.
- **A span per activation attempt**, ``<routine id>.<slot>``, a child of the job's
  span, with ``routilux.job_id``, ``routilux.routine_id``, ``routilux.slot``,
  ``routilux.attempt`` and ``routilux.activation_id``. It is linked to the span of the
  activation whose emission (or ``Slot.receive``) queued it -- so the activations of
  a fan-in routine link to the upstream activations that fed them, one each -- and a
  retry to the failed attempt's span. An activation of a slot whose merge strategy
  combines emissions (``"append"``, a callable) links to the span of each activation
  whose emission was merged into the slot's buffer in this run (its own emitter's
  first, the most recent 32). A failed attempt's span records the exception
  and has the error status. While the handler runs, its span is the current span: the
  spans the handler makes (an HTTP client's, your own) are its children.
- **Redis workers** (:mod:`routilux.runtimes.redis`): the driver's span of an
  activation sent to a worker lasts from sending to the reply, and its W3C
  ``traceparent`` travels in the message; a worker process that called
  :func:`instrument` too makes its span of the handler a child of it.

Cost: while tracing is off, nothing. When it is on, but no tracer provider is
configured (the API's default no-op provider), nothing per activation either: each job
start checks once whether a provider has been set since (so ``instrument()`` may be
called before the SDK is set up). A job whose span is not recorded (sampled out) has no
activation spans.

Caveats: spans are made in the threads that run the activations and end when they
end; the engine keeps each job's span (and, while they wait to run, the span contexts
of the activations' links; those merged into merging slots) until the job settles. A
job run traced when it started stays traced until it settles: switching tracing off
meanwhile does not end its spans early nor leave its later activations without spans.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import routilux._observe as _observe

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ["instrument", "is_instrumented", "uninstrument"]


def instrument(tracer_provider: TracerProvider | None = None) -> bool:
    """Trace every job from its next start on.

    Arguments:
        tracer_provider: where spans go; by default the global tracer provider of the
            OpenTelemetry API (``opentelemetry.trace.set_tracer_provider``).

    Returns whether spans are made now: False when no tracer provider is configured
    yet (tracing then starts with the first job started after one is). Calling it again
    replaces the provider. Thread safe.

    Raises:
        ImportError: the OpenTelemetry API is not installed (``pip install
            routilux[otel]``).
    """
    try:
        import routilux._observe_trace as _observe_trace
    except ImportError as exc:
        raise ImportError(
            "routilux.tracing needs the OpenTelemetry API: pip install 'routilux[otel]'"
        ) from exc
    return _observe_trace.instrument(tracer_provider)


def uninstrument() -> None:
    """Stop tracing: jobs started from now on are not traced (a traced job already
    running stays traced until it settles). Thread safe."""
    _observe.set_tracing(None)


def is_instrumented() -> bool:
    """Whether :func:`instrument` was called (and not undone), whether or not a
    tracer provider is configured yet."""
    return _observe.hooks.tracing is not None or _observe.hooks.pending is not None

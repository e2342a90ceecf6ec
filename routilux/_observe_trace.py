"""Spans of jobs and activations with the OpenTelemetry API (see routilux.tracing).

Imported only once tracing is switched on (it imports ``opentelemetry``, the
``routilux[otel]`` extra). Everything the engine does with spans goes through a
:class:`Tracing` object, so that the engine's modules never import OpenTelemetry.

Spans: one per run of a job (``job <flow id>``, a root span: a new trace, linked to
the span that was current where the job was started or resumed, and to the job span
of its previous run in this process), and one per activation attempt (``<routine
id>.<slot>``, a child of its job span, linked to the span of the activation whose
emission queued it -- for a slot that merges, of each activation whose emission went
into its buffer -- or of the failed attempt it retries). An activation that runs on
a Redis worker has its span in the driver (from sending to the reply) and, if the
worker traces too, a child span there, made from the W3C ``traceparent`` its message
carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    Link,
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TracerProvider,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import routilux._observe as _observe

__all__ = ["Tracing", "configured", "instrument", "uninstrument"]

_PROPAGATOR = TraceContextTextMapPropagator()
_FAILED = "failed"


def configured(provider: TracerProvider) -> bool:
    """Whether ``provider`` makes spans (not the API's default no-op provider)."""
    return not isinstance(provider, (ProxyTracerProvider, NoOpTracerProvider))


class Tracing:
    """The tracer the engine's spans come from, and what it does with them."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = trace.get_tracer("routilux", _version(), tracer_provider=provider)

    # -- jobs -------------------------------------------------------------------------

    def job_span(
        self,
        job_id: str,
        flow_id: str,
        routine_id: str | None,
        resumed: bool,
        previous: SpanContext | None,
    ) -> Span | None:
        """The span of a job's run, started now; None if it records nothing (sampled
        out), in which case none of its activations is traced either."""
        links = []
        caller = trace.get_current_span().get_span_context()
        if caller.is_valid:
            links.append(Link(caller, {"routilux.link": "started by"}))
        if previous is not None:
            links.append(Link(previous, {"routilux.link": "previous run"}))
        attributes: dict[str, Any] = {
            "routilux.job_id": job_id,
            "routilux.flow_id": flow_id,
            "routilux.resumed": resumed,
        }
        if routine_id is not None:
            attributes["routilux.routine_id"] = routine_id
        span = self.tracer.start_span(
            f"job {flow_id}",
            context=otel_context.Context(),  # a root: one trace per job run
            attributes=attributes,
            links=links,
        )
        if not span.is_recording():
            span.end()
            return None
        return span

    def end_job(self, span: Span, status: str) -> None:
        span.set_attribute("routilux.status", status)
        if status == _FAILED:
            span.set_status(Status(StatusCode.ERROR, "the job failed"))
        span.end()

    # -- activations ------------------------------------------------------------------

    def activation_span(
        self,
        job_span: Span,
        job_id: str,
        routine_id: str,
        slot: str,
        attempt: int,
        activation_id: str,
        links: Sequence[SpanContext],
        remote: bool,
    ) -> Span:
        """The span of an activation attempt, a child of its job's span, started now,
        linked to the spans of ``links``."""
        return self.tracer.start_span(
            f"{routine_id}.{slot}",
            context=trace.set_span_in_context(job_span),
            kind=SpanKind.PRODUCER if remote else SpanKind.INTERNAL,
            attributes={
                "routilux.job_id": job_id,
                "routilux.routine_id": routine_id,
                "routilux.slot": slot,
                "routilux.attempt": attempt,
                "routilux.activation_id": activation_id,
            },
            links=[Link(link) for link in links] if links else None,
        )

    def attach(self, span: Span) -> object:
        """Make ``span`` the current span in this context; returns the token to
        :meth:`detach` with (in the same context)."""
        return otel_context.attach(trace.set_span_in_context(span))

    def detach(self, token: object) -> None:
        otel_context.detach(token)  # type: ignore[arg-type]

    def end(self, span: Span) -> None:
        span.end()

    def end_failed(self, span: Span, error: BaseException) -> None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {_text(error)}"))
        span.end()

    @staticmethod
    def current() -> SpanContext | None:
        """The context of the span current here, if there is a valid one."""
        context = trace.get_current_span().get_span_context()
        return context if context.is_valid else None

    @staticmethod
    def context_of(span: Span) -> SpanContext:
        return span.get_span_context()

    # -- remote activations -----------------------------------------------------------

    @staticmethod
    def traceparent(span: Span) -> str | None:
        """The W3C ``traceparent`` of ``span``."""
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
        return carrier.get("traceparent")

    def worker_span(
        self, traceparent: str, job_id: str, routine_id: str, slot: str, attempt: Any
    ) -> Span | None:
        """On a worker: the span of an activation whose driver's span is
        ``traceparent`` (None if that cannot be read)."""
        parent = _PROPAGATOR.extract({"traceparent": traceparent})
        if not trace.get_current_span(parent).get_span_context().is_valid:
            return None
        attributes: dict[str, Any] = {
            "routilux.job_id": job_id,
            "routilux.routine_id": routine_id,
            "routilux.slot": slot,
            "routilux.worker": True,
        }
        if isinstance(attempt, int):
            attributes["routilux.attempt"] = attempt
        return self.tracer.start_span(
            f"{routine_id}.{slot}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        )

    def end_remote(self, span: Span, error: Any) -> None:
        """End a worker's span; ``error``: the reply's description of the handler's
        exception, if it raised."""
        if isinstance(error, dict):
            span.add_event(
                "exception",
                {
                    "exception.type": str(error.get("type")),
                    "exception.message": str(error.get("message")),
                    "exception.stacktrace": str(error.get("traceback")),
                },
            )
            description = f"{error.get('type')}: {error.get('message')}"
            span.set_status(Status(StatusCode.ERROR, description))
        span.end()


def _text(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return "<unprintable>"


def instrument(provider: TracerProvider | None) -> bool:
    """Switch tracing on; returns whether spans are made now (False: no tracer provider
    is configured yet; each job start checks again)."""
    if provider is not None:
        _observe.set_tracing(Tracing(provider))
        return True
    provider = trace.get_tracer_provider()
    if configured(provider):
        _observe.set_tracing(Tracing(provider))
        return True
    _observe.set_tracing(None, pending=_pending)
    return False


def _pending() -> Tracing | None:
    """At a job start, while tracing waits for a tracer provider: use it if there is
    one now."""
    provider = trace.get_tracer_provider()
    if not configured(provider):
        return None
    tracing = Tracing(provider)
    _observe.set_tracing(tracing)
    return tracing


def uninstrument() -> None:
    """Switch tracing off (jobs already traced stay traced until they settle)."""
    _observe.set_tracing(None)


def _version() -> str | None:
    """The installed package's version (read from its metadata: importing the package
    here would close an import circle through the engine)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("routilux")
    except PackageNotFoundError:
        return None

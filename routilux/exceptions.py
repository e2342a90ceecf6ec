"""The exceptions Routilux raises.

Every exception derives from :class:`RoutiluxError`. Where routilux 0.9 raised a
``ValueError``, ``TypeError`` or ``RuntimeError`` for the same mistake, the exception
here also derives from that built-in class, so ``except ValueError:`` written against
0.9 keeps working.

Messages name the flow, routine, slot or event involved, so that a traceback alone
tells what was wrong.
"""

from __future__ import annotations

__all__ = [
    "ChannelTypeError",
    "ConfigurationError",
    "DuplicateNameError",
    "EventNotFoundError",
    "FlowMismatchError",
    "InvalidPayloadError",
    "InvalidStrategyError",
    "JobStateError",
    "MissingTriggerSlotError",
    "NoExecutionContextError",
    "QueueFullError",
    "RemoteHandlerError",
    "RoutiluxError",
    "RoutineNotFoundError",
    "SerializationError",
    "SlotNotFoundError",
    "StoreError",
]


class RoutiluxError(Exception):
    """Base class of every exception raised by Routilux itself."""


class ConfigurationError(RoutiluxError, ValueError):
    """A flow, routine, slot or event was set up with an invalid value."""


class RoutineNotFoundError(ConfigurationError):
    """A routine id is not registered in the flow."""


class SlotNotFoundError(ConfigurationError):
    """A routine has no slot of the requested name."""


class EventNotFoundError(ConfigurationError):
    """A routine has no event of the requested name."""


class DuplicateNameError(ConfigurationError):
    """A slot, event or routine id is defined twice, or a routine is added twice."""


class InvalidStrategyError(ConfigurationError):
    """An execution strategy, merge strategy or error strategy is not one we know."""


class MissingTriggerSlotError(ConfigurationError):
    """The entry routine of ``Flow.execute`` has no ``"trigger"`` slot."""


class FlowMismatchError(ConfigurationError):
    """A JobState was handed to a flow it does not belong to."""


class InvalidPayloadError(RoutiluxError, TypeError, ValueError):
    """Data of the wrong type was passed in (for example a non-dict ``entry_params``).

    It derives from both ``TypeError`` and ``ValueError``: 0.9 raised one or the other
    depending on the call.
    """


class JobStateError(RoutiluxError, RuntimeError, ValueError):
    """The job is not in a state that allows the operation.

    Raised, for example, when pausing a job that has already finished, resuming a job
    that is not paused, or emitting into a job that has completed. It derives from
    ``RuntimeError`` and from ``ValueError``: 0.9 raised ``ValueError`` from
    ``Flow.resume`` and ``Flow.pause`` for jobs they could not act on.
    """


class QueueFullError(JobStateError):
    """A job's queue is at its bound (``Flow(queue_bound=..., on_full="raise")``) and a
    handler tried to hand on more work with ``emit_now``. The message names the job,
    the routine and the event."""


class NoExecutionContextError(RoutiluxError, RuntimeError):
    """A call that needs a running job (``send_output``, ``emit_deferred_event``) was
    made outside any slot handler of a job."""


class SerializationError(RoutiluxError, ValueError):
    """A flow or job could not be saved, or a document could not be loaded.

    The message names the class, routine, slot or field involved and where in the
    document it is (``path``, like ``$.routines[2].class``). Loading never runs code
    named by a document and never changes objects that exist already when it fails.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message if path is None else f"{message} (at {path})")
        #: Where in the document the problem is, or None.
        self.path = path


class StoreError(RoutiluxError):
    """A job store could not do its I/O: its file is read-only or cannot be opened, the
    disk is full, another process kept the database locked past the store's timeout,
    or the store was closed.

    The message names the store's file and the operation that failed. Nothing is wrong
    with the job: when it happens while a job runs, the engine records it as the
    job's failure. A damaged or foreign file raises :class:`SerializationError`
    instead.
    """


class RemoteHandlerError(RoutiluxError):
    """A handler that ran on a worker process raised an exception whose class this
    process does not have imported (with the class at hand, the engine raises one of
    it instead, so that error handlers match it; this error is then its ``__cause__``).

    Attributes:
        type_name: the qualified name of the class the handler raised.
        traceback_text: the traceback as the worker formatted it.
    """

    def __init__(self, message: str, *, type_name: str = "", traceback_text: str = "") -> None:
        super().__init__(message)
        self.type_name = type_name
        self.traceback_text = traceback_text


class ChannelTypeError(RoutiluxError, TypeError):
    """A value does not match a typed channel's schema (or a channel key holds a value
    of the wrong kind). The message names the key and the path of the wrong value."""

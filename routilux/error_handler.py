"""What happens when a slot handler raises.

An :class:`ErrorHandler` is attached to a routine (:meth:`Routine.set_error_handler`,
:meth:`Routine.set_as_critical`, :meth:`Routine.set_as_optional`) or to a whole flow
(:meth:`Flow.set_error_handler`). When a handler of a routine raises, the routine's
own error handler applies, else the flow's, else the default:

- the entry routine's ``trigger`` handler failing fails the job;
- any other handler failing is recorded (history ``"error"`` record, the routine's
  state, :attr:`JobState.errors`) and the job goes on.

With a handler, its :class:`ErrorStrategy` decides, for every routine of the flow:

``STOP``
    The job fails; queued activations are discarded and running ones finish.
``CONTINUE``
    The failure is recorded (history ``"error_continued"``) and the job goes on.
``SKIP``
    The routine is marked skipped in its state and the job goes on.
``RETRY``
    The same activation runs again after ``retry_delay * retry_backoff ** (n - 1)``
    seconds for the n-th retry, up to ``max_retries`` times, if the exception is one
    of ``retryable_exceptions``. No worker thread is held while it waits. When the
    retries are used up, a critical handler (``is_critical=True``) fails the job;
    otherwise the failure is recorded and the job goes on (the entry routine's
    trigger failing for good always fails the job). An exception that is not
    retryable fails the job.

Retry counts belong to the job: one handler object may serve any number of routines
and jobs at once.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import TYPE_CHECKING, Any

import attrs

import routilux._codecs as _codecs
from routilux._hybrid import hybridmethod
from routilux.exceptions import InvalidStrategyError

if TYPE_CHECKING:
    from routilux.routine import Routine

__all__ = ["ErrorHandler", "ErrorStrategy"]


class ErrorStrategy(Enum):
    """The four ways to react to a failing handler (see :mod:`routilux.error_handler`)."""

    STOP = "stop"
    CONTINUE = "continue"
    RETRY = "retry"
    SKIP = "skip"


def _to_strategy(value: Any) -> ErrorStrategy:
    if isinstance(value, ErrorStrategy):
        return value
    if isinstance(value, str):
        try:
            return ErrorStrategy(value.lower())
        except ValueError:
            pass
    valid = ", ".join(repr(s.value) for s in ErrorStrategy)
    raise InvalidStrategyError(f"Invalid error strategy {value!r}: use one of {valid}")


def _to_exception_types(value: Any) -> tuple[type[BaseException], ...]:
    if value is None:
        return (Exception,)
    if isinstance(value, type):
        value = (value,)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise InvalidStrategyError(
            f"retryable_exceptions must be an exception class or a sequence of them, not {value!r}"
        )
    types = tuple(value)
    if not types:
        return (Exception,)
    for item in types:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise InvalidStrategyError(
                f"retryable_exceptions must hold exception classes, not {item!r}"
            )
    return types


def _non_negative(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidStrategyError(
            f"ErrorHandler.{attribute.name} must be a finite number >= 0, not {value!r}"
        )


def _count(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidStrategyError(
            f"ErrorHandler.{attribute.name} must be an int >= 0, not {value!r}"
        )


def _flag(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidStrategyError(
            f"ErrorHandler.{attribute.name} must be True or False, not {value!r}"
        )


@attrs.define(eq=True, repr=False)
class ErrorHandler:
    """A reaction to failures: a strategy and its retry settings.

    The arguments may be given positionally, in this order, as in 0.9.

    Arguments:
        strategy: an :class:`ErrorStrategy` or its value (``"stop"``, ``"continue"``,
            ``"retry"``, ``"skip"``; any case).
        max_retries: how many times RETRY runs a failed activation again.
        retry_delay: seconds before the first retry.
        retry_backoff: factor applied to the delay for each further retry.
        retryable_exceptions: an exception class or a sequence of them that RETRY
            retries; ``None`` or an empty sequence means ``(Exception,)``.
        is_critical: whether running out of retries fails the job.

    Raises:
        InvalidStrategyError: for an unknown strategy, a negative or non-finite
            number, a non-int ``max_retries``, a non-bool ``is_critical`` or anything
            but exception classes in ``retryable_exceptions``.

    Equal settings compare equal; like other mutable value objects, handlers are not
    hashable.

    The object holds configuration only; retry counts live in each job, so one handler
    can be shared by many routines and jobs, from many threads.

    A retry runs the whole handler again with the same arguments (for an ``append``
    slot, its live lists, as they are when the retry runs): whatever it emitted before
    raising is emitted again, so downstream routines should tolerate duplicates. The
    delay does not block a thread (the job goes on with other work meanwhile); a retry
    still waiting when its job is paused becomes pending work and runs as soon as the
    job resumes, without the rest of its delay.
    """

    strategy: ErrorStrategy = attrs.field(default=ErrorStrategy.STOP, converter=_to_strategy)
    max_retries: int = attrs.field(default=3, validator=_count)
    retry_delay: float = attrs.field(default=1.0, validator=_non_negative)
    retry_backoff: float = attrs.field(default=2.0, validator=_non_negative)
    retryable_exceptions: tuple[type[BaseException], ...] = attrs.field(
        default=None, converter=_to_exception_types
    )
    is_critical: bool = attrs.field(default=False, validator=_flag)
    #: Kept for 0.9 code that reads it; only :meth:`handle_error` changes it.
    retry_count: int = attrs.field(default=0, init=False, eq=False)

    def is_retryable(self, error: BaseException) -> bool:
        """Whether RETRY applies to ``error``."""
        return isinstance(error, self.retryable_exceptions)

    def retry_delay_for(self, retry_number: int) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 for the first).

        A delay too large to represent is ``math.inf`` (the retry then never comes
        before the job is paused, cancelled or the process ends).
        """
        try:
            return float(self.retry_delay * self.retry_backoff ** (retry_number - 1))
        except OverflowError:
            return math.inf

    def reset(self) -> None:
        """Set the legacy ``retry_count`` back to 0."""
        self.retry_count = 0

    def handle_error(
        self,
        error: Exception,
        routine: Routine | None = None,
        routine_id: str | None = None,
        flow: Any = None,
        context: Any = None,
    ) -> bool:
        """Decide, as 0.9 did, whether execution may go on after ``error``.

        Returns ``False`` for STOP, a non-retryable error under RETRY and a critical
        handler out of retries; ``True`` otherwise. Under RETRY it counts attempts in
        ``retry_count``. Unlike 0.9 it never sleeps: the engine schedules retries
        itself, without calling this method.
        """
        if self.strategy is ErrorStrategy.STOP:
            return False
        if self.strategy is ErrorStrategy.RETRY:
            if not self.is_retryable(error):
                return False
            if self.retry_count < self.max_retries:
                self.retry_count += 1
                return True
            return not self.is_critical
        return True

    # -- saving and loading (the 0.9 API, in routilux's own safe format) ---------------

    def serialize(self) -> dict[str, Any]:
        """This handler as a ``routilux.error_handler`` document: ``strategy``,
        ``max_retries``, ``retry_delay``, ``retry_backoff``, ``retryable_exceptions``
        (class references), ``is_critical`` and the legacy ``retry_count``.

        Raises:
            SerializationError: for an exception class a loader could not find (one
                defined inside a function and not registered).
        """
        return _codecs.to_document("error_handler", self)

    @hybridmethod
    def deserialize(
        cls: type[ErrorHandler], instance: ErrorHandler | None, data: Any
    ) -> ErrorHandler:
        """Build a handler from a ``routilux.error_handler`` document.

        ``ErrorHandler.deserialize(data)`` returns a new handler;
        ``handler.deserialize(data)`` sets that handler's settings and returns it (as
        in 0.9). Exception classes must be built in, imported or registered.

        Raises:
            SerializationError: for anything wrong with the document; nothing changes.
        """
        return _codecs.from_document("error_handler", cls, instance, data)

    def __repr__(self) -> str:
        return (
            f"ErrorHandler(strategy={self.strategy.value!r}, max_retries={self.max_retries}, "
            f"retry_delay={self.retry_delay}, retry_backoff={self.retry_backoff}, "
            f"is_critical={self.is_critical})"
        )

"""Routilux: event-driven dataflow for Python.

Subclass :class:`Routine`, declare slots and events, wire routines in a :class:`Flow`
and run it with :meth:`Flow.execute`, which returns the job's :class:`JobState`.

(PYTEST_DONT_REWRITE: routilux comes with a pytest plugin; this marker keeps pytest
from warning when routilux was imported before a ``pytest.main()`` call.)
"""

# The document modules register the code behind the serialize/deserialize methods
# (see routilux._codecs): the model does not import them.
import routilux._component_documents
import routilux._job_document  # noqa: F401
from routilux.builtin_routines import (
    ConditionalRouter,
    DataFlattener,
    DataTransformer,
    DataValidator,
    ResultExtractor,
    TextClipper,
    TextRenderer,
    TimeProvider,
)
from routilux.connection import Connection
from routilux.error_handler import ErrorHandler, ErrorStrategy
from routilux.event import Event
from routilux.execution_context import ExecutionContext
from routilux.execution_record import ExecutionRecord
from routilux.execution_tracker import ExecutionTracker
from routilux.flow import Flow
from routilux.job_state import JobState
from routilux.output_handler import (
    CallbackOutputHandler,
    NullOutputHandler,
    OutputHandler,
    QueueOutputHandler,
)
from routilux.registry import register_serializable
from routilux.routine import Routine
from routilux.slot import Slot

__version__ = "1.0.0.dev0"

__all__ = [
    "CallbackOutputHandler",
    "ConditionalRouter",
    "Connection",
    "DataFlattener",
    "DataTransformer",
    "DataValidator",
    "ErrorHandler",
    "ErrorStrategy",
    "Event",
    "ExecutionContext",
    "ExecutionRecord",
    "ExecutionTracker",
    "Flow",
    "JobState",
    "NullOutputHandler",
    "OutputHandler",
    "QueueOutputHandler",
    "ResultExtractor",
    "Routine",
    "Slot",
    "TextClipper",
    "TextRenderer",
    "TimeProvider",
    "__version__",
    "register_serializable",
]

"""The ready-made routines of routilux 0.9, with their bugs fixed.

- :mod:`~routilux.builtin_routines.text_processing`: TextClipper, TextRenderer,
  ResultExtractor
- :mod:`~routilux.builtin_routines.utils`: TimeProvider, DataFlattener
- :mod:`~routilux.builtin_routines.data_processing`: DataTransformer, DataValidator
- :mod:`~routilux.builtin_routines.control_flow`: ConditionalRouter

Each keeps 0.9's slot and event names, config keys and defaults, and outputs, and
round-trips through flow serialization with its config.
"""

from routilux.builtin_routines.control_flow import ConditionalRouter
from routilux.builtin_routines.data_processing import DataTransformer, DataValidator
from routilux.builtin_routines.text_processing import ResultExtractor, TextClipper, TextRenderer
from routilux.builtin_routines.utils import DataFlattener, TimeProvider

__all__ = [
    "ConditionalRouter",
    "DataFlattener",
    "DataTransformer",
    "DataValidator",
    "ResultExtractor",
    "TextClipper",
    "TextRenderer",
    "TimeProvider",
]

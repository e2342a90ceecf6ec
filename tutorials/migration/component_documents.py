"""serialize() and deserialize() on single objects, in Routilux's own format."""

from routilux import ErrorHandler, ErrorStrategy, Routine, TextClipper
from routilux.exceptions import SerializationError

handler = ErrorHandler(ErrorStrategy.RETRY, max_retries=2, retry_delay=0.5)
document = handler.serialize()
print(document)

filled = ErrorHandler().deserialize(document)  # the call of 0.9's user guide
print("filled:", filled.strategy, filled.max_retries, filled.retry_delay)
print("new:", ErrorHandler.deserialize(document).max_retries)

clipper = TextClipper()
clipper.set_config(max_length=10)
document = clipper.serialize()
print(document["format"], document["class"], document["config"]["max_length"])
restored = Routine.deserialize(document)
print("restored:", type(restored).__name__, restored.get_config("max_length"))

serilux_style = {"_type": "ErrorHandler", "strategy": "retry", "max_retries": 2}
try:
    ErrorHandler.deserialize(serilux_style)
except SerializationError as exc:
    print("a 0.9 (serilux) dict:", exc)

"""Loading never runs code named by the file."""

from routilux import Flow
from routilux.exceptions import SerializationError

document = {
    "format": "routilux.flow",
    "version": 1,
    "flow_id": "sneaky",
    "execution_strategy": "sequential",
    "max_workers": 5,
    "history_limit": None,
    "error_handler": None,
    "routines": [
        {
            "id": "boom",
            "class": "os:system",
            "config": {},
            "error_handler": None,
            "slots": [],
            "events": [],
        }
    ],
    "connections": [],
}
try:
    Flow.deserialize(document)
except SerializationError as error:
    print("refused:", error)

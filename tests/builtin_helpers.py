"""Small routines and helpers shared by the tests of the builtin routines.

A builtin routine has no ``trigger`` slot, so it cannot be the entry of a flow: the
tests put a :class:`Feeder` in front of it (it emits each payload it is given) and a
:class:`helpers.Collector` behind each of its events (it records what it receives).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from routilux import Flow, JobState, Routine, registry

from helpers import Collector

SUBJECT = "subject"


class Feeder(Routine):
    """Entry routine: emits every dict of ``payloads`` on ``output`` as keyword data."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.feed)
        self.define_event("output", [])

    def feed(self, payloads: Iterable[dict[str, Any]] = (), **_: Any) -> None:
        for payload in payloads:
            self.emit("output", **payload)


def collector_id(event: str) -> str:
    return f"got_{event}"


def build_flow(
    routine: Routine,
    events: Iterable[str] = ("output",),
    slot: str = "input",
    strategy: str = "sequential",
    workers: int = 4,
) -> Flow:
    """feeder -> ``routine`` (id ``"subject"``) -> one Collector per event."""
    flow = Flow(execution_strategy=strategy, max_workers=workers)
    flow.add_routine(Feeder(), "feeder")
    flow.add_routine(routine, SUBJECT)
    flow.connect("feeder", "output", SUBJECT, slot)
    for event in events:
        flow.add_routine(Collector(), collector_id(event))
        flow.connect(SUBJECT, event, collector_id(event), "input")
    return flow


def run(flow: Flow, payloads: Iterable[dict[str, Any]]) -> JobState:
    """Execute ``flow`` with the feeder emitting ``payloads``."""
    return flow.execute("feeder", entry_params={"payloads": list(payloads)})


def received(job: JobState, event: str = "output") -> list[dict[str, Any]]:
    """What the collector of ``event`` received in ``job``."""
    state = job.get_routine_state(collector_id(event)) or {}
    return list(state.get("received", []))


def outputs(
    flow: Flow, payloads: Iterable[dict[str, Any]], events: Iterable[str] = ("output",)
) -> dict[str, list[dict[str, Any]]]:
    """Run ``flow`` cleanly (no handler errors) and return what each event emitted."""
    job = run(flow, payloads)
    assert job.status == "completed", job.errors
    assert job.errors == []
    return {event: received(job, event) for event in events}


def emitted(
    routine: Routine,
    payloads: Iterable[dict[str, Any]],
    event: str = "output",
    slot: str = "input",
) -> list[dict[str, Any]]:
    """What ``routine`` emits on ``event`` when run in a flow with ``payloads``."""
    flow = build_flow(routine, events=[event], slot=slot)
    return outputs(flow, payloads, [event])[event]


def round_trip(flow: Flow) -> Flow:
    """``flow`` saved to JSON text and loaded back."""
    text = json.dumps(flow.serialize())
    return Flow.deserialize(json.loads(text))


def unique(prefix: str) -> str:
    """A registry name no other test uses."""
    return f"tests.builtins.{prefix}.{uuid.uuid4().hex}"


@contextlib.contextmanager
def restored_registry() -> Iterator[None]:
    """Undo every registration made inside the block."""
    by_name, names = dict(registry._by_name), dict(registry._names)
    try:
        yield
    finally:
        with registry._lock:
            registry._by_name.clear()
            registry._by_name.update(by_name)
            registry._names.clear()
            registry._names.update(names)

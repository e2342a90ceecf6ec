"""A named output of a routine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import routilux._codecs as _codecs
from routilux._hybrid import hybridmethod
from routilux._signals import FanoutSignal, wiring_version
from routilux.connection import Connection

if TYPE_CHECKING:
    from routilux.routine import Routine
    from routilux.slot import Slot

__all__ = ["Event"]


class Event:
    """An output of a routine, defined with :meth:`Routine.define_event`.

    Emitting it (:meth:`Routine.emit`) delivers the data to the connected slots, in
    the order they were connected. :attr:`signal` is a blinker signal for observers:
    receivers you connect to it are called as ``receiver(routine, data=...,
    job_state=...)`` for every emission that takes effect -- inside a job when the
    emitting handler's emissions are committed (when it returns, or at once for
    :meth:`Routine.emit_now`), in the thread that commits them and never under the
    engine's locks; outside a job (``job_state`` None) right after the connected slots
    ran. They must not raise (an exception stops the remaining receivers, as in
    blinker).

    Attributes:
        name: the event's name.
        routine: the routine that owns it.
        output_params: the names of the keys it is documented to emit (not checked).
        signal: a :class:`blinker.Signal` that tells observers about emissions.
    """

    def __init__(
        self, name: str = "", routine: Routine | None = None, output_params: list[str] | None = None
    ) -> None:
        self.name = name
        self.routine = routine
        self.output_params: list[str] = list(output_params or [])
        self.signal = FanoutSignal(doc=f"Emissions of event {name!r}")
        self._connections: dict[tuple[Slot, object | None], Connection] = {}
        # The engine's compact history rows of this event, one per data key.
        self._history_tags: dict[str | None, Any] = {}

    @property
    def connected_slots(self) -> list[Slot]:
        """The connected slots, in connect order (each once)."""
        return list(dict.fromkeys(slot for slot, _ in self._connections))

    @property
    def connections(self) -> list[Connection]:
        """This event's connections, in connect order."""
        return list(self._connections.values())

    def connect(self, slot: Slot, param_mapping: dict[str, str] | None = None) -> Connection:
        """Connect ``slot`` directly (outside any flow) and return the connection.

        Connecting an already connected slot replaces its mapping.
        """
        return self._connect(slot, param_mapping, None, None, None)

    def _connect(
        self,
        slot: Slot,
        param_mapping: dict[str, str] | None,
        flow: object | None,
        source_routine_id: str | None,
        target_routine_id: str | None,
    ) -> Connection:
        existing = self._connections.get((slot, flow))
        if existing is not None:
            existing.param_mapping = dict(param_mapping or {})
            wiring_version[0] += 1
            return existing
        return Connection(
            self,
            slot,
            param_mapping,
            flow=flow,
            source_routine_id=source_routine_id,
            target_routine_id=target_routine_id,
        )

    def _attach(self, connection: Connection) -> None:
        slot = connection.target_slot
        assert slot is not None
        previous = self._connections.get((slot, connection.flow))
        if previous is not None:
            self._detach(previous)
        self._connections[(slot, connection.flow)] = connection
        if self not in slot.connected_events:
            slot.connected_events.append(self)
        wiring_version[0] += 1

    def _detach(self, connection: Connection) -> None:
        slot = connection.target_slot
        assert slot is not None
        if self._connections.get((slot, connection.flow)) is not connection:
            return
        del self._connections[(slot, connection.flow)]
        if slot not in self.connected_slots and self in slot.connected_events:
            slot.connected_events.remove(self)
        wiring_version[0] += 1

    def disconnect(self, slot: Slot) -> None:
        """Remove every connection from this event to ``slot``."""
        for (target, _), connection in list(self._connections.items()):
            if target is slot:
                self._detach(connection)

    def emit(self, **data: Any) -> None:
        """Emit through the owning routine (see :meth:`Routine.emit`)."""
        if self.routine is not None:
            self.routine.emit(self.name, **data)
        else:
            self._emit_standalone(None, data)

    def _emit_standalone(self, sender: Any, data: dict[str, Any]) -> None:
        """Outside any job: run every connected slot now, in connect order, then tell
        the signal's observers."""
        for connection in list(self._connections.values()):
            connection._deliver_standalone(data)
        if self.signal.receivers:
            self.signal.send(sender, data=data, job_state=None)

    # -- saving and loading (the 0.9 API, in routilux's own safe format) ---------------

    def serialize(self) -> dict[str, Any]:
        """This event as a ``routilux.event`` document: its name and
        ``output_params``.

        Raises:
            SerializationError: if ``output_params`` holds anything but strings.
        """
        return _codecs.to_document("event", self)

    @hybridmethod
    def deserialize(cls: type[Event], instance: Event | None, data: Any) -> Event:
        """Build an event from a ``routilux.event`` document.

        ``Event.deserialize(data)`` returns a new event without a routine;
        ``event.deserialize(data)`` sets that event's ``output_params`` (an event of a
        routine keeps its name) and returns it.

        Raises:
            SerializationError: for anything wrong with the document; nothing changes.
        """
        return _codecs.from_document("event", cls, instance, data)

    def __repr__(self) -> str:
        if self.routine is not None:
            return f"Event[{self.routine._id}.{self.name}]"
        return f"Event[{self.name}]"

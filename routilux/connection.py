"""An edge from an event to a slot, with an optional renaming of keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import routilux._codecs as _codecs
from routilux._hybrid import hybridmethod

if TYPE_CHECKING:
    from routilux.event import Event
    from routilux.slot import Slot

__all__ = ["Connection", "apply_param_mapping"]


def apply_param_mapping(mapping: dict[str, str], data: dict[str, Any]) -> dict[str, Any]:
    """Rename keys of ``data`` by ``mapping`` (source key -> slot key), as 0.9 did.

    1. An empty mapping returns ``data`` itself.
    2. Each mapped source key present in ``data`` is copied under its target name.
    3. Every other key of ``data`` is passed through under its own name, unless it is
       one of the mapping's target names or was already set in step 2. So mapped
       source keys are passed through too: ``{"a": "x"}`` on ``{"a": 1}`` gives
       ``{"x": 1, "a": 1}``.
    """
    if not mapping:
        return data
    mapped: dict[str, Any] = {}
    for source, target in mapping.items():
        if source in data:
            mapped[target] = data[source]
    targets = set(mapping.values())
    for key, value in data.items():
        if key not in targets and key not in mapped:
            mapped[key] = value
    return mapped


class Connection:
    """One event -> slot edge.

    ``Flow.connect`` creates connections between routines of a flow; creating one
    directly (``Connection(event, slot)`` or ``event.connect(slot)``) wires the two
    objects without a flow, which is useful for routines used on their own.

    When the event is emitted inside a job, the job queues an activation of the slot
    (if the connection belongs to the job's flow, or is a direct one to a routine of
    it); outside any job the slot runs synchronously. Data is renamed by
    ``param_mapping`` (see :func:`apply_param_mapping`) on the way.

    Attributes:
        source_event, target_slot: the two ends.
        param_mapping: source key -> slot key.
        flow: the flow that made the connection (None for a direct one).
        source_routine_id, target_routine_id: the ends' ids in ``flow``.
    """

    def __init__(
        self,
        source_event: Event | None = None,
        target_slot: Slot | None = None,
        param_mapping: dict[str, str] | None = None,
        *,
        flow: object | None = None,
        source_routine_id: str | None = None,
        target_routine_id: str | None = None,
    ) -> None:
        self.source_event = source_event
        self.target_slot = target_slot
        self.param_mapping: dict[str, str] = dict(param_mapping or {})
        self.flow = flow
        self.source_routine_id = source_routine_id
        self.target_routine_id = target_routine_id
        if source_event is not None and target_slot is not None:
            source_event._attach(self)

    def _deliver_standalone(self, data: dict[str, Any]) -> None:
        """Outside any job: run the target slot now (mapping applied)."""
        slot = self.target_slot
        assert slot is not None
        if self.param_mapping:
            data = apply_param_mapping(self.param_mapping, data)
        slot._receive_standalone(data)

    def activate(self, data: dict[str, Any]) -> None:
        """Deliver ``data`` to the target slot now (mapping applied)."""
        if self.target_slot is None:
            raise ValueError(f"{self!r} has no target slot")
        self.target_slot.receive(self._apply_mapping(data))

    def _apply_mapping(self, data: dict[str, Any]) -> dict[str, Any]:
        return apply_param_mapping(self.param_mapping, data)

    def disconnect(self) -> None:
        """Remove this edge."""
        if self.source_event is None:
            raise ValueError(f"{self!r} has no source event")
        self.source_event._detach(self)

    # -- saving and loading (the 0.9 API, in routilux's own safe format) ---------------

    def serialize(self) -> dict[str, Any]:
        """This connection as a ``routilux.connection`` document: both routine
        ids (null outside a flow), the event and slot names, and ``param_mapping``.

        Raises:
            SerializationError: if the mapping is not strings to strings.
        """
        return _codecs.to_document("connection", self)

    @hybridmethod
    def deserialize(cls: type[Connection], instance: Connection | None, data: Any) -> Connection:
        """Build a connection from a ``routilux.connection`` document.

        ``Connection.deserialize(data)`` returns a new connection without ends (it
        keeps the stored ids and names; connect routines with ``Flow.connect``);
        ``connection.deserialize(data)`` sets that connection's ``param_mapping``
        (its ends must be the ones the document names) and returns it.

        Raises:
            SerializationError: for anything wrong with the document; nothing changes.
        """
        return _codecs.from_document("connection", cls, instance, data)

    def __repr__(self) -> str:
        return f"Connection[{self.source_event!r} -> {self.target_slot!r}]"

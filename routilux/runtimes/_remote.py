"""Activations that run in another process: what travels there, and what comes back.

The job machine stays in the process that runs the job (the *driver*): it decides what
runs next, merges slot buffers, handles errors and retries, counts outstanding work and
settles the job, exactly as for jobs run in process. Only the handler runs elsewhere.
An activation leaves as a message (:func:`activation_message`): the job and activation
ids, the slot by routine id and name, the attempt, the data (already merged: the driver
owns the job's merge buffers) and what the handler may read of the job (shared data,
routine states, results). A worker runs it (:func:`run_message`) against a view of the
job that records what the handler did; the reply holds the activation's effects -- its
emissions and history records, its result or error, and its changes to the job as
operations (an ``increment`` stays an increment, so that two workers' increments of
one key both count). The driver applies a reply (:func:`apply_reply`) and completes
the activation as it completes one that ran in process.

Everything is plain JSON, values through the safe codec: nothing executable travels.
No transport here (see :mod:`routilux.runtimes.redis`).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import sys
import traceback
from time import time
from typing import TYPE_CHECKING, Any

import attrs

import routilux._observe_jobs as observe
from routilux._context import Frame, SlotInfo, current_frame
from routilux._engine.machine import _FAILED
from routilux._engine.queue import ENTRY, MERGED, pack, unpack
from routilux._history import RecordName, record_name
from routilux._observe import hooks
from routilux._values import decode_value, encode_value
from routilux.channels import Channel
from routilux.event import Event
from routilux.exceptions import (
    ConfigurationError,
    RemoteHandlerError,
    RoutineNotFoundError,
    SerializationError,
    SlotNotFoundError,
)
from routilux.execution_context import ExecutionContext
from routilux.job_state import JobState

if TYPE_CHECKING:
    from routilux._engine.machine import JobMachine
    from routilux.flow import Flow
    from routilux.routine import Routine
    from routilux.slot import Slot

__all__ = ["PROTOCOL", "Sent", "activation_message", "apply_reply", "run_message"]

#: The version of the messages below; a worker refuses others.
PROTOCOL = 1


@attrs.frozen
class Sent:
    """What the driver keeps of an activation running elsewhere."""

    machine: JobMachine
    meta: int
    data: Any
    seq: int
    kept: str | None
    activation_id: str
    attempt: int


def _encoded_items(values: dict[str, Any], path: str, *, skip_failures: bool) -> dict[str, Any]:
    encoded = {}
    for key, value in list(values.items()):
        try:
            encoded[key] = encode_value(value, f"{path}.{key}")
        except SerializationError:
            if not skip_failures:
                raise
    return encoded


def activation_message(
    machine: JobMachine, meta: int, data: Any, seq: int, kept: str | None
) -> tuple[dict[str, Any], Sent]:
    """The message of a taken activation (its data merged into the slot's buffer first,
    as a handler run in process would get it), and what the driver keeps of it.

    Raises:
        SerializationError: the data or the job's shared data or routine states cannot
            be encoded.
    """
    index, attempt, flags = unpack(meta)
    info = machine.info_for(index)
    slot = info.slot
    if slot._merge_kind and not flags & MERGED:
        data = machine._merge(index, slot, data)
        flags |= MERGED
        meta = pack(index, attempt, flags)
    job = machine.job_state
    activation_id = machine.activation_id(seq, kept)
    with job._lock:
        shared = dict(job.shared_data)
        states = dict(job.routine_states)
    results = dict(job._results)
    message = {
        "protocol": PROTOCOL,
        "job": job.job_id,
        "flow": machine.flow.flow_id,
        "id": activation_id,
        "attempt": attempt,
        "entry": bool(flags & ENTRY),
        "routine": info.routine_id,
        "slot": slot.name,
        "merged": bool(slot._merge_kind),
        "data": encode_value(data, "$.data"),
        "shared": _encoded_items(shared, "$.shared_data", skip_failures=False),
        "states": _encoded_items(states, "$.routine_states", skip_failures=False),
        # Results a handler may read (get_result); those that cannot travel are left out.
        "results": _encoded_items(results, "$.results", skip_failures=True),
    }
    if hooks.activations:
        # Observed, it starts as it is sent; a traced job's message carries the W3C
        # trace context of its span, the parent of the worker's span (if it traces).
        traceparent = observe.remote_sent(machine, info, attempt, seq, kept)
        if traceparent is not None:
            message["traceparent"] = traceparent
    return message, Sent(machine, meta, data, seq, kept, activation_id, attempt)


# -- the worker's side -------------------------------------------------------------------


class _RecordingChannel(Channel):
    """A channel of a worker's job view: each change is also kept as an operation."""

    __slots__ = ()

    def delete(self, key: str) -> bool:
        found = super().delete(key)
        _ops(self._job).append(["delete", key])
        return found

    def append(self, key: str, value: Any) -> list[Any]:
        current = super().append(key, value)
        _ops(self._job).append(["append", key, value])
        return current

    def increment(self, key: str, amount: int | float = 1) -> int | float:
        current = super().increment(key, amount)
        _ops(self._job).append(["increment", key, amount])
        return current


def _ops(job: JobState) -> list[list[Any]]:
    assert isinstance(job, _JobView)
    return job.ops


class _JobView(JobState):
    """The job as a handler on a worker sees it: loaded from the message; what the
    handler changes is applied here and kept in ``ops`` for the driver."""

    def __init__(self, flow_id: str) -> None:
        super().__init__(flow_id)
        self.ops: list[list[Any]] = []

    def update_shared_data(self, key: str, value: Any) -> None:
        super().update_shared_data(key, value)
        self.ops.append(["set", key, value])

    def update_routine_state(self, routine_id: str, state: dict[str, Any]) -> None:
        super().update_routine_state(routine_id, state)
        self.ops.append(["state", routine_id, dict(state)])

    def append_to_shared_log(self, entry: dict[str, Any]) -> None:
        super().append_to_shared_log(entry)
        self.ops.append(["log", dict(entry)])

    def send_output(self, routine_id: str, output_type: str, data: dict[str, Any]) -> None:
        self.ops.append(["output", routine_id, output_type, data])

    def get_channel(self) -> Channel:
        return _RecordingChannel(self)


class _WorkerJob:
    """The job a worker's frame belongs to (the model's RunningJob protocol)."""

    def __init__(self, flow: Flow, job_state: JobState) -> None:
        self.flow = flow
        self.job_state = job_state

    def routine_id_of(self, routine: Routine) -> str | None:
        return self.flow._routine_ids.get(id(routine))

    def contains(self, slot: Slot) -> bool:
        return slot.routine is not None and self.routine_id_of(slot.routine) is not None

    def emit(self, frame: Frame, routine_id: str, event: Event, data: dict[str, Any]) -> None:
        held = frame.held
        if held is None:
            raise _unsupported("an emission after the handler returned")
        held.append((routine_id, event, data, time()))

    def emit_now(self, frame: Frame, routine_id: str, event: Event, data: dict[str, Any]) -> None:
        raise _unsupported("emit_now (a streaming source runs in the driver's process)")

    async def emit_now_async(
        self, frame: Frame, routine_id: str, event: Event, data: dict[str, Any]
    ) -> None:
        raise _unsupported("emit_now (a streaming source runs in the driver's process)")

    def deliver(self, frame: Frame, slot: Slot, data: dict[str, Any]) -> None:
        held = frame.held
        if held is None:
            raise _unsupported("Slot.receive after the handler returned")
        held.append(("", slot, data, 0.0))

    def slot_buffer(self, slot: Slot) -> Any:
        raise _unsupported("reading a slot's merge buffer")

    def set_slot_buffer(self, slot: Slot, buffer: Any) -> None:
        raise _unsupported("replacing a slot's merge buffer")


def _unsupported(what: str) -> ConfigurationError:
    return ConfigurationError(f"{what} is not available to a handler run by a Redis worker")


def _decoded_items(values: Any, path: str) -> dict[str, Any]:
    if type(values) is not dict:
        raise SerializationError(f"{path} is not an object")
    return {key: decode_value(value, f"{path}.{key}") for key, value in values.items()}


def _slot_of(flow: Flow, routine_id: Any, slot_name: Any) -> Slot:
    routine = flow.routines.get(routine_id) if isinstance(routine_id, str) else None
    if routine is None:
        raise RoutineNotFoundError(f"flow '{flow.flow_id}' has no routine {routine_id!r}")
    slot = routine.get_slot(slot_name) if isinstance(slot_name, str) else None
    if slot is None:
        raise SlotNotFoundError(f"routine '{routine_id}' has no slot {slot_name!r}")
    return slot


def run_message(
    flow: Flow, message: Any, loop: asyncio.AbstractEventLoop | None = None
) -> dict[str, Any]:
    """Run the activation of ``message`` (a decoded activation message) with ``flow``'s
    handler; returns the reply. ``loop`` runs an ``async def`` handler (a new one is
    made if None).

    The handler's exception is reported in the reply; a message that cannot be run
    (foreign, damaged, naming what the flow lacks) raises.

    Raises:
        SerializationError, ConfigurationError: the message cannot be run.
    """
    if type(message) is not dict or message.get("protocol") != PROTOCOL:
        raise SerializationError(f"not an activation message of protocol {PROTOCOL}")
    job = _JobView(flow.flow_id)
    job.job_id = str(message["job"])
    job.shared_data.update(_decoded_items(message.get("shared"), "$.shared"))
    job.routine_states.update(_decoded_items(message.get("states"), "$.states"))
    job._results.update(_decoded_items(message.get("results"), "$.results"))
    slot = _slot_of(flow, message.get("routine"), message.get("slot"))
    data = decode_value(message.get("data"), "$.data")
    routine_id = str(message["routine"])
    running = _WorkerJob(flow, job)
    info = SlotInfo(
        running, slot.routine, routine_id, slot, -1, ExecutionContext(flow, job, routine_id)
    )
    frame = Frame(info)
    frame.held = []
    before_shared = dict(message["shared"])
    before_states = dict(message["states"])
    context = contextvars.copy_context()
    reply: dict[str, Any] = {"protocol": PROTOCOL, "id": message["id"]}
    reply["attempt"] = message.get("attempt")
    # The handler's span, when this worker traces and the driver's span came along.
    span = observe.worker_started(message, context) if "traceparent" in message else None
    try:
        result = context.run(_call, frame, slot, data, bool(message.get("merged")))
        if inspect.isawaitable(result):
            result = _await(result, context, frame, loop)
    except Exception as exc:
        reply["error"] = _described(exc)
    else:
        try:
            reply["result"] = encode_value(result, "$.result")
        except SerializationError as exc:
            reply["error"] = _described(exc)
        else:
            reply["held"] = _encoded_held(frame.held, running)
    try:
        reply["ops"] = _changes(job, before_shared, before_states)
    except SerializationError as exc:  # its changes cannot travel: none is committed
        reply.pop("held", None)
        reply.pop("result", None)
        reply["error"] = _described(exc)
        reply["ops"] = []
    if span is not None:
        observe.worker_finished(span, reply.get("error"))
    return reply


def _call(frame: Frame, slot: Slot, data: Any, merged: bool) -> Any:
    current_frame.set(frame)
    return slot._call_merged(data) if merged else slot._invoke(data)


def _await(
    awaitable: Any,
    context: contextvars.Context,
    frame: Frame,
    loop: asyncio.AbstractEventLoop | None,
) -> Any:
    async def run() -> Any:
        current_frame.set(frame)
        return await awaitable

    own = loop is None
    loop = loop or asyncio.new_event_loop()
    try:
        if sys.version_info >= (3, 11):
            task = loop.create_task(run(), context=context)
        else:
            task = context.run(loop.create_task, run())
        return loop.run_until_complete(task)
    finally:
        if own:
            loop.close()


def _described(exc: BaseException) -> dict[str, Any]:
    kind = type(exc)
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable message>"
    return {
        "module": kind.__module__,
        "type": kind.__qualname__,
        "message": message,
        "traceback": "".join(traceback.format_exception(kind, exc, exc.__traceback__)),
    }


def _encoded_held(held: Any, running: _WorkerJob) -> list[list[Any]]:
    """Emissions and records, in order, by name (the driver finds them in its flow)."""
    encoded: list[list[Any]] = []
    for index, (routine_id, target, data, moment) in enumerate(held or ()):
        path = f"$.held[{index}]"
        if isinstance(target, RecordName):
            encoded.append(["record", routine_id, str(target), encode_value(data, path), moment])
        elif isinstance(target, Event):
            encoded.append(["emit", routine_id, target.name, encode_value(data, path), moment])
        else:  # a Slot.receive
            owner = running.routine_id_of(target.routine) if target.routine else None
            encoded.append(["deliver", owner, target.name, encode_value(data, path), moment])
    return encoded


def _changes(
    job: _JobView, before_shared: dict[str, Any], before_states: dict[str, Any]
) -> list[list[Any]]:
    """The handler's operations, then what it changed in place without one (a dict of
    the job's changed directly), as ``set``/``delete``/``state`` operations; values
    encoded."""
    ops: list[list[Any]] = []
    touched_keys = set()
    touched_states = set()
    for op in job.ops:
        kind = op[0]
        if kind in ("set", "append"):
            touched_keys.add(op[1])
            ops.append([kind, op[1], encode_value(op[2], f"$.shared_data.{op[1]}")])
        elif kind in ("delete", "increment"):
            touched_keys.add(op[1])
            ops.append(op)
        elif kind == "state":
            touched_states.add(op[1])
            ops.append(["state", op[1], encode_value(op[2], f"$.routine_states.{op[1]}")])
        elif kind == "log":
            ops.append(["log", encode_value(op[1], "$.shared_log")])
        else:  # output
            ops.append(["output", op[1], op[2], encode_value(op[3], "$.output_log")])
    with job._lock:
        shared = dict(job.shared_data)
        states = dict(job.routine_states)
    for key, value in shared.items():
        if key not in touched_keys:
            encoded = encode_value(value, f"$.shared_data.{key}")
            if key not in before_shared or _text(before_shared[key]) != _text(encoded):
                ops.append(["set", key, encoded])
    ops.extend(["delete", key] for key in before_shared if key not in shared)
    for routine_id, state in states.items():
        if routine_id not in touched_states:
            encoded = encode_value(state, f"$.routine_states.{routine_id}")
            before = before_states.get(routine_id)
            if before is None or _text(before) != _text(encoded):
                ops.append(["state", routine_id, encoded])
    return ops


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# -- back at the driver ------------------------------------------------------------------


def apply_reply(sent: Sent, reply: dict[str, Any]) -> tuple[Frame, Any]:
    """Apply a worker's reply to the job (its operations, in order) and return what
    completing the activation takes: its frame (emissions held) and its result, or the
    failure marker after the failure was handled (error strategy, retry). Not under the
    machine's lock.

    A reply that cannot be applied is handled as the activation's failure.
    """
    machine = sent.machine
    index, attempt, flags = unpack(sent.meta)
    info = machine.info_for(index)
    frame = Frame(info)
    try:
        _apply_ops(machine.job_state, reply.get("ops") or [])
        error = reply.get("error")
        if error is None:
            result = decode_value(reply.get("result"), "$.result")
            frame.held = _held(machine, reply.get("held") or [])
            if not info.resolved and frame.held:
                machine._resolve(info, frame.held)  # as a handler run in process does
            if machine.watch is not None:
                observe.remote_finished(machine, sent.seq, frame.held)
            return frame, result
        exc: Exception = _exception_of(error, info.routine_id, info.slot.name)
    except Exception as problem:  # a damaged reply: the activation failed
        exc = problem
    machine._attempt_failed(frame, sent.data, attempt, flags, True, sent.seq, sent.kept, exc)
    return frame, _FAILED


def failed_to_send(sent: Sent, exc: Exception) -> tuple[Frame, Any]:
    """The activation could not be sent: it failed with ``exc`` (error strategy,
    retry); returns what completing it takes."""
    machine = sent.machine
    index, attempt, flags = unpack(sent.meta)
    frame = Frame(machine.info_for(index))
    machine._attempt_failed(frame, sent.data, attempt, flags, True, sent.seq, sent.kept, exc)
    return frame, _FAILED


def _apply_ops(job: JobState, ops: list[Any]) -> None:
    channel = job.get_channel()
    for op in ops:
        kind = op[0]
        if kind == "set":
            job.update_shared_data(op[1], decode_value(op[2], f"$.shared_data.{op[1]}"))
        elif kind == "append":
            channel.append(op[1], decode_value(op[2], f"$.shared_data.{op[1]}"))
        elif kind == "increment":
            channel.increment(op[1], op[2])
        elif kind == "delete":
            channel.delete(op[1])
        elif kind == "state":
            job.update_routine_state(op[1], decode_value(op[2], f"$.routine_states.{op[1]}"))
        elif kind == "log":
            job.append_to_shared_log(decode_value(op[1], "$.shared_log"))
        elif kind == "output":
            job.send_output(op[1], op[2], decode_value(op[3], "$.output_log"))
        else:
            raise SerializationError(f"a reply holds the unknown operation {kind!r}")


def _held(machine: JobMachine, entries: list[Any]) -> list[tuple[str, Any, Any, float]]:
    flow = machine.flow
    held: list[tuple[str, Any, Any, float]] = []
    for kind, routine_id, name, data, moment in entries:
        value = decode_value(data, "$.held")
        if kind == "record":
            held.append((routine_id, record_name(name), value, float(moment)))
            continue
        routine = flow.routines.get(routine_id)
        if routine is None:
            raise RoutineNotFoundError(f"a reply names routine {routine_id!r}")
        if kind == "emit":
            event = routine.get_event(name)
            if event is None:
                raise SerializationError(f"a reply names event {name!r} of {routine_id!r}")
            held.append((routine_id, event, value, float(moment)))
        else:
            slot = routine.get_slot(name) if isinstance(name, str) else None
            if slot is None:
                raise SlotNotFoundError(f"a reply names slot {name!r} of {routine_id!r}")
            held.append((routine_id, flow._slot_index(slot), value, 0.0))
    return held


def _exception_of(error: Any, routine_id: str, slot_name: str) -> Exception:
    """The exception a handler raised on a worker: of its own class when this process
    has that class imported already (error handlers match on it; nothing is imported
    for a name read from a message), else a :class:`RemoteHandlerError`."""
    if type(error) is not dict:
        raise SerializationError("a reply's error is not an object")
    module = sys.modules.get(str(error.get("module")))
    found: Any = module
    for part in str(error.get("type")).split("."):
        found = getattr(found, part, None) if found is not None else None
    message = str(error.get("message", ""))
    remote = RemoteHandlerError(
        f"{error.get('type')}: {message} (in {routine_id}.{slot_name}, on a worker)",
        type_name=str(error.get("type")),
        traceback_text=str(error.get("traceback", "")),
    )
    if isinstance(found, type) and issubclass(found, Exception):
        try:
            exc = found.__new__(found)
            exc.args = (message,)
            exc.__cause__ = remote
            return exc
        except Exception:
            pass
    return remote

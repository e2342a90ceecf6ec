"""The safe JSON format, for stores and tools.

Everything a job store (or a tool that reads or writes Routilux documents) needs to
turn jobs into JSON-compatible data and back, without touching a private name:

- the format names and version: :data:`JOB_FORMAT`, :data:`FLOW_FORMAT`,
  :data:`VERSION`, :data:`SUPPORTED_VERSIONS`;
- the value codec (tuples, sets, datetimes, registered classes... as tagged objects,
  see :doc:`/formats`): :func:`encode_value`, :func:`decode_value`, and
  :class:`PayloadEncoder`, which encodes each object once per write;
- the parts of a ``routilux.job`` document, so that a store can write a running job
  incrementally: :func:`job_snapshot` (what changes in place), :func:`history_since`
  and :func:`records_since` (what was appended since the previous write),
  :func:`encode_activations` (pending work), and :func:`job_document`, which puts
  parts back together into a document for :meth:`JobState.deserialize
  <routilux.JobState.deserialize>`; :func:`decode_activations` reads pending work back;
- the same rows and activations kept by column, much cheaper to write in bulk:
  :func:`compact_history` and :func:`compact_activations`, read back with
  :func:`expand_history` and :func:`expand_activations`.

A store that writes whole documents needs none of the parts: ``Checkpoint.document()``
in a checkpointer's ``capture``, and ``job_state.serialize()`` in ``job_settled``, give
the complete document.

Caveats: the part functions read the job as it is when they are called. Call them
where the job is quiet -- in :meth:`Checkpointer.capture
<routilux.stores.Checkpointer.capture>`, in :meth:`JobStore.job_settled
<routilux.stores.JobStore.job_settled>`, or on a paused or finished job -- so that
parts taken one after the other agree with each other. Each takes the job's locks
itself (a store needs no lock of the job's). The history's and lists' positions are
absolute: a store remembers how many it wrote and asks for those since.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import routilux._compact as _compact
import routilux._job_document as _impl
from routilux._documents import FLOW_FORMAT, JOB_FORMAT, SUPPORTED_VERSIONS, VERSION
from routilux._values import decode_value, encode_payload, encode_value
from routilux.exceptions import InvalidPayloadError
from routilux.job_state import JobState

if TYPE_CHECKING:
    from routilux.activation import Activation

__all__ = [
    "FLOW_FORMAT",
    "JOB_FORMAT",
    "RECORD_KINDS",
    "RECORD_MARK",
    "SUPPORTED_VERSIONS",
    "VERSION",
    "Encoder",
    "PayloadEncoder",
    "compact_activations",
    "compact_history",
    "decode_activations",
    "decode_value",
    "encode_activations",
    "encode_value",
    "expand_activations",
    "expand_history",
    "history_since",
    "job_document",
    "job_snapshot",
    "records_since",
]

#: The append-only lists of a job besides its history, each a list of JSON objects
#: in a job document: ``"shared_log"``, ``"output_log"``, ``"errors"``,
#: ``"pause_points"``.
RECORD_KINDS: tuple[str, ...] = _impl.RECORD_KINDS

#: The fifth item of a history row that is not an emission (a record written with
#: ``JobState.record_execution``, such as the engine's ``start`` and ``completed``).
RECORD_MARK: str = _impl.RECORD_MARK

#: What the ``encode`` arguments take: a function ``(value, path) -> JSON data`` that
#: raises :class:`~routilux.exceptions.SerializationError` naming ``path`` for a value
#: it cannot store (:func:`encode_value`, or a :class:`PayloadEncoder`).
Encoder = _impl.Encode

_MISSING: Any = object()


class PayloadEncoder:
    """:func:`encode_value` that encodes each object once: call it as
    ``encoder(value, path)``.

    A payload usually sits both in the history and in the queue of a running job;
    passing one encoder to :func:`history_since` and :func:`encode_activations` for
    one write encodes it once. A flat dict of JSON scalars (the usual payload) is
    returned as it is, not copied.

    Caveats: make a new encoder for each write, and turn what it returns into JSON
    text before the job goes on: a value changed after it was encoded is not encoded
    again, and the result may be the job's own dict. The encoder keeps the values it
    encoded alive until it is dropped.
    """

    __slots__ = ("_alive", "_cache")

    def __init__(self) -> None:
        self._cache: dict[int, Any] = {}  # id -> encoded
        # The values encoded, kept alive so that no other object gets one of their
        # ids meanwhile. (A list, not (value, encoded) tuples in the dict: a tuple per
        # value would make the garbage collector run, and scan them, again and again.)
        self._alive: list[Any] = []

    def __call__(self, value: Any, path: str = "$") -> Any:
        """``value`` as JSON-compatible data (see :func:`encode_value`).

        Raises:
            SerializationError: for a value that cannot be stored, naming ``path``.
        """
        key = id(value)
        encoded = self._cache.get(key, _MISSING)
        if encoded is _MISSING:
            encoded = self._cache[key] = encode_payload(value, path)
            self._alive.append(value)
        return encoded


def _job(function: str, job_state: Any) -> JobState:
    if not isinstance(job_state, JobState):
        raise InvalidPayloadError(
            f"{function}: job_state must be a JobState, not {type(job_state).__name__}"
        )
    return job_state


def job_snapshot(
    job_state: JobState, *, merge_buffers: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The part of the job's document that changes in place, as a new dict.

    The keys are those of a ``routilux.job`` document (see :doc:`/formats`) except
    ``format``, ``version``, ``execution_history``, the lists of
    :data:`RECORD_KINDS` and ``pending_tasks``: ids, status, timestamps, routine
    states, shared data, deferred events, merge buffers, results, ``history_limit``,
    ``history_dropped`` and the tracker's records. A store may add keys of its own
    to what it stores, and remove them before :func:`job_document`.

    Arguments:
        job_state: the job (read, not changed).
        merge_buffers: the buffers to record instead of the job's own: a running job's
            are the checkpoint's (``Checkpoint.merge_buffers``); a paused job keeps
            its own, which are taken when this is None.

    Raises:
        SerializationError: for data that cannot be stored, naming where it is (as
            ``$.shared_data.key``).
        InvalidPayloadError: ``job_state`` is not a JobState.
    """
    return _impl.job_snapshot(_job("job_snapshot", job_state), merge_buffers)


def history_since(
    job_state: JobState, index: int = 0, *, encode: Encoder = encode_value
) -> tuple[int, list[list[Any]]]:
    """The job's history rows from position ``index`` on, and the position of the
    first row returned.

    Positions are absolute: 0 is the first record the job ever wrote, so a store that
    wrote ``n`` rows asks for ``history_since(job_state, n)``. With a
    ``history_limit``, rows the limit discarded are gone: the first position returned
    is then later than ``index``.

    Each row is a new list ``[routine_id, event_name, data, time]``, ``data`` encoded
    with ``encode`` and ``time`` in seconds since the epoch (a float), with a fifth item
    :data:`RECORD_MARK` for a row that is not an emission. :func:`job_document` takes
    rows in this form (and writes the times as ISO strings).

    Raises:
        SerializationError: for data that cannot be stored, naming the row.
        InvalidPayloadError: ``index`` is not an int >= 0, or ``job_state`` is not a
            JobState.
    """
    return _impl.history_since(_job("history_since", job_state), index, encode)


def records_since(job_state: JobState, kind: str, index: int = 0) -> list[Any]:
    """The entries of the job's list ``kind`` (one of :data:`RECORD_KINDS`) from
    position ``index`` on, encoded (a new list; empty if there are none).

    These lists only grow while a job runs, so a store can append what is new.

    Raises:
        SerializationError: for an entry that cannot be stored, naming it.
        InvalidPayloadError: an unknown ``kind``, an ``index`` that is not an int >= 0,
            or a ``job_state`` that is not a JobState.
    """
    return _impl.records_since(_job("records_since", job_state), kind, index)


def compact_history(job_state: JobState, index: int = 0) -> tuple[int, int, dict[str, Any]]:
    """The rows :func:`history_since` gives, as one JSON object kept by column:
    ``(first position, count, columns)``.

    Made for stores that write many rows at each checkpoint: payloads that are JSON
    data already (scalars, flat dicts of scalars) are checked by column and not copied,
    which costs a fraction of encoding row by row; :func:`expand_history` gives the
    rows back. The object is tagged with a ``"format"`` and a ``"version"``; its
    columns are not meant to be read otherwise.

    Caveats: the columns may hold the job's own payload dicts; turn the object into
    JSON text before the job goes on (in ``capture``).

    Raises:
        SerializationError: for data that cannot be stored, naming the row.
        InvalidPayloadError: ``index`` is not an int >= 0, or ``job_state`` is not a
            JobState.
    """
    job = _job("compact_history", job_state)
    _impl.check_index("compact_history", index)
    return _compact.compact_history(job, index)


def expand_history(columns: Any) -> list[list[Any]]:
    """The history rows of what :func:`compact_history` returned (after a JSON round
    trip), in :func:`history_since`'s form.

    Raises:
        SerializationError: ``columns`` is not such an object, or is damaged.
    """
    return _compact.expand_history(columns)


def compact_activations(activations: Iterable[Activation | Mapping[str, Any]]) -> dict[str, Any]:
    """Activations (a checkpoint's ``pending``, ``job_state.pending_tasks``) as one
    JSON object kept by column; :func:`expand_activations` gives back the objects
    :func:`encode_activations` makes. As for :func:`compact_history`, payloads that
    are JSON data already are not copied: turn the object into text before the job
    goes on.

    Raises:
        SerializationError: for data that cannot be stored, naming it.
    """
    return _compact.compact_activations(activations)


def expand_activations(columns: Any) -> list[dict[str, Any]]:
    """The ``pending_tasks`` objects of what :func:`compact_activations` returned
    (after a JSON round trip); :func:`decode_activations` checks them.

    Raises:
        SerializationError: ``columns`` is not such an object, or is damaged.
    """
    return _compact.expand_activations(columns)


def encode_activations(
    activations: Iterable[Activation | Mapping[str, Any]],
    *,
    path: str = "$.pending_tasks",
    encode: Encoder = encode_value,
) -> list[dict[str, Any]]:
    """Pending activations as the objects of a job document's ``pending_tasks``:
    ``slot_routine_id``, ``slot_name``, ``data`` (encoded with ``encode``),
    ``retry_count``, ``merged``, ``is_entry`` and ``activation_id``.

    Takes :class:`~routilux.activation.Activation` objects (``Checkpoint.pending``
    and ``delayed``, ``job_state.pending_tasks``) or dicts with the same keys as 0.9
    kept them; one without an id gets ``"p<index>"``, the id loading would give it.

    Raises:
        SerializationError: for data that cannot be stored, naming it under ``path``.
    """
    return _impl.encode_pending(activations, path, encode)


def decode_activations(entries: Any, *, path: str = "$.pending_tasks") -> list[Activation]:
    """Objects written by :func:`encode_activations` (a JSON list) as activations,
    checked as loading a job checks them.

    Raises:
        SerializationError: naming the first problem and where it is (``path`` is
            where the list is).
    """
    return _impl.decode_activations(entries, path)


def job_document(
    snapshot: Mapping[str, Any],
    history: Iterable[Sequence[Any]] = (),
    lists: Mapping[str, Sequence[Any]] | None = None,
    pending: Sequence[Mapping[str, Any]] = (),
    *,
    history_dropped: int | None = None,
) -> dict[str, Any]:
    """A ``routilux.job`` document from its parts, for :meth:`JobState.deserialize
    <routilux.JobState.deserialize>`.

    Arguments:
        snapshot: what :func:`job_snapshot` returned (possibly after a JSON round
            trip). Keys that are not part of a job document are kept, and loading
            the document refuses them: remove a store's own keys first.
        history: rows as :func:`history_since` returns them, oldest first.
        lists: the encoded entries of each kind of :data:`RECORD_KINDS`, in order (a
            kind left out is empty).
        pending: activations as :func:`encode_activations` returns them.
        history_dropped: how many older history records are not in ``history``
            (default: the snapshot's count).

    Only the history rows' shape is checked here; ``JobState.deserialize`` checks the
    whole document.

    Raises:
        SerializationError: a history row that is not ``[routine_id, event_name, data,
            time]`` (with an optional :data:`RECORD_MARK`) or whose time cannot be
            written as a date, naming the row (``$.execution_history[3]``).
        InvalidPayloadError: ``lists`` names a kind not in :data:`RECORD_KINDS`.
    """
    return _impl.assemble_job(snapshot, history, lists or {}, pending, history_dropped)

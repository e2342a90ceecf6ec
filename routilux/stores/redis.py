"""A durable store in Redis (the ``routilux[redis]`` extra, redis-py).

Jobs are checkpointed as they run, exactly as :class:`~routilux.stores.SQLiteStore`
checkpoints them (every ``checkpoint_every`` activations or ``checkpoint_interval``
seconds, at a moment when none of the job's activations runs): each write is one Lua
script, so it is applied whole or not at all, and ``Flow.recover(job_id, store)``
continues a job from its last checkpoint in any process that reaches the server.

Each job lives under keys of its own, all sharing one hash tag (``PREFIX:{JOB_ID}:...``)
so that the scripts that touch several of them work on Redis Cluster too:

- ``...:job``, a hash: ``flow_id``, ``status``, ``updated_at`` and ``snapshot`` (routine
  states, shared data and channels, results, counters: JSON text);
- ``...:history``, ``...:records:KIND`` and ``...:pending``, sorted sets of numbered
  batches (``FIRST:COUNT:JSON``, scored by ``FIRST + COUNT``): the history rows, the
  log records (shared log, output log, errors, pause points) and the activations
  still to run;
- ``...:lease``, the owner running the job (``host:pid:token``), with a Redis expiry.

``PREFIX:unfinished`` (a sorted set, not hash-tagged) lists the ids of running and
paused jobs. A job that finishes is given up at once (its lease deleted) and its keys
expire after ``retention`` seconds; nothing else of it is kept. An entry for a job that
was never written (its process died before the first checkpoint) is dropped by
:meth:`RedisStore.unfinished_job_ids` once it is older than a lease and nobody holds
the job's lease.

Values go through the project's safe JSON codec: a tuple stays a tuple, a datetime a
datetime; a stored value that does not decode raises
:class:`~routilux.exceptions.SerializationError` naming the job and the key.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from routilux.documents import RECORD_KINDS
from routilux.exceptions import (
    ConfigurationError,
    InvalidPayloadError,
    JobStateError,
    SerializationError,
    StoreError,
)
from routilux.job_state import FINISHED_STATUSES, PAUSED, RUNNING, JobState
from routilux.stores._incremental import (
    Batch,
    Damaged,
    JobWriter,
    assemble,
    describe,
    dumps,
    write_settled_job,
)
from routilux.stores._incremental import encodable as _encodable
from routilux.stores._leases import LeaseKeeper, LeaseLost, host_name, iso, new_owner, owner_is_gone
from routilux.stores.base import JobStore, check_id

try:
    import redis
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError("RedisStore needs redis-py: pip install 'routilux[redis]'") from exc

__all__ = ["RedisStore"]

logger = logging.getLogger(__name__)

# KEYS: job hash, history, one per record kind, pending, lease.
_KEY_NAMES = ("job", "history", *(f"records:{kind}" for kind in RECORD_KINDS), "pending", "lease")
_LEASE = len(_KEY_NAMES) - 1
_PENDING = _LEASE - 1

# One checkpoint, applied whole: every check comes before the first write (a Lua error
# after a write would leave the writes done so far in place).
_WRITE = """
local owner = redis.call('GET', KEYS[#KEYS])
if owner ~= ARGV[1] then
  if ARGV[3] == '1' then return {'lost', owner or ''} end
  if owner then return {'held', owner, redis.call('PTTL', KEYS[#KEYS])} end
end
local nkeys = #KEYS
if ARGV[11] == '1' then
  redis.call('DEL', KEYS[nkeys])
else
  redis.call('SET', KEYS[nkeys], ARGV[1], 'PX', ARGV[2])
end
redis.call('HSET', KEYS[1], 'flow_id', ARGV[6], 'status', ARGV[5],
           'updated_at', ARGV[4], 'snapshot', ARGV[7])
if ARGV[8] ~= '' then redis.call('ZADD', KEYS[2], ARGV[9], ARGV[8]) end
if tonumber(ARGV[10]) > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[10]) end
local pending = KEYS[nkeys - 1]
if ARGV[13] == '1' then
  redis.call('DEL', pending)
else
  redis.call('ZREMRANGEBYSCORE', pending, '-inf', ARGV[14])
end
if ARGV[15] ~= '' then redis.call('ZADD', pending, ARGV[16], ARGV[15]) end
local kinds = nkeys - 4
for i = 0, kinds - 1 do
  local member = ARGV[17 + 2 * i]
  if member ~= '' then redis.call('ZADD', KEYS[3 + i], ARGV[18 + 2 * i], member) end
end
if ARGV[12] ~= '' then
  for i = 1, nkeys - 1 do redis.call('PEXPIRE', KEYS[i], ARGV[12]) end
end
return {'ok'}
"""

# Claim a lease: taken if nobody holds it, this owner does, or ARGV[3] (an owner the
# caller found dead) does; else the holder and the milliseconds its lease has left.
_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] and owner ~= ARGV[3] then
  return {owner, redis.call('PTTL', KEYS[1])}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {}
"""

# Extend a lease this owner holds; 0 if somebody else (or nobody) holds it now.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# Give up a lease this owner holds.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore(JobStore):
    """Jobs in Redis, checkpointed as they run (see the module documentation).

    Arguments:
        url_or_client: a ``redis://`` (or ``rediss://``, ``unix://``) URL, or a
            ``redis.Redis`` client (either ``decode_responses`` setting works).
        prefix: the first part of every key this store writes (no ``{`` or ``}``);
            stores with different prefixes share a server without seeing each other.
        checkpoint_every: write a checkpoint after at most this many activations.
        checkpoint_interval: ... or after at most this many seconds.
        lease_duration: seconds a claim on a running job lasts without being renewed
            (the store renews it every third of that while the job runs).
        retention: seconds a finished job is kept before Redis deletes it (None: kept
            until deleted by hand).

    Thread safe (redis-py's connection pool). Errors: a server that cannot be reached
    or refuses a command raises :class:`~routilux.exceptions.StoreError` naming the
    server (without its password) and the operation; stored data that is not what
    this store writes raises :class:`~routilux.exceptions.SerializationError` naming
    the job and the key.

    Caveats: leases behave as :class:`~routilux.stores.SQLiteStore`'s (an owner on
    this host whose process died is taken over at once; elsewhere only expiry frees a
    lease), with the expiry kept by the Redis server's clock. A process frozen past its
    lease may finish the handler it was running, but its writes of the job are refused.
    Redis keeps what it acknowledged as durably as it is configured to (``appendonly``,
    ``appendfsync``): with the defaults a server crash can lose the last second.
    """

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        *,
        prefix: str = "routilux",
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 0.05,
        lease_duration: float = 30.0,
        retention: float | None = 7 * 24 * 3600.0,
    ) -> None:
        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int):
            raise ConfigurationError("checkpoint_every must be an int >= 1")
        if checkpoint_every < 1 or not checkpoint_interval >= 0:
            raise ConfigurationError("checkpoint_every must be >= 1 and checkpoint_interval >= 0")
        for name, value in (("lease_duration", lease_duration), ("retention", retention)):
            if name == "retention" and value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 < value < math.inf
            ):
                raise ConfigurationError(f"{name} must be a number of seconds > 0, not {value!r}")
        if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
            raise ConfigurationError(
                f"prefix must be a non-empty str without '{{' or '}}', not {prefix!r}"
            )
        if isinstance(url_or_client, str):
            try:
                self._client: Any = redis.Redis.from_url(url_or_client)
            except ValueError as exc:
                raise ConfigurationError(f"not a Redis URL: {exc}") from exc
            self._own_client = True
            self.location = _without_password(url_or_client)
        elif isinstance(url_or_client, redis.Redis):
            self._client = url_or_client
            self._own_client = False
            kwargs = url_or_client.connection_pool.connection_kwargs
            self.location = f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        else:
            raise ConfigurationError(
                "RedisStore needs a Redis URL or a redis.Redis client, not "
                f"{type(url_or_client).__name__}"
            )
        self.prefix = prefix
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = float(checkpoint_interval)
        self.lease_duration = float(lease_duration)
        self.retention = None if retention is None else float(retention)
        self._host = host_name()
        #: Who this store object is as a lease owner: ``host:pid:token``.
        self.owner = new_owner(self._host)
        self._write_script = self._client.register_script(_WRITE)
        self._claim_script = self._client.register_script(_CLAIM)
        self._renew_script = self._client.register_script(_RENEW)
        self._release_script = self._client.register_script(_RELEASE)
        self._lock = threading.Lock()
        self._writers: dict[str, JobWriter] = {}
        self._leases = LeaseKeeper(
            self, self.lease_duration, self._renew, lambda: self.renew_leases(), logger
        )
        self._closed = False

    def __repr__(self) -> str:
        return f"RedisStore({self.location!r}, prefix={self.prefix!r})"

    # -- keys and I/O -----------------------------------------------------------------

    def _keys(self, job_id: str) -> list[str]:
        base = f"{self.prefix}:{{{job_id}}}"
        return [f"{base}:{name}" for name in _KEY_NAMES]

    def _check_id(self, method: str, argument: str, value: Any, optional: bool) -> None:
        check_id(self, method, argument, value, optional=optional)
        if isinstance(value, str) and not _encodable(value):
            raise InvalidPayloadError(
                f"{type(self).__name__}.{method}: {argument} {value!r} is not valid Unicode "
                "text (it has lone surrogates); no such id can be stored in Redis"
            )

    @property
    def _unfinished(self) -> str:
        return f"{self.prefix}:unfinished"

    @contextmanager
    def _guard(self, operation: str, job_id: str | None = None) -> Iterator[Any]:
        """Use the client; turn redis-py's errors into ours."""
        if self._closed:
            raise StoreError(f"{self!r} is closed: cannot {operation}{_of(job_id)}")
        try:
            yield self._client
        except RedisError as exc:
            raise StoreError(
                f"cannot {operation}{_of(job_id)} in Redis at {self.location}: {describe(exc)}"
            ) from exc
        except UnicodeDecodeError as exc:
            # Bytes this store never wrote (from a decode_responses client, or _text).
            raise SerializationError(
                f"cannot {operation}{_of(job_id)} from {self!r}: the stored data is damaged "
                f"(not UTF-8 text): {describe(exc)}"
            ) from exc

    def close(self) -> None:
        """Stop renewing leases and close the client this store made (a client passed
        in is left open). Leases of jobs still running expire after
        ``lease_duration``."""
        self._leases.close()
        self._closed = True
        if self._own_client:
            self._client.close()

    # -- leases -----------------------------------------------------------------------

    def acquire(self, job_id: str) -> None:
        """Claim the right to run ``job_id`` from this store object (a lease with a
        Redis expiry, renewed while held). An expired lease is gone by itself; one
        whose owner is a dead process of this host is taken over.

        Raises:
            JobStateError: another live owner holds the lease; the message names it and
                when its lease expires.
            InvalidPayloadError: ``job_id`` is not a str.
            StoreError: Redis cannot be reached.
        """
        self._check_id("acquire", "job_id", job_id, False)
        lease = self._keys(job_id)[_LEASE]
        duration = str(int(self.lease_duration * 1000))
        with self._guard("claim the lease of", job_id):
            refused = self._claim_script(keys=[lease], args=[self.owner, duration, ""])
            if refused:
                holder, left = _text(refused[0]), int(refused[1])
                now = time.time()
                expires = now + max(left, 0) / 1000
                if not owner_is_gone(holder, expires, now, self._host):
                    raise JobStateError(
                        f"Job '{job_id}' is being run by {holder} from {self!r}: its lease "
                        f"expires at {iso(expires)} unless renewed. It can be taken over "
                        "once that lease expires, or at once if the owner is a process of "
                        "this host that has died."
                    )
                refused = self._claim_script(keys=[lease], args=[self.owner, duration, holder])
                if refused:
                    raise JobStateError(
                        f"Job '{job_id}' was claimed by {_text(refused[0])} from {self!r} "
                        "while this store took it over"
                    )
        self._leases.hold(job_id)

    def release(self, job_id: str) -> None:
        """Give up this store's lease of ``job_id`` (nothing happens if another owner
        holds it, or nobody does).

        Raises:
            InvalidPayloadError: ``job_id`` is not a str.
            StoreError: Redis cannot be reached (the lease expires all the same).
        """
        self._check_id("release", "job_id", job_id, False)
        self._leases.forget(job_id)
        with self._guard("give up the lease of", job_id):
            self._release_script(keys=[self._keys(job_id)[_LEASE]], args=[self.owner])

    def renew_leases(self) -> list[str]:
        """Extend every lease this store holds to ``lease_duration`` from now; returns
        the ids of jobs whose lease is no longer this store's (their next write will be
        refused). A daemon thread calls it every ``lease_duration / 3`` seconds while
        the store holds any lease.

        Raises:
            StoreError: Redis cannot be reached.
        """
        return self._leases.renew()

    def _renew(self, held: list[str]) -> list[str]:
        """Extend the leases of ``held``; the ids of those no longer this store's."""
        duration = str(int(self.lease_duration * 1000))
        lost = []
        with self._guard("renew the leases"):
            for job_id in held:
                keys = [self._keys(job_id)[_LEASE]]
                if not self._renew_script(keys=keys, args=[self.owner, duration]):
                    lost.append(job_id)
        return lost

    # -- the JobStore interface -------------------------------------------------------

    def job_started(self, job_state: JobState) -> None:
        """Lists the job as unfinished and claims its lease (the run's first checkpoint
        records the job).

        Never raises: if the lease cannot be claimed, the run's first checkpoint,
        written before any activation runs, claims it or fails the job with the reason.
        """
        job_id = job_state.job_id
        try:
            with self._guard("list as unfinished", job_id) as client:
                client.zadd(self._unfinished, {job_id: time.time()})
            self.acquire(job_id)
        except Exception as exc:
            logger.warning(
                "%r could not claim job %s as it started: %s",
                self,
                job_id,
                exc,
                extra={"job_id": job_id},
            )

    def job_settled(self, job_state: JobState) -> None:
        """Writes the job and gives up its lease, in one script; a finished job's keys
        then expire after ``retention`` and it leaves the unfinished list.

        If that write fails, a finished job is still recorded with its final status
        where possible, so that recovery never runs it again.
        """
        job_id = job_state.job_id
        with self._lock:
            writer = self._writers.get(job_id)
            if job_state.status in FINISHED_STATUSES:
                self._writers.pop(job_id, None)
        if writer is None:
            writer = self._writer(job_id)
        write_settled_job(
            self, job_state, writer, self._record_final_status, self._leases.forget, logger
        )

    def _record_final_status(self, job_id: str, status: str) -> None:
        """The last checkpoint's snapshot with the final status and no pending work."""
        with self._guard("read", job_id) as client:
            fields = client.hmget(self._keys(job_id)[0], ["snapshot", "flow_id"])
        if fields[0] is None:
            self.release(job_id)
            return
        try:
            snapshot = json.loads(_text(fields[0]))
            snapshot.update(status=status, pending_from=0, pending_to=0, delayed=[])
        except Exception as exc:
            raise self._damaged(job_id, "job", describe(exc)) from exc
        batch = Batch()
        batch.snapshot = dumps(snapshot)
        batch.status = status
        batch.flow_id = _text(fields[1])
        batch.pending_rewrite = True
        self._write(job_id, batch, True)

    def checkpointer(self, job_state: JobState) -> JobWriter:
        """A checkpointer that writes the job incrementally (see the module docstring)."""
        writer = self._writer(job_state.job_id)
        with self._lock:
            self._writers[job_state.job_id] = writer
        return writer

    def unfinished_job_ids(self, flow_id: str | None = None) -> list[str]:
        """Ids of jobs recorded as running or paused, oldest listing first.

        Raises:
            InvalidPayloadError: ``flow_id`` is neither a str nor None.
            SerializationError: a listed id, status or flow id is not UTF-8 text.
            StoreError: Redis cannot be reached.
        """
        self._check_id("unfinished_job_ids", "flow_id", flow_id, True)
        with self._guard("list the unfinished jobs") as client:
            listed = client.zrange(self._unfinished, 0, -1, withscores=True)
            ids = [_text(member) for member, _ in listed]
            pipe = client.pipeline(transaction=False)
            for job_id in ids:
                keys = self._keys(job_id)
                pipe.hmget(keys[0], ["status", "flow_id"])
                pipe.exists(keys[-1])
            rows = pipe.execute()
            stale_before = time.time() - self.lease_duration
            found = []
            gone = []
            for index, (job_id, (_, listed_at)) in enumerate(zip(ids, listed, strict=True)):
                status, flow = rows[2 * index]
                status = None if status is None else _text(status)
                if status is None:
                    # Never written: a job that is starting (it holds its lease), or one
                    # whose process died before its first checkpoint (nothing to
                    # recover) or whose keys expired. Its first write lists it again.
                    if not rows[2 * index + 1] and listed_at < stale_before:
                        gone.append(job_id)
                    continue
                if status in FINISHED_STATUSES:
                    gone.append(job_id)
                    continue
                if status in (RUNNING, PAUSED) and (flow_id is None or _text(flow) == flow_id):
                    found.append(job_id)
            if gone:
                client.zrem(self._unfinished, *gone)
                self._relist_written(client, gone)
        return found

    def _relist_written(self, client: Any, removed: list[str]) -> None:
        """Lists again those of ``removed`` that a run wrote as unfinished meanwhile.

        A write lists its job after its script ran (``ZADD NX``): if that happened
        between the read above and the ``ZREM``, the status read now is unfinished.
        """
        pipe = client.pipeline(transaction=False)
        for job_id in removed:
            pipe.hget(self._keys(job_id)[0], "status")
        for job_id, status in zip(removed, pipe.execute(), strict=True):
            if status is not None and _text(status) in (RUNNING, PAUSED):
                client.zadd(self._unfinished, {job_id: time.time()}, nx=True)

    def unfinished_jobs(self, flow_id: str | None = None) -> list[JobState]:
        """The jobs :meth:`unfinished_job_ids` lists, loaded (see :meth:`load`)."""
        self._check_id("unfinished_jobs", "flow_id", flow_id, True)
        return super().unfinished_jobs(flow_id)

    def load(self, job_id: str) -> JobState | None:
        """The job as of its last checkpoint (a new JobState), or None.

        Raises:
            InvalidPayloadError: ``job_id`` is not a str.
            SerializationError: the stored job cannot be read back (a damaged or
                missing part); the message names the job and the key.
            StoreError: Redis cannot be reached.
        """
        self._check_id("load", "job_id", job_id, False)
        read = self._read(job_id)
        return None if read is None else read[1]

    def document(self, job_id: str) -> dict[str, Any] | None:
        """The stored job as a ``routilux.job`` document, or None (checked as
        :meth:`load` checks it, with the same errors)."""
        self._check_id("document", "job_id", job_id, False)
        read = self._read(job_id)
        return None if read is None else read[0]

    # -- reading ----------------------------------------------------------------------

    def _read(self, job_id: str) -> tuple[dict[str, Any], JobState] | None:
        keys = self._keys(job_id)
        with self._guard("read", job_id) as client:
            # MULTI/EXEC: every key as of the same moment.
            pipe = client.pipeline(transaction=True)
            pipe.hmget(keys[0], ["snapshot", "status", "flow_id"])
            for key in keys[1:_LEASE]:
                pipe.zrange(key, 0, -1)
            replies = pipe.execute()
        fields = replies[0]
        if fields[0] is None:
            return None
        try:
            snapshot, status, flow = (_text(value) for value in fields)
            row = (snapshot, status, flow)
            history = _batches(replies[1], "history")
            records = [
                (kind, *batch)
                for kind, members in zip(RECORD_KINDS, replies[2:_PENDING], strict=True)
                for batch in _batches(members, f"records:{kind}")
            ]
            pending = _batches(replies[_PENDING], "pending")
            document = assemble(job_id, row, history, records, pending)
        except Damaged as exc:
            raise self._damaged(job_id, None, str(exc)) from None
        except Exception as exc:
            raise self._damaged(job_id, "job", describe(exc)) from exc
        try:
            job = JobState.deserialize(document)
        except SerializationError as exc:
            message = str(exc)
            suffix = f" (at {exc.path})"
            if exc.path is not None and message.endswith(suffix):
                message = message[: -len(suffix)]
            raise SerializationError(
                f"cannot load job '{job_id}' from {self!r}: {message}", exc.path
            ) from exc.__cause__
        except Exception as exc:
            raise self._damaged(job_id, "job", describe(exc)) from exc
        return document, job

    def _damaged(self, job_id: str, key: str | None, message: str) -> SerializationError:
        where = f"key {self._keys(job_id)[0].rpartition(':')[0]}:{key}: " if key else ""
        return SerializationError(
            f"cannot load job '{job_id}' from {self!r}: the stored job is damaged: {where}{message}"
        )

    # -- writing ----------------------------------------------------------------------

    def _writer(self, job_id: str) -> JobWriter:
        return JobWriter(
            job_id, self.checkpoint_every, self.checkpoint_interval, self._counts, self._write
        )

    def _counts(self, job_id: str) -> tuple[int, dict[str, int]]:
        """How many history rows and records of each kind Redis holds for a job."""
        keys = self._keys(job_id)
        with self._guard("read", job_id) as client:
            pipe = client.pipeline(transaction=True)
            for key in keys[1:_PENDING]:
                pipe.zrange(key, -1, -1, withscores=True)
            replies = pipe.execute()
        ends = [int(reply[0][1]) if reply else 0 for reply in replies]
        return ends[0], dict(zip(RECORD_KINDS, ends[1:], strict=True))

    def _write(self, job_id: str, batch: Batch, release: bool) -> None:
        """Commit one checkpoint (``release``: the settled job's last write, which also
        gives up its lease), if this store still owns the job's lease."""
        held = self._leases.holds(job_id)
        finished = batch.status in FINISHED_STATUSES
        expire = "" if not finished or self.retention is None else str(int(self.retention * 1000))
        args: list[Any] = [
            self.owner,
            str(int(self.lease_duration * 1000)),
            "1" if held else "0",
            repr(time.time()),
            batch.status,
            batch.flow_id,
            batch.snapshot,
            *_member(batch.history),
            str(batch.history_keep_from),
            "1" if release else "0",
            expire,
            "1" if batch.pending_rewrite else "0",
            str(batch.pending_from),
            *_member(_pending_batch(batch.pending)),
        ]
        fresh = {kind: (start, count, body) for kind, start, count, body in batch.records}
        for kind in RECORD_KINDS:
            args.extend(_member(fresh.get(kind)))
        with self._guard("write", job_id) as client:
            reply = self._write_script(keys=self._keys(job_id), args=args)
            verdict = _text(reply[0])
            if verdict == "ok":
                if finished:
                    client.zrem(self._unfinished, job_id)
                else:
                    client.zadd(self._unfinished, {job_id: time.time()}, nx=True)
        if verdict == "lost":
            holder = _text(reply[1])
            taker = f"{holder} holds it now" if holder else "nobody holds it now"
            raise LeaseLost(
                f"lease lost: job '{job_id}' was taken over in {self!r} ({taker}); this "
                "store no longer runs it, and its writes of the job are refused"
            )
        if verdict == "held":
            expires = time.time() + max(int(reply[2]), 0) / 1000
            raise JobStateError(
                f"Job '{job_id}' is being run by {_text(reply[1])} from {self!r}: its lease "
                f"expires at {iso(expires)} unless renewed"
            )
        if release:
            self._leases.forget(job_id)
        else:
            self._leases.hold(job_id)


def _text(value: Any) -> str:
    """A reply as text (clients made with or without ``decode_responses``)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _member(part: tuple[int, int, str] | None) -> tuple[str, str]:
    """``(member, score)`` of a numbered batch ``(first, count, JSON)``, or two empty
    strings for none."""
    if part is None:
        return "", ""
    first, count, body = part
    return f"{first}:{count}:{body}", str(first + count)


def _pending_batch(part: tuple[int, int, str] | None) -> tuple[int, int, str] | None:
    """The batch's pending part ``(first, last, JSON)`` as ``(first, count, JSON)``."""
    if part is None:
        return None
    first, last, body = part
    return first, last - first + 1, body


def _batches(members: list[Any], key: str) -> list[tuple[int, int, str]]:
    """Stored ``FIRST:COUNT:JSON`` members as batches ordered by position."""
    batches = []
    for member in members:
        try:
            text = _text(member)
        except UnicodeDecodeError:
            raise Damaged(key, f"a member starts {member[:40]!r}, not UTF-8 text") from None
        first, _, rest = text.partition(":")
        count, _, body = rest.partition(":")
        if not (first.isdigit() and count.isdigit()):
            raise Damaged(key, f"a member starts {text[:40]!r}, not FIRST:COUNT:")
        batches.append((int(first), int(count), body))
    batches.sort(key=lambda batch: (batch[0], batch[1]))
    return batches


def _of(job_id: str | None) -> str:
    return "" if job_id is None else f" job '{job_id}'"


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))

"""Handlers run by worker processes, through Redis Streams (the ``routilux[redis]`` extra).

:class:`RedisRuntime` is the runtime of the process that runs a job (its *driver*):
the job machine stays there -- it decides what runs next, merges slot buffers, handles
errors, retries and pause / resume / cancel, and settles the job, as for any job -- but
every activation is sent to the flow's stream instead of running in a driver's thread.
:class:`Worker` processes (``routilux worker MODULE:FLOW --redis URL``) read the stream
through one consumer group, run the handlers and reply.

Delivery is at least once, effects once: a worker acknowledges an activation only in
the atomic commit (a Lua script) that writes its reply -- emissions, result or error,
and its changes to the job -- and only while it still holds the activation's lease (it
is the entry's owner in the group, renewed while the handler runs). A worker that died
or froze loses its activations to the others' reclaim loop once its lease is over, and
its late commit is refused. An activation delivered ``max_deliveries`` times without a
commit goes to the flow's dead-letter stream and fails (the job follows its error
strategy); so does every attempt whose handler raised (recorded with its error) and
every message a worker cannot read.

All keys share one hash tag (``{prefix}``): the scripts work on a Redis Cluster, where
the runtime's keys live on one shard.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from routilux._flow_paths import flow_from_path as find_flow
from routilux.exceptions import (
    ConfigurationError,
    InvalidPayloadError,
    SerializationError,
    StoreError,
)
from routilux.runtimes._remote import (
    PROTOCOL,
    Sent,
    _described,
    activation_message,
    apply_reply,
    failed_to_send,
    run_message,
)
from routilux.runtimes.threads import ThreadRuntime

if TYPE_CHECKING:
    import asyncio

    from routilux._engine.machine import JobMachine
    from routilux.flow import Flow
    from routilux.job_state import JobState

__all__ = [
    "GROUP",
    "RedisRuntime",
    "Worker",
    "cancel_job",
    "flow_from_path",
    "pause_job",
    "stream_stats",
]

logger = logging.getLogger("routilux.redis")

#: The consumer group of the workers of a flow's stream.
GROUP = "routilux-workers"

#: Applied replies a driver deletes from its reply stream at once (or fewer, when idle).
_DELETE_REPLIES_EVERY = 64

# Commit an activation's reply: only by the entry's owner, within its lease; the reply,
# the dead letter (if any), the acknowledgement and the entry's deletion at once.
# KEYS: stream, reply stream, dead-letter stream.
# ARGV: group, entry id, consumer, lease (ms), reply JSON ("" for none), dead letter JSON
# ("" for none), how many dead letters to keep (about).
_COMMIT = """
local owned = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
if #owned == 0 then return 'lost' end
if tonumber(owned[1][3]) > tonumber(ARGV[4]) then return 'expired' end
if ARGV[5] ~= '' then redis.call('XADD', KEYS[2], '*', 'r', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'd', ARGV[6]) end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 'ok'
"""

# Renew the leases of entries this consumer still owns within their lease (their idle
# time goes back to 0); returns the ids it no longer holds.
# KEYS: stream. ARGV: group, consumer, lease (ms), entry ids...
_RENEW = """
local lost = {}
for i = 4, #ARGV do
  local owned = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #owned == 1 and tonumber(owned[1][3]) <= tonumber(ARGV[3]) then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    table.insert(lost, ARGV[i])
  end
end
return lost
"""

# Hand entries this consumer owns back to the others at once (a worker shutting down):
# their idle time is set past the lease, so the next reclaim takes them.
# KEYS: stream. ARGV: group, consumer, idle (ms), entry ids...
_HAND_BACK = """
for i = 4, #ARGV do
  local owned = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #owned == 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'JUSTID')
  end
end
return 'ok'
"""


# Forget a job's driver if it is still this one (a job resumed elsewhere has another).
# KEYS: the drivers hash. ARGV: job id, reply stream.
_FORGET_DRIVER = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 'ok'
"""


def _redis() -> Any:
    try:
        import redis
    except ImportError:  # pragma: no cover - the extra is installed in tests
        raise ConfigurationError(
            "the Redis runtime needs redis-py: pip install 'routilux[redis]'"
        ) from None
    return redis


def _client_of(url_or_client: Any) -> Any:
    redis = _redis()
    if isinstance(url_or_client, str):
        return redis.Redis.from_url(url_or_client)
    if isinstance(url_or_client, redis.Redis):
        return url_or_client
    raise ConfigurationError(
        f"expected a redis:// URL or a redis.Redis client, not {type(url_or_client).__name__}"
    )


def _check_prefix(prefix: Any) -> str:
    if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
        raise ConfigurationError(f"prefix must be a non-empty str without braces, not {prefix!r}")
    return prefix


def _keys(prefix: str, flow_id: str) -> tuple[str, str]:
    """The flow's activation stream and dead-letter stream."""
    return f"{{{prefix}}}:activations:{flow_id}", f"{{{prefix}}}:dead:{flow_id}"


def _drivers_key(prefix: str) -> str:
    """Job id -> the reply stream its driver reads, for the jobs being driven."""
    return f"{{{prefix}}}:drivers"


def _quietly(call: Callable[..., Any], job_state: JobState, reason: str) -> None:
    try:
        call(job_state, reason)
    except Exception as exc:  # the job finished meanwhile, or was paused already
        logger.info(
            "a pause or cancel from another process did nothing: %s",
            exc,
            extra={"job_id": job_state.job_id},
        )


def _stats_key(prefix: str, flow_id: str) -> str:
    """The flow's counters kept by its workers (a hash: ``redeliveries``)."""
    return f"{{{prefix}}}:stats:{flow_id}"


def _ensure_group(client: Any, stream: str) -> None:
    redis = _redis()
    try:
        client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.exceptions.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _reconnecting(
    stopping: threading.Event, timeout: float, call: Callable[..., Any], *args: Any
) -> Any:
    """``call(*args)``, again after a connection error until ``timeout`` seconds have
    passed (waiting longer each time; a set ``stopping`` ends the waiting)."""
    redis = _redis()
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return call(*args)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            if time.monotonic() + delay > deadline or stopping.is_set():
                raise
            stopping.wait(delay)
            delay = min(delay * 2, 1.0)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class RedisRuntime(ThreadRuntime):
    """Sends every activation of the flow's jobs to worker processes through Redis
    (see the module documentation and :doc:`/guide/runtimes`).

    Arguments:
        url_or_client: a ``redis://`` URL or a ``redis.Redis`` client.
        prefix: the hash tag of every key the runtime and its workers use.
        pool_size: threads for drivers (see :class:`ThreadRuntime`).
        reconnect_timeout: seconds an activation waits to be sent while Redis cannot be
            reached (restarted, failing over) before it fails.

    The jobs' state lives in this process; pass a :class:`~routilux.stores.RedisStore`
    as the flow's store to have it recorded in Redis too (and recovered after this
    process dies). Replies come back on a stream of this runtime object's own, read by
    one thread with a blocking read. One runtime may serve several flows. Thread safe.

    Caveats: a handler on a worker reads the job's shared data, routine states and
    results as they were when its activation was sent; its changes reach the job when
    it commits (``increment`` and ``append`` as such, so concurrent ones all count; the
    values they return are the worker's view). ``emit_now``, ``Slot.receive`` after a
    handler returned, and reading or replacing merge buffers are not available there.
    """

    runs_elsewhere = True

    def __init__(
        self,
        url_or_client: Any,
        *,
        prefix: str = "routilux",
        pool_size: int | None = None,
        name: str = "routilux-redis",
        reconnect_timeout: float = 30.0,
    ) -> None:
        super().__init__(pool_size, name)
        self.reconnect_timeout = reconnect_timeout
        self.prefix = _check_prefix(prefix)
        self.client = _client_of(url_or_client)
        self.replies = f"{{{self.prefix}}}:replies:{uuid.uuid4().hex}"
        self._drivers = _drivers_key(self.prefix)
        self._forget_script = self.client.register_script(_FORGET_DRIVER)
        self._sent: dict[tuple[str, int], Sent] = {}
        # Jobs this runtime drives that another process may pause or cancel, by id.
        self._jobs: dict[str, JobMachine] = {}
        self._lock = threading.Lock()
        self._groups: set[str] = set()
        self._reader: threading.Thread | None = None
        self._reader_ident: int | None = None
        # Activations the reply thread queued while it applied replies: sent with its
        # next read (only that thread touches this list).
        self._outbox: list[tuple[str, dict[str, str], tuple[str, int], Sent]] = []
        self._stopping = threading.Event()

    # -- sending ----------------------------------------------------------------------

    def _hand_off(
        self,
        machine: JobMachine,
        meta: int,
        data: Any,
        seq: int,
        kept: str | None,
        *,
        here: bool = False,
    ) -> None:
        try:
            message, sent = activation_message(machine, meta, data, seq, kept)
        except Exception as exc:
            sent = Sent(machine, meta, data, seq, kept, machine.activation_id(seq, kept), 0)
            self.completed_async(machine, *failed_to_send(sent, exc))
            return
        key = (sent.activation_id, sent.attempt)
        stream, _ = _keys(self.prefix, machine.flow.flow_id)
        with self._lock:
            self._sent[key] = sent
        try:
            self._start_reader()
            self._announce(machine)
            fields = {"a": json.dumps(message), "reply": self.replies}
            if stream not in self._groups:
                _reconnecting(
                    self._stopping, self.reconnect_timeout, _ensure_group, self.client, stream
                )
                self._groups.add(stream)
        except Exception as exc:
            self._not_sent(stream, key, sent, exc)
            return
        if threading.get_ident() == self._reader_ident:
            # Sent with the reply thread's next read, in one round trip (this thread
            # reads the reply that queued it; the read comes next).
            self._outbox.append((stream, fields, key, sent))
            return
        self._send_or_fail(stream, fields, key, sent)

    def _send_or_fail(
        self, stream: str, fields: dict[str, str], key: tuple[str, int], sent: Sent
    ) -> None:
        """Send an activation (again after a connection error, within
        ``reconnect_timeout``); one that cannot be sent fails as its handler would."""
        try:
            _reconnecting(self._stopping, self.reconnect_timeout, self.client.xadd, stream, fields)
        except Exception as exc:
            self._not_sent(stream, key, sent, exc)

    def _not_sent(self, stream: str, key: tuple[str, int], sent: Sent, exc: Exception) -> None:
        with self._lock:
            self._sent.pop(key, None)
        problem = StoreError(f"could not send an activation to {stream}: {exc}")
        self.completed_async(sent.machine, *failed_to_send(sent, problem))

    def _announce(self, machine: JobMachine) -> None:
        """Record where the job's driver reads (for :func:`cancel_job` and
        :func:`pause_job` from other processes), once per run of the job."""
        job_id = machine.job_state.job_id
        with self._lock:
            if self._jobs.get(job_id) is machine:
                return
            self._jobs[job_id] = machine
        _reconnecting(
            self._stopping,
            self.reconnect_timeout,
            self.client.hset,
            self._drivers,
            job_id,
            self.replies,
        )
        machine.on_settle(machine.settle_count, lambda: self._forget(job_id, machine))

    def _forget(self, job_id: str, machine: JobMachine) -> None:
        with self._lock:
            if self._jobs.get(job_id) is not machine:
                return
            del self._jobs[job_id]
        try:
            self._forget_script(keys=[self._drivers], args=[job_id, self.replies])
        except Exception as exc:  # an entry left behind names a stream nobody reads
            logger.warning(
                "could not forget the driver of job %s: %s", job_id, exc, extra={"job_id": job_id}
            )

    def _control(self, text: Any) -> None:
        """A pause or cancel sent by another process (see :func:`cancel_job`)."""
        try:
            request = json.loads(text)
            job_id, action = str(request["job"]), request["action"]
            reason = str(request.get("reason", ""))
        except (TypeError, ValueError, KeyError) as exc:
            logger.error("a control message on %s cannot be read: %s", self.replies, exc)
            return
        with self._lock:
            machine = self._jobs.get(job_id)
        if machine is None or action not in ("cancel", "pause"):
            return
        flow: Any = machine.flow
        # On a pool thread: a pause waits for the job's activations in flight, whose
        # replies this thread reads.
        self.submit(_quietly, getattr(flow, action), machine.job_state, reason)

    # -- replies ----------------------------------------------------------------------

    def _start_reader(self) -> None:
        if self._reader is not None:
            return
        with self._lock:
            if self._reader is None:
                self._stopping.clear()
                self._reader = threading.Thread(
                    target=self._read_replies, name="routilux-redis-replies", daemon=True
                )
                self._reader.start()

    def _read_replies(self) -> None:
        self._reader_ident = threading.get_ident()
        try:
            self._read_replies_until_stopped()
        finally:
            self._reader_ident = None
            self._flush_outbox()  # best effort: sent, even if no reply is read now

    def _flush_outbox(self) -> None:
        outbox, self._outbox = self._outbox, []
        for item in outbox:
            self._send_or_fail(*item)

    def _read_replies_until_stopped(self) -> None:
        redis = _redis()
        last = "0-0"
        delay = 0.05
        done: list[str] = []
        answer: Any = None
        while not self._stopping.is_set():
            outbox, self._outbox = self._outbox, []
            delete = len(done) >= _DELETE_REPLIES_EVERY or bool(done and not answer)
            try:
                if outbox or delete:
                    # What applying replies queued goes out with the next read, and
                    # applied replies are deleted in batches the same way: one round
                    # trip (a command of its own each would cost a hop a tenth).
                    pipe = self.client.pipeline(transaction=False)
                    for stream, fields, _, _ in outbox:
                        pipe.xadd(stream, fields)
                    if delete:
                        pipe.xdel(self.replies, *done)
                    pipe.xread({self.replies: last}, count=256, block=1000)
                    answer = pipe.execute()[-1]
                    if delete:
                        done = []
                else:
                    answer = self.client.xread({self.replies: last}, count=256, block=1000)
            except redis.exceptions.RedisError as exc:
                # The activations may not have gone out: sent one by one (again after
                # a connection error; the read is retried below).
                for item in outbox:
                    self._send_or_fail(*item)
                logger.warning("reading replies from %s failed: %s", self.replies, exc)
                self._stopping.wait(delay)  # Redis is away: try again, slower each time
                delay = min(delay * 2, 2.0)
                continue
            delay = 0.05
            for _, entries in answer or ():
                for entry_id, fields in entries:
                    last = _text(entry_id)
                    done.append(last)
                    control = fields.get(b"c") or fields.get("c")
                    if control is not None:
                        self._control(control)
                    else:
                        self._apply(fields.get(b"r") or fields.get("r"))

    def _apply(self, text: Any) -> None:
        try:
            reply = json.loads(text)
            key = (str(reply["id"]), int(reply["attempt"]))
        except (TypeError, ValueError, KeyError) as exc:
            logger.error("a reply on %s cannot be read: %s", self.replies, exc)
            return
        with self._lock:
            sent = self._sent.pop(key, None)
        if sent is None:
            return  # not ours to wait for any more (refused commits cannot get here)
        try:
            frame, result = apply_reply(sent, reply)
        except BaseException:
            job_id = sent.machine.job_state.job_id
            logger.exception("applying a reply of job %s failed", job_id, extra={"job_id": job_id})
            self.completed_async(sent.machine, None, None)
            return
        self.completed_async(sent.machine, frame, result)

    def in_flight(self) -> int:
        """Activations sent and not replied to yet."""
        with self._lock:
            return len(self._sent)

    def shutdown(self, wait: bool = True) -> None:
        """Stop reading replies and release the threads (activations still out stay
        unanswered); a new job starts them again."""
        self._stopping.set()
        reader, self._reader = self._reader, None
        if reader is not None and wait:
            reader.join(5)
        with self._lock:
            jobs, self._jobs = list(self._jobs), {}
        with contextlib.suppress(Exception):
            self.client.delete(self.replies)
            for job_id in jobs:
                self._forget_script(keys=[self._drivers], args=[job_id, self.replies])
        super().shutdown(wait)


# -- workers ---------------------------------------------------------------------------


def flow_from_path(path: str) -> Flow:
    """The flow named by ``"package.module:name"`` (``name`` may be dotted): a Flow, or
    a function (or class) that returns one when called with no arguments.

    Raises:
        ConfigurationError: the path is malformed, the module cannot be imported, the
            attribute is missing (the message suggests close names), calling it
            raised, or it is not (and does not return) a Flow.
    """
    return find_flow(path)


class Worker:
    """Runs the handlers of a flow's activations sent by :class:`RedisRuntime` drivers.

    Arguments:
        flow: the same flow as the drivers' (same routines and wiring; found by import
            path in a worker process: see :func:`flow_from_path`).
        url_or_client: a ``redis://`` URL or a ``redis.Redis`` client.
        prefix: the drivers' prefix.
        concurrency: handlers run at once (one thread each); a worker reads an
            activation only when a thread is free.
        lease: seconds an activation stays this worker's without a renewal (renewed
            every third of it while its handler runs); after it, other workers may take
            the activation over and this worker's commit is refused.
        max_deliveries: deliveries without a commit after which an activation goes to
            the dead-letter stream and fails.
        block: seconds a free thread waits in one read (how soon it notices a stop, or
            an activation taken over from a dead worker); by default a quarter of the
            lease, at most 1 s.
        name: the worker's consumer name in the group (default ``host:pid:random``).
        dead_letters: about how many entries the flow's dead-letter stream keeps (the
            oldest are trimmed).

    :meth:`run` serves until :meth:`stop`; :meth:`start` does it in a thread. Thread safe.
    """

    def __init__(
        self,
        flow: Flow,
        url_or_client: Any,
        *,
        prefix: str = "routilux",
        concurrency: int = 4,
        lease: float = 10.0,
        max_deliveries: int = 5,
        block: float | None = None,
        name: str | None = None,
        dead_letters: int = 10_000,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(f"concurrency must be an int >= 1, not {concurrency!r}")
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0:
            raise ConfigurationError(f"lease must be a number of seconds > 0, not {lease!r}")
        if (
            isinstance(max_deliveries, bool)
            or not isinstance(max_deliveries, int)
            or max_deliveries < 1
        ):
            raise ConfigurationError(f"max_deliveries must be an int >= 1, not {max_deliveries!r}")
        self.flow = flow
        self.client = _client_of(url_or_client)
        self.prefix = _check_prefix(prefix)
        self.concurrency = concurrency
        self.lease = float(lease)
        self.max_deliveries = max_deliveries
        self.dead_letters = dead_letters
        self.block = min(1.0, self.lease / 4) if block is None else block
        self.consumer = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stream, self.dead = _keys(self.prefix, flow.flow_id)
        self.stats_key = _stats_key(self.prefix, flow.flow_id)
        self._commit = self.client.register_script(_COMMIT)
        self._renew = self.client.register_script(_RENEW)
        self._hand_back = self.client.register_script(_HAND_BACK)
        self._stop = threading.Event()
        # Never set: a commit keeps trying through a stop (its handler ran).
        self._stop_commits = threading.Event()
        self._lock = threading.Lock()
        self._held: set[str] = set()  # entries this worker owns (running or waiting)
        self._claimed: deque[tuple[str, dict[Any, Any]]] = deque()  # reclaimed, waiting
        self._threads: list[threading.Thread] = []
        #: Counters: ``done``, ``failed`` (handler raised), ``dead`` (dead-lettered),
        #: ``refused`` (commits refused: lease lost), ``reclaimed``.
        self.counts = dict.fromkeys(("done", "failed", "dead", "refused", "reclaimed"), 0)

    def _count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    # -- running ----------------------------------------------------------------------

    def start(self) -> None:
        """Serve in background threads (returns at once)."""
        _ensure_group(self.client, self.stream)
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._serve, name=f"routilux-worker-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        self._threads.append(
            threading.Thread(target=self._keep, name="routilux-worker-keeper", daemon=True)
        )
        for thread in self._threads:
            thread.start()

    def run(self) -> None:
        """Serve until :meth:`stop` is called (from another thread or a signal handler)."""
        self.start()
        self._stop.wait()
        self.join()

    def stop(self, wait: bool = True) -> None:
        """Stop reading; running handlers finish and commit, and activations this
        worker took but did not start are handed back to the others at once."""
        self._stop.set()
        if wait:
            self.join()

    def join(self, timeout: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout)
        waiting = [entry_id for entry_id, _ in self._claimed]
        self._claimed.clear()
        if waiting:
            self._safely(
                self._hand_back,
                keys=[self.stream],
                args=[GROUP, self.consumer, int(self.lease * 1000) + 1, *waiting],
            )

    def _safely(self, script: Callable[..., Any], **arguments: Any) -> Any:
        try:
            return script(**arguments)
        except Exception as exc:
            logger.warning("worker %s: Redis call failed: %s", self.consumer, exc)
            return None

    def _serve(self) -> None:
        redis = _redis()
        loop: asyncio.AbstractEventLoop | None = None
        delay = 0.05
        try:
            while not self._stop.is_set():
                try:
                    entry = self._next()
                except redis.exceptions.RedisError as exc:
                    logger.warning("worker %s: reading failed: %s", self.consumer, exc)
                    self._stop.wait(delay)  # Redis is away: try again, slower each time
                    delay = min(delay * 2, 2.0)
                    continue
                delay = 0.05
                if entry is None:
                    continue
                if loop is None:
                    import asyncio

                    loop = asyncio.new_event_loop()
                self._process(*entry, loop)
        finally:
            if loop is not None:
                loop.close()

    def _next(self) -> tuple[str, dict[Any, Any]] | None:
        with self._lock:
            if self._claimed:
                return self._claimed.popleft()
        answer = self.client.xreadgroup(
            GROUP, self.consumer, {self.stream: ">"}, count=1, block=int(self.block * 1000)
        )
        for _, entries in answer or ():
            for entry_id, fields in entries:
                entry = _text(entry_id)
                with self._lock:
                    self._held.add(entry)
                return entry, fields
        return None

    def _process(
        self, entry_id: str, fields: dict[Any, Any], loop: asyncio.AbstractEventLoop
    ) -> None:
        reply_to = fields.get(b"reply") or fields.get("reply")
        reply: dict[str, Any] | None = None
        dead: dict[str, Any] | None = None
        job_id: str | None = None
        try:
            message = json.loads(fields.get(b"a") or fields.get("a") or b"")
            if type(message) is not dict or message.get("protocol") != PROTOCOL:
                raise SerializationError(f"not an activation message of protocol {PROTOCOL}")
            if message.get("flow") != self.flow.flow_id:
                raise ConfigurationError(
                    f"an activation of flow {message.get('flow')!r} on the stream of "
                    f"flow {self.flow.flow_id!r}"
                )
        except Exception as exc:  # a poison message: nothing can run it
            error = _described(exc)
            dead = {"entry": entry_id, "error": error, "fields": _printable(fields)}
            self._count("dead")
            reply = _failure_reply(fields, error)
        else:
            job_id = str(message.get("job"))
            try:
                reply = run_message(self.flow, message, loop)
            except Exception as exc:  # names what this flow lacks, or damaged
                reply = {
                    "protocol": PROTOCOL,
                    "id": message.get("id"),
                    "attempt": message.get("attempt"),
                    "error": _described(exc),
                }
            if "error" in reply:
                self._count("failed")
                dead = {"entry": entry_id, "activation": message, "error": reply["error"]}
        self._finish(entry_id, reply_to, reply, dead, job_id)

    def _finish(
        self,
        entry_id: str,
        reply_to: Any,
        reply: dict[str, Any] | None,
        dead: dict[str, Any] | None,
        job_id: str | None = None,
    ) -> None:
        try:
            # Retried while Redis cannot be reached, within the lease (a commit that
            # ran but whose answer was lost is refused the second time: nothing twice).
            verdict = _reconnecting(
                self._stop_commits,
                self.lease,
                lambda: self._commit(
                    keys=[self.stream, _text(reply_to) if reply_to else self.dead, self.dead],
                    args=[
                        GROUP,
                        entry_id,
                        self.consumer,
                        int(self.lease * 1000),
                        json.dumps(reply) if reply is not None and reply_to else "",
                        json.dumps(dead) if dead is not None else "",
                        self.dead_letters,
                    ],
                ),
            )
        except Exception as exc:
            # Not committed: the entry stays this worker's until its lease ends, then
            # another worker runs it again.
            logger.warning(
                "worker %s: commit of %s failed: %s",
                self.consumer,
                entry_id,
                exc,
                extra={"job_id": job_id},
            )
            verdict = b"failed"
        finally:
            with self._lock:
                self._held.discard(entry_id)
        if _text(verdict) == "ok":
            self._count("done")
        elif _text(verdict) in ("lost", "expired"):
            self._count("refused")
            logger.warning(
                "worker %s: commit of %s refused (%s: its lease ended)",
                self.consumer,
                entry_id,
                _text(verdict),
                extra={"job_id": job_id},
            )

    # -- leases -----------------------------------------------------------------------

    def _keep(self) -> None:
        """Renew the leases of what this worker holds, and take over what others held
        past theirs, every third of a lease (on a timer: new traffic is not needed)."""
        while not self._stop.wait(self.lease / 3):
            with self._lock:
                held = sorted(self._held)
            if held:
                lost = self._safely(
                    self._renew,
                    keys=[self.stream],
                    args=[GROUP, self.consumer, int(self.lease * 1000), *held],
                )
                for entry in lost or ():
                    logger.warning("worker %s: lost the lease of %s", self.consumer, _text(entry))
            try:
                self._reclaim()
            except Exception as exc:
                logger.warning("worker %s: reclaiming failed: %s", self.consumer, exc)

    def _reclaim(self) -> None:
        free = self.concurrency - len(self._held)
        if free <= 0:
            return
        answer = self.client.xautoclaim(
            self.stream, GROUP, self.consumer, int(self.lease * 1000), "0-0", count=free
        )
        claimed = answer[1] if answer else []
        for entry_id, fields in claimed:
            if fields is None:
                continue
            entry = _text(entry_id)
            deliveries = self._deliveries(entry)
            if deliveries > self.max_deliveries:
                error = {
                    "module": "routilux.exceptions",
                    "type": "RemoteHandlerError",
                    "message": (
                        f"delivered {deliveries} times without a commit (the workers "
                        "running it died or froze)"
                    ),
                    "traceback": "",
                }
                dead = {"entry": entry, "error": error, "fields": _printable(fields)}
                self._count("dead")
                with self._lock:
                    self._held.add(entry)
                self._finish(entry, fields.get(b"reply"), _failure_reply(fields, error), dead)
                continue
            self._count("reclaimed")
            self.client.hincrby(self.stats_key, "redeliveries", 1)
            with self._lock:
                self._held.add(entry)
                self._claimed.append((entry, fields))

    def _deliveries(self, entry: str) -> int:
        rows = self.client.xpending_range(self.stream, GROUP, min=entry, max=entry, count=1)
        return int(rows[0]["times_delivered"]) if rows else 0


def _printable(fields: dict[Any, Any]) -> dict[str, str]:
    return {_text(key): _text(value)[:2000] for key, value in fields.items()}


def _failure_reply(fields: dict[Any, Any], error: dict[str, Any]) -> dict[str, Any] | None:
    """A failure reply for an entry whose message may not be readable (None if it does
    not even name its activation)."""
    try:
        message = json.loads(fields.get(b"a") or fields.get("a") or b"")
        return {
            "protocol": PROTOCOL,
            "id": message["id"],
            "attempt": message["attempt"],
            "error": error,
        }
    except Exception:
        return None


def stream_stats(client_or_url: Any, flow_id: str, *, prefix: str = "routilux") -> dict[str, int]:
    """What a flow's stream holds and went through: ``length`` (entries not yet
    committed), ``pending`` (delivered to a worker, not committed), ``lag`` (not yet
    delivered), ``dead`` (dead-letter entries), ``consumers`` (workers that joined the
    group), ``redeliveries`` (activations taken over from a dead or frozen worker)."""
    client = _client_of(client_or_url)
    stream, dead = _keys(_check_prefix(prefix), flow_id)
    stats = {"length": 0, "pending": 0, "lag": 0, "dead": 0, "consumers": 0, "redeliveries": 0}
    if client.exists(stream):
        stats["length"] = int(client.xlen(stream))
        for group in client.xinfo_groups(stream):
            if _text(group.get("name")) == GROUP:
                stats["pending"] = int(group.get("pending") or 0)
                stats["lag"] = int(group.get("lag") or 0)
                stats["consumers"] = int(group.get("consumers") or 0)
    if client.exists(dead):
        stats["dead"] = int(client.xlen(dead))
    stats["redeliveries"] = int(client.hget(_stats_key(prefix, flow_id), "redeliveries") or 0)
    return stats


def _request(client_or_url: Any, job_id: str, action: str, reason: str, prefix: str) -> bool:
    if not isinstance(job_id, str):
        raise InvalidPayloadError(
            f"{action}_job: job_id must be a str, not {type(job_id).__name__}"
        )
    client = _client_of(client_or_url)
    replies = client.hget(_drivers_key(_check_prefix(prefix)), job_id)
    if replies is None:
        return False
    message = json.dumps({"job": job_id, "action": action, "reason": str(reason)})
    client.xadd(_text(replies), {"c": message})
    return True


def cancel_job(
    client_or_url: Any, job_id: str, reason: str = "", *, prefix: str = "routilux"
) -> bool:
    """Cancel a job run by a :class:`RedisRuntime` in any process, from any process:
    its driver cancels it as ``flow.cancel`` does (queued work dropped; activations in
    flight finish on their workers and their effects are dropped). Returns at once:
    True if a driver of the job was found, False if none drives it (finished, paused,
    or unknown). ``job_state.wait_for_completion()`` in the driver's process waits
    for the end.

    Raises:
        InvalidPayloadError: ``job_id`` is not a str.
    """
    return _request(client_or_url, job_id, "cancel", reason, prefix)


def pause_job(
    client_or_url: Any, job_id: str, reason: str = "", *, prefix: str = "routilux"
) -> bool:
    """Pause a job run by a :class:`RedisRuntime`, from any process (as
    :func:`cancel_job`): its driver pauses it as ``flow.pause`` does; with a
    :class:`~routilux.stores.RedisStore` the paused job can then be resumed in
    another process. Returns whether a driver of the job was found.

    Raises:
        InvalidPayloadError: ``job_id`` is not a str.
    """
    return _request(client_or_url, job_id, "pause", reason, prefix)

"""Who may run a job: lease owners and whether one is gone (the durable stores share it).

An owner is named ``host:pid:token``; the host is qualified by the process-id
namespace on Linux (see :func:`host_name`).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import threading
from collections.abc import Callable
from datetime import datetime

from routilux.exceptions import JobStateError


class LeaseLost(JobStateError):
    """Another owner took over the lease of a job this store was running."""


def new_owner(host: str) -> str:
    """A new owner name for a store object of this process."""
    return f"{host}:{os.getpid()}:{secrets.token_hex(8)}"


def owner_is_gone(owner: str, expires: float, now: float, host: str) -> bool:
    """Whether another owner's lease is over: expired, or its process (of this host)
    has died."""
    if expires < now:
        return True
    head, _, _token = owner.rpartition(":")
    owner_host, _, pid_text = head.rpartition(":")
    if owner_host != host or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    return pid != os.getpid() and not process_alive(pid)


def iso(moment: float) -> str:
    """A time in seconds since the epoch, as local ISO text for messages."""
    return datetime.fromtimestamp(moment).isoformat()


def host_name() -> str:
    """This host's name, qualified on Linux by the process-id namespace, so that
    processes in two containers that share a host name never judge each other's pids
    (their leases then end only by expiring)."""
    name = socket.gethostname().replace(":", "_")
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return name
    return f"{name}+pidns{namespace}"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still exists (a zombie does not count).

    On Windows ``os.kill`` would end the process, so there every process counts as
    alive and only a lease's expiry frees it.
    """
    if sys.platform == "win32" or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists but is not ours to signal
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[:1]
    except OSError:
        return True
    return state not in ([b"Z"], [b"X"])


class LeaseKeeper:
    """The leases one store object holds, and the daemon thread that renews them every
    ``duration / 3`` seconds while it holds any.

    ``renew(job_ids)`` is the store's own renewal: it extends those leases and returns
    the ids whose lease is no longer the store's. It is called without this keeper's
    lock held. The thread calls ``tick()`` (the store's public ``renew_leases``, which
    calls :meth:`renew`). Thread safe.
    """

    def __init__(
        self,
        store: object,
        duration: float,
        renew: Callable[[list[str]], list[str]],
        tick: Callable[[], object],
        log: logging.Logger,
    ) -> None:
        self._tick = tick
        self._store = store
        self._log = log
        self._duration = duration
        self._renew = renew
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._lost: set[str] = set()  # of those, leases renewal found taken over
        self.renewer: threading.Thread | None = None
        self._closing = threading.Event()

    def holds(self, job_id: str) -> bool:
        """Whether the store claimed ``job_id`` and has not given it up."""
        with self._lock:
            return job_id in self._held

    def hold(self, job_id: str) -> None:
        """Remember a claimed lease; start the renewal thread if it is not running."""
        with self._lock:
            self._held.add(job_id)
            self._lost.discard(job_id)
            if self.renewer is None and not self._closing.is_set():
                self.renewer = threading.Thread(
                    target=self._renew_loop,
                    name=f"routilux-leases-{id(self._store):x}",
                    daemon=True,
                )
                self.renewer.start()

    def forget(self, job_id: str) -> None:
        """The store no longer holds the job's lease."""
        with self._lock:
            self._held.discard(job_id)
            self._lost.discard(job_id)

    def renew(self) -> list[str]:
        """Renew every lease held now; returns the ids of those another owner took (a
        warning is logged the first time each is found)."""
        with self._lock:
            held = sorted(self._held)
        if not held:
            return []
        lost = self._renew(held)
        with self._lock:
            lost = [job_id for job_id in lost if job_id in self._held]
            news = [job_id for job_id in lost if job_id not in self._lost]
            self._lost.update(news)
        for job_id in news:
            self._log.warning(
                "%r lost the lease of job %s to another owner",
                self._store,
                job_id,
                extra={"job_id": job_id},
            )
        return lost

    def close(self) -> None:
        """Stop renewing (waits for the renewal thread, unless called from it)."""
        self._closing.set()
        with self._lock:
            renewer = self.renewer
        if renewer is not None and renewer is not threading.current_thread():
            renewer.join()

    def _renew_loop(self) -> None:
        interval = self._duration / 3
        while not self._closing.wait(interval):
            with self._lock:
                if not self._held:
                    self.renewer = None
                    return
            try:
                self._tick()
            except Exception as exc:
                # Retried at the next tick; meanwhile the leases run towards expiry.
                self._log.warning("%r could not renew its leases: %s", self._store, exc)

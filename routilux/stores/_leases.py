"""Who may run a job: lease owners and whether one is gone (the durable stores share it).

An owner is named ``host:pid:token``; the host is qualified by the process-id
namespace on Linux (see :func:`host_name`).
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from datetime import datetime


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

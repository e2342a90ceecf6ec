"""A real Redis server for the tests.

``.ci/run`` starts ``redis-server`` and exports its URL as ``ROUTILUX_TEST_REDIS_URL``.
Without it (the README's test command on a machine of one's own), :func:`server_url`
starts a ``redis-server`` found on the PATH for this test session, on a free loopback
port with a temporary directory and no persistence, and stops it at exit; it exports
the URL the same way, so that child processes of the tests reach the same server.
With neither, the Redis tests are skipped (they say why).

:func:`store_prefix` names a test's keys after a path of its own (``tmp_path``), so
tests sharing a server never see each other's jobs.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from typing import IO

ENV = "ROUTILUX_TEST_REDIS_URL"

_lock = threading.Lock()
_started: subprocess.Popen[str] | None = None


def server_url() -> str | None:
    """The URL of the tests' Redis server (started here if needed), or None."""
    global _started
    with _lock:
        url = os.environ.get(ENV)
        if url:
            return url
        if shutil.which("redis-server") is None:
            return None
        directory = tempfile.mkdtemp(prefix="routilux-redis-")
        process, url = start_server(directory)
        atexit.register(stop_server, process, directory)
        _started = process
        os.environ[ENV] = url
        return url


def start_server(
    directory: str, port: int | None = None, *, appendonly: bool = False
) -> tuple[subprocess.Popen[str], str]:
    """Start a ``redis-server`` in ``directory`` (no persistence, or an append-only file
    synced every second), on ``port`` or a free loopback port; returns it once it
    accepts connections, with its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    port = _free_port() if port is None else port
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            directory,
            "--save",
            "",
            "--appendonly",
            "yes" if appendonly else "no",
            "--daemonize",
            "no",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    _wait_ready(process, process.stdout)
    return process, f"redis://127.0.0.1:{port}/0"


def script_environment(source: str) -> dict[str, str] | None:
    """The environment to run a tutorial script with: for one that reads
    ``ROUTILUX_REDIS_URL``, the tests' server URL in it (None if there is no server);
    for any other, this process's environment."""
    if "ROUTILUX_REDIS_URL" not in source:
        return dict(os.environ)
    url = server_url()
    return None if url is None else {**os.environ, "ROUTILUX_REDIS_URL": url}


def store_prefix(path: object) -> str:
    """A key prefix of this test's own, from a path only it uses."""
    return "t" + hashlib.sha1(str(path).encode()).hexdigest()[:16]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(process: subprocess.Popen[str], output: IO[str]) -> None:
    """Read the server's log until it accepts connections (its own protocol line)."""
    seen = []
    for line in output:
        seen.append(line)
        if "Ready to accept connections" in line:
            # Drain the rest of its log, so that it never blocks on a full pipe.
            threading.Thread(target=output.read, daemon=True).start()
            return
    process.wait()
    raise RuntimeError("redis-server did not start:\n" + "".join(seen[-20:]))


def stop_server(process: subprocess.Popen[str], directory: str | None = None) -> None:
    """Stop a server :func:`start_server` started (and remove its directory)."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)

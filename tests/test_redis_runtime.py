"""issue 10 (items 2-5): handlers run by worker processes through Redis Streams.

Every test runs against a real ``redis-server`` with worker processes started as users
start them (``python -m routilux worker MODULE:FLOW --redis URL``), the flows coming
from ``tests/redis_worker_app.py``. Workers are killed with SIGKILL and frozen with
SIGSTOP; the promises: every job completes with the right output, no activation's
effects are committed twice, a frozen worker's late commit is refused, poison ends in
the dead-letter stream while workers keep serving.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis_worker_app as app
from redis_server import store_prefix

from routilux import Flow
from routilux.exceptions import ConfigurationError
from routilux.runtimes.redis import (
    _DELETE_REPLIES_EVERY,
    GROUP,
    RedisRuntime,
    Worker,
    flow_from_path,
    stream_stats,
)

pytestmark = pytest.mark.timeout(180)

TESTS = Path(__file__).resolve().parent


class Workers:
    """Worker processes of one test (stopped at its end, also on failure)."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self.processes: list[subprocess.Popen[str]] = []
        self.lines: dict[int, queue.Queue[str]] = {}
        self.output: dict[int, list[str]] = {}

    def start(
        self, flow: str, *, concurrency: int = 2, lease: float = 1.0, max_deliveries: int = 5
    ) -> subprocess.Popen[str]:
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(TESTS), str(TESTS.parent), environment.get("PYTHONPATH", "")]
        )
        environment["ROUTILUX_TEST_REDIS_URL"] = self.url
        environment["ROUTILUX_TEST_PREFIX"] = self.prefix
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "routilux",
                "worker",
                f"redis_worker_app:{flow}",
                "--redis",
                self.url,
                "--prefix",
                self.prefix,
                "--concurrency",
                str(concurrency),
                "--lease",
                str(lease),
                "--max-deliveries",
                str(max_deliveries),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
        lines: queue.Queue[str] = queue.Queue()
        self.lines[process.pid] = lines
        self.output[process.pid] = []
        threading.Thread(target=self._read, args=(process, lines), daemon=True).start()
        self.processes.append(process)
        self.expect(process, "serving")
        return process

    def _read(self, process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output[process.pid].append(line)
            lines.put(line)

    def expect(self, process: subprocess.Popen[str], text: str, timeout: float = 30) -> str:
        """Wait for a line of the worker's output holding ``text``."""
        lines = self.lines[process.pid]
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"worker {process.pid} printed no {text!r}: {''.join(self.output[process.pid])}"
                ) from None
            if text in line:
                return line

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGCONT)
                process.terminate()
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture
def prefix(tmp_path: Path) -> str:
    return store_prefix(tmp_path)


@pytest.fixture
def workers(redis_url: str, prefix: str) -> Iterator[Workers]:
    started = Workers(redis_url, prefix)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def client(redis_url: str) -> Any:
    import redis

    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def driver(make: Any, url: str, prefix: str) -> tuple[Flow, RedisRuntime]:
    runtime = RedisRuntime(url, prefix=prefix)
    flow = make()
    flow.runtime = runtime
    runtime.fit(flow.max_workers)
    return flow, runtime


def check_chain_job(job: Any, count: int) -> None:
    assert job.status == "completed", job.errors
    assert job.shared_data["runs"] == count  # each activation's effects exactly once
    assert sorted(job.shared_data["seen"]) == list(range(count))
    assert sorted(job.shared_data["collected"]) == [v * 10 for v in range(count)]
    # The append buffer was merged in the driver, once per delivery.
    assert sorted(job.shared_data["lengths"]) == list(range(1, count + 1))


def test_a_flow_runs_across_two_worker_processes(
    workers: Workers, redis_url: str, prefix: str, client: Any
) -> None:
    workers.start("chain_flow")
    workers.start("chain_flow")
    flow, runtime = driver(app.chain_flow, redis_url, prefix)
    try:
        job = flow.execute("source", {"count": 20})
        check_chain_job(job, 20)
        history = [(r.routine_id, r.event_name) for r in job.get_execution_history()]
        assert history.count(("work", "output")) == 20
        assert history[0] == ("source", "start") and history[-1] == ("source", "completed")
        assert job.get_result("work") in {v * 10 for v in range(20)}
        stats = stream_stats(redis_url, "rt-chain", prefix=prefix)
        assert stats["length"] == 0 and stats["pending"] == 0 and stats["dead"] == 0
        assert stats["consumers"] == 2
    finally:
        runtime.shutdown()
    assert not client.exists(runtime.replies)


def test_retries_and_the_exception_class_come_back_from_workers(
    workers: Workers, redis_url: str, prefix: str
) -> None:
    """The handler's exception is rebuilt as its own class (the driver has it
    imported), so the retry strategy sees it; the retried attempt runs on a worker."""
    workers.start("flaky_flow")
    flow, runtime = driver(app.flaky_flow, redis_url, prefix)
    try:
        job = flow.execute("source", {"count": 3})
        assert job.status == "completed", job.errors
        assert sorted(job.shared_data["collected"]) == [0, 1, 2]
        retries = [r for r in job.get_execution_history() if r.event_name == "retry"]
        assert len(retries) == 3
        assert [job.shared_data[f"tries-{v}"] for v in range(3)] == [2, 2, 2]
    finally:
        runtime.shutdown()


def test_a_handler_that_always_raises_ends_in_the_dead_letter_stream(
    workers: Workers, redis_url: str, prefix: str, client: Any
) -> None:
    worker = workers.start("poison_flow")
    flow, runtime = driver(app.poison_flow, redis_url, prefix)
    try:
        job = flow.execute("source", {"count": 2})
        assert job.status == "completed"  # its error strategy is CONTINUE
        assert [e["error_type"] for e in job.errors] == ["PoisonError", "PoisonError"]
        _, dead = f"{{{prefix}}}:activations:rt-poison", f"{{{prefix}}}:dead:rt-poison"
        letters = client.xrange(dead)
        assert len(letters) == 2
        assert b"PoisonError" in letters[0][1][b"d"]
        # The worker keeps serving.
        again = flow.execute("source", {"count": 1})
        assert again.status == "completed" and len(again.errors) == 1
        assert worker.poll() is None
    finally:
        runtime.shutdown()


def test_a_message_that_does_not_decode_is_dead_lettered_and_the_worker_serves_on(
    workers: Workers, redis_url: str, prefix: str, client: Any
) -> None:
    worker = workers.start("chain_flow")
    stream, dead = f"{{{prefix}}}:activations:rt-chain", f"{{{prefix}}}:dead:rt-chain"
    client.xadd(stream, {"a": b"\xff not json", "reply": "nowhere"})
    client.xadd(stream, {"a": '{"protocol": 99}'})
    flow, runtime = driver(app.chain_flow, redis_url, prefix)
    try:
        check_chain_job(flow.execute("source", {"count": 3}), 3)
        letters = client.xrange(dead)
        assert len(letters) == 2
        assert worker.poll() is None
        assert stream_stats(client, "rt-chain", prefix=prefix)["pending"] == 0
    finally:
        runtime.shutdown()


def test_activations_queued_by_replies_are_sent_again_when_their_round_trip_fails(
    workers: Workers, redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What applying replies queues goes out with the reply thread's next read; when
    that round trip fails (Redis away for a moment), those activations are sent again
    one by one, and the job completes with each activation's effects once."""
    import redis

    workers.start("chain_flow")
    flow, runtime = driver(app.chain_flow, redis_url, prefix)
    failures = [0]
    make_pipeline = runtime.client.pipeline

    class FailingOnce:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.pipe = make_pipeline(*args, **kwargs)
            self.sends = 0

        def xadd(self, *args: Any, **kwargs: Any) -> Any:
            self.sends += 1
            return self.pipe.xadd(*args, **kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.pipe, name)

        def execute(self) -> Any:
            if self.sends and failures[0] < 2:
                failures[0] += 1
                self.pipe.reset()
                raise redis.exceptions.ConnectionError("Redis went away for a moment")
            return self.pipe.execute()

    monkeypatch.setattr(runtime.client, "pipeline", FailingOnce)
    try:
        job = flow.execute("source", {"count": 6})
        check_chain_job(job, 6)
        assert failures[0] >= 1  # the first reply queues the source's six emissions
    finally:
        runtime.shutdown()


def test_many_jobs_from_many_threads_across_three_workers_stay_apart(
    workers: Workers, redis_url: str, prefix: str, client: Any
) -> None:
    """200 jobs of one flow from 10 threads, 3 worker processes: each job's state is
    exactly its own (no cross-talk between jobs); the driver's reply stream keeps only
    the replies not yet deleted in a batch, not the hundreds it read."""
    for _ in range(3):
        workers.start("chain_flow", concurrency=4)
    flow, runtime = driver(app.chain_flow, redis_url, prefix)
    jobs: list[Any] = []
    lock = threading.Lock()

    def run(thread: int) -> None:
        for n in range(20):
            count = 1 + (thread + n) % 4
            job = flow.execute("source", {"count": count})
            with lock:
                jobs.append((job, count))

    try:
        threads = [threading.Thread(target=run, args=(t,)) for t in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(150)
        assert len(jobs) == 200
        for job, count in jobs:
            check_chain_job(job, count)
        assert len({job.job_id for job, _ in jobs}) == 200
        read = sum(count + 1 for _, count in jobs)
        assert client.xlen(runtime.replies) <= _DELETE_REPLIES_EVERY + 256 < read
    finally:
        runtime.shutdown()


def test_a_worker_killed_at_random_moments_loses_no_work_and_commits_nothing_twice(
    workers: Workers, redis_url: str, prefix: str
) -> None:
    """kill -9 of a worker in the middle of activations, at 20 random moments across
    jobs: each job completes with the right output, each activation counted once."""
    random.seed(os.getpid())
    workers.start("chain_flow", concurrency=2, lease=0.5)
    victim = workers.start("chain_flow", concurrency=2, lease=0.5)
    flow, runtime = driver(app.chain_flow, redis_url, prefix)
    kills = 0
    try:
        while kills < 20:
            job = flow.execute("source", {"count": 12, "spin": 0.01}, wait=False)
            # Kill while the job runs: after a random share of its work.
            for _ in range(2):
                if job.wait_for_completion(random.uniform(0.0, 0.06)):
                    break
                victim.kill()
                victim.wait(10)
                kills += 1
                victim = workers.start("chain_flow", concurrency=2, lease=0.5)
            assert job.wait_for_completion(60)
            check_chain_job(job, 12)
    finally:
        runtime.shutdown()


def test_a_frozen_workers_late_commit_is_refused(
    workers: Workers, redis_url: str, prefix: str, client: Any
) -> None:
    frozen = workers.start("gate_flow", concurrency=1, lease=0.5)
    flow, runtime = driver(app.gate_flow, redis_url, prefix)
    try:
        job = flow.execute("source", {"count": 1}, wait=False)
        started = client.blpop([f"{prefix}:started"], timeout=30)
        assert started is not None and started[1].decode().startswith(f"{frozen.pid}:")
        os.kill(frozen.pid, signal.SIGSTOP)
        other = workers.start("gate_flow", concurrency=1, lease=0.5)
        started = client.blpop([f"{prefix}:started"], timeout=30)  # taken over
        assert started is not None and started[1].decode().startswith(f"{other.pid}:")
        client.rpush(f"{prefix}:gate:{other.pid}", "go")
        assert job.wait_for_completion(30)
        check_gate_job(job)
        os.kill(frozen.pid, signal.SIGCONT)
        client.rpush(f"{prefix}:gate:{frozen.pid}", "go")  # it finishes, late
        workers.expect(frozen, "refused")
        check_gate_job(job)  # nothing changed
        assert stream_stats(client, "rt-gate", prefix=prefix)["pending"] == 0
    finally:
        runtime.shutdown()


def check_gate_job(job: Any) -> None:
    assert job.status == "completed", job.errors
    assert job.shared_data["passed"] == 1
    assert job.shared_data["runs"] == 1
    assert job.shared_data["collected"] == [0]


def test_cancel_while_activations_are_in_flight_drops_their_effects(
    workers: Workers, redis_url: str, prefix: str, client: Any
) -> None:
    worker = workers.start("gate_flow", concurrency=2, lease=2.0)
    flow, runtime = driver(app.gate_flow, redis_url, prefix)
    try:
        job = flow.execute("source", {"count": 2}, wait=False)
        for _ in range(2):
            assert client.blpop([f"{prefix}:started"], timeout=30) is not None
        flow.cancel(job, "enough")
        client.rpush(f"{prefix}:gate:{worker.pid}", "go", "go")
        assert job.wait_for_completion(30)
        assert job.status == "cancelled"
        assert "work" not in {r.routine_id for r in job.get_execution_history()}
        assert runtime.in_flight() == 0
    finally:
        runtime.shutdown()


def test_a_worker_refuses_bad_settings_and_paths() -> None:
    with pytest.raises(ConfigurationError, match="concurrency"):
        Worker(app.chain_flow(), "redis://127.0.0.1:1/0", concurrency=0)
    with pytest.raises(ConfigurationError, match="lease"):
        Worker(app.chain_flow(), "redis://127.0.0.1:1/0", lease=0)
    with pytest.raises(ConfigurationError, match="prefix"):
        RedisRuntime("redis://127.0.0.1:1/0", prefix="a{b}")
    with pytest.raises(ConfigurationError, match="MODULE:FLOW"):
        flow_from_path("no_colon")
    with pytest.raises(ConfigurationError, match="cannot import"):
        flow_from_path("no_such_module_here:flow")
    with pytest.raises(ConfigurationError, match="not a Flow"):
        flow_from_path("redis_worker_app:Source")
    assert flow_from_path("redis_worker_app:chain_flow").flow_id == "rt-chain"
    assert GROUP


def test_the_seeds_data_flow_patterns_run_across_two_workers(
    workers: Workers, redis_url: str, prefix: str
) -> None:
    """Shared configuration, accumulating state, typed messages and result dependencies
    (the Graflow seed's patterns), with their handlers spread over two processes."""
    workers.start("patterns_flow")
    workers.start("patterns_flow")
    flow, runtime = driver(app.patterns_flow, redis_url, prefix)
    try:
        job = flow.execute("setup", {"batch_size": 4})
        assert job.status == "completed", job.errors
        assert job.get_result("batcher") == {
            "batches": [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]],
            "processed": 3,
        }
        assert job.get_channel().get("total") == 3 * 1101  # three batches, every size
        assert job.get_result("metrics") == {"count": 3, "status": "ok"}
    finally:
        runtime.shutdown()


def test_a_job_paused_in_one_process_is_resumed_in_another(
    workers: Workers, redis_url: str, prefix: str, client: Any
) -> None:
    from routilux.stores import RedisStore

    worker = workers.start("gate_flow", concurrency=2)
    flow, runtime = driver(app.gate_flow, redis_url, prefix)
    flow.store = RedisStore(redis_url, prefix=prefix)
    try:
        job = flow.execute("source", {"count": 2}, wait=False)
        for _ in range(2):
            assert client.blpop([f"{prefix}:started"], timeout=30) is not None
        # The pause returns once nothing of the job runs: let the two gates finish.
        pauser = threading.Thread(target=flow.pause, args=(job, "later"))
        pauser.start()
        client.rpush(f"{prefix}:gate:{worker.pid}", "go", "go")
        pauser.join(30)
        assert not pauser.is_alive()
        assert job.status == "paused"
        assert len(job.pending_tasks) == 2  # the two work activations, parked
    finally:
        runtime.shutdown()
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)]),
        "ROUTILUX_TEST_REDIS_URL": redis_url,
        "ROUTILUX_TEST_PREFIX": prefix,
    }
    resumed = subprocess.run(
        [sys.executable, "-c", "import redis_worker_app as a; a.resume_main()", job.job_id],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines() == [
        "loaded paused with 2 pending",
        "resumed: completed passed=2 collected=[0, 10]",
    ]


def test_a_redis_restart_while_a_job_runs_does_not_stop_it(prefix: str, tmp_path: Path) -> None:
    """Redis (appendonly yes) is restarted in the middle of a job: the workers and the
    driver reconnect, and the job completes with every activation counted once."""
    from redis_server import start_server, stop_server

    directory = str(tmp_path / "redis")
    os.mkdir(directory)
    server, url = start_server(directory, appendonly=True)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    workers = Workers(url, prefix)
    runtime = None
    try:
        workers.start("chain_flow", concurrency=2, lease=2.0)
        workers.start("chain_flow", concurrency=2, lease=2.0)
        flow, runtime = driver(app.chain_flow, url, prefix)
        job = flow.execute("source", {"count": 30, "spin": 0.03}, wait=False)
        assert not job.wait_for_completion(0.15)
        stop_server(server)
        server, _ = start_server(directory, port, appendonly=True)
        assert job.wait_for_completion(60)
        check_chain_job(job, 30)
    finally:
        if runtime is not None:
            runtime.shutdown()
        workers.stop_all()
        stop_server(server)


def test_a_worker_stopped_with_sigterm_finishes_its_handler_first(
    workers: Workers, redis_url: str, prefix: str, client: Any
) -> None:
    stopping = workers.start("gate_flow", concurrency=1)
    flow, runtime = driver(app.gate_flow, redis_url, prefix)
    try:
        job = flow.execute("source", {"count": 1}, wait=False)
        assert client.blpop([f"{prefix}:started"], timeout=30) is not None
        stopping.terminate()
        client.rpush(f"{prefix}:gate:{stopping.pid}", "go")
        assert stopping.wait(30) == 0
        assert "'done': 2" in workers.expect(stopping, "stopped")  # source and gate
        workers.start("gate_flow", concurrency=1)  # for the rest of the job
        assert job.wait_for_completion(30)
        check_gate_job(job)
    finally:
        runtime.shutdown()


def test_finished_jobs_leave_nothing_behind_but_their_expiring_record(
    workers: Workers, redis_url: str, prefix: str, client: Any
) -> None:
    from routilux.stores import RedisStore

    workers.start("chain_flow")
    flow, runtime = driver(app.chain_flow, redis_url, prefix)
    flow.store = RedisStore(redis_url, prefix=prefix, retention=30.0)
    try:
        check_chain_job(flow.execute("source", {"count": 5}), 5)
    finally:
        runtime.shutdown()
    keys = {key.decode() for key in client.scan_iter(match=f"*{prefix}*")}
    stream = f"{{{prefix}}}:activations:rt-chain"
    assert stream in keys and client.xlen(stream) == 0  # the flow's stream, empty
    for key in keys - {stream, f"{prefix}:unfinished"}:
        assert 0 < client.pttl(key) <= 30_000, key  # the job's record, expiring


def test_the_stats_command_shows_dead_letters_and_redeliveries(
    workers: Workers, redis_url: str, prefix: str, client: Any
) -> None:
    worker = workers.start("poison_flow")
    flow, runtime = driver(app.poison_flow, redis_url, prefix)
    try:
        assert flow.execute("source", {"count": 3}).status == "completed"
    finally:
        runtime.shutdown()
    client.hincrby(f"{{{prefix}}}:stats:rt-poison", "redeliveries", 2)
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "routilux",
            "stats",
            "rt-poison",
            "--redis",
            redis_url,
            "--prefix",
            prefix,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    lines = dict(line.split() for line in shown.stdout.splitlines())
    assert lines == {
        "length": "0",
        "pending": "0",
        "lag": "0",
        "dead": "3",
        "consumers": "1",
        "redeliveries": "2",
    }
    assert worker.poll() is None
    unreachable = subprocess.run(
        [
            sys.executable,
            "-m",
            "routilux",
            "stats",
            "rt-poison",
            "--redis",
            "redis://127.0.0.1:1/0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unreachable.returncode == 1 and "ConnectionError" in unreachable.stderr


@pytest.mark.parametrize("action", ["cancel", "pause"])
def test_a_job_is_cancelled_or_paused_from_another_process(
    workers: Workers, redis_url: str, prefix: str, client: Any, action: str
) -> None:
    """The command (another process) reaches the job's driver through Redis; the job
    stops as flow.cancel / flow.pause stop it, its handlers in flight finishing."""
    worker = workers.start("gate_flow", concurrency=2)
    flow, runtime = driver(app.gate_flow, redis_url, prefix)
    try:
        job = flow.execute("source", {"count": 2}, wait=False)
        for _ in range(2):
            assert client.blpop([f"{prefix}:started"], timeout=30) is not None
        sent = subprocess.run(
            [
                sys.executable,
                "-m",
                "routilux",
                action,
                job.job_id,
                "--redis",
                redis_url,
                "--prefix",
                prefix,
                "--reason",
                "from afar",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout == f"{action} of job {job.job_id} sent to its driver\n"
        client.rpush(f"{prefix}:gate:{worker.pid}", "go", "go")
        assert job.wait_for_completion(30)  # finished, or paused with nothing in flight
        assert job.status == ("cancelled" if action == "cancel" else "paused")
        if action == "pause":
            assert len(job.pending_tasks) == 2  # the work activations, parked
        assert "work" not in {r.routine_id for r in job.get_execution_history()}
    finally:
        runtime.shutdown()
    # Once the job stopped, nobody drives it.
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "routilux",
            action,
            job.job_id,
            "--redis",
            redis_url,
            "--prefix",
            prefix,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "no driver runs job" in again.stderr

"""Jobs outlive their process: resume in another process, recover after kill -9.

Each scenario runs the deterministic flow of ``recovery_app`` in real subprocesses
and compares the outcome with an uninterrupted run in this process.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from recovery_app import build_flow, outcome

from routilux import QueueOutputHandler
from routilux.exceptions import JobStateError
from routilux.stores import SQLiteStore

APP = Path(__file__).resolve().parent / "recovery_app.py"
ITEMS = 150


def app(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(APP), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def reference() -> dict[str, object]:
    job = build_flow().execute("numbers", {"count": ITEMS})
    assert job.status == "completed"
    return outcome(job)


def test_a_job_paused_in_one_process_resumes_in_another(tmp_path: Path) -> None:
    # The same job paused and resumed here, in one process, is the reference.
    flow = build_flow()
    here = flow.execute("numbers", {"count": ITEMS, "pause_at": 40})
    assert here.status == "paused"
    flow.resume(here, wait=True)
    assert here.status == "completed"
    expected = json.loads(json.dumps(outcome(here)))

    job_file, flow_file = tmp_path / "job.json", tmp_path / "flow.json"
    pause = app("pause", str(job_file), str(flow_file), str(ITEMS), "40")
    out, err = pause.communicate(timeout=60)
    assert pause.returncode == 0, err
    assert "paused" in out and job_file.exists() and flow_file.exists()
    assert '"class": "recovery_app:Numbers"' in flow_file.read_text()

    resume = app("resume", str(job_file), str(flow_file))
    out, err = resume.communicate(timeout=60)
    assert resume.returncode == 0, err
    (line,) = [line for line in out.splitlines() if line.startswith("outcome ")]
    resumed = json.loads(line.removeprefix("outcome "))
    assert resumed == expected
    assert resumed["status"] == "completed"
    assert resumed["shared_data"]["pairs"] == [ITEMS, ITEMS]


def test_recover_after_kill_9_at_random_moments(tmp_path: Path, reference: object) -> None:
    rng = random.Random(20261122)
    moments = sorted(rng.randrange(0, ITEMS + 5) for _ in range(22))
    recovered_mid_run = 0
    for trial, kill_after in enumerate(moments):
        database = tmp_path / f"kill-{trial}.db"
        child = app("run", str(database), str(ITEMS))
        assert child.stdout is not None
        job_id = child.stdout.readline().split()[1]
        for line in child.stdout:
            if line.startswith("finished") or int(line.split()[1]) >= kill_after:
                break
        child.kill()  # SIGKILL: no cleanup, no flush, nothing
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()  # type: ignore[union-attr]

        store = SQLiteStore(database)
        flow = build_flow(store)
        unfinished = store.unfinished_job_ids(flow.flow_id)
        assert unfinished in ([], [job_id])
        recovered_mid_run += bool(unfinished)
        job = flow.recover(job_id, store, wait=True)
        assert outcome(job) == reference, f"trial {trial}, killed after {kill_after}"
        # And the store now holds the finished job.
        stored = store.load(job_id)
        assert stored is not None and outcome(stored) == reference
        assert store.unfinished_job_ids() == []
        store.close()
    assert recovered_mid_run >= 15  # most kills landed in the middle of the job


def test_recover_an_unknown_job(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "empty.db")
    with pytest.raises(JobStateError, match="has no such job"):
        build_flow(store).recover("no-such-job", store)


def test_recover_a_paused_job_emits_deferred_events_and_outputs(tmp_path: Path) -> None:
    from routilux import Routine

    class Deferring(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["value"])

        def go(self, **_: object) -> None:
            self.emit_deferred_event("output", value=1)
            self.emit_deferred_event("output", value=2)
            self.send_output("note", text="before the pause")
            ctx = self.get_execution_context()
            assert ctx is not None
            ctx.flow.pause(ctx.job_state, reason="wait")

    class Speaker(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.speak)

        def speak(self, value: int) -> None:
            self.send_output("heard", value=value)

    def make(store: SQLiteStore) -> object:
        from routilux import Flow

        flow = Flow("deferring", store=store)
        flow.add_routine(Deferring(), "d")
        flow.add_routine(Speaker(), "s")
        flow.connect("d", "output", "s", "input")
        return flow

    store = SQLiteStore(tmp_path / "paused.db")
    first = make(store)
    job = first.execute("d")  # type: ignore[attr-defined]
    assert job.status == "paused"
    job_id = job.job_id

    # A new flow object and store connection, as in a new process.
    other_store = SQLiteStore(tmp_path / "paused.db")
    again = make(other_store)
    import queue

    heard: queue.Queue[dict[str, object]] = queue.Queue()
    loaded = other_store.load(job_id)
    assert loaded is not None and loaded.status == "paused"
    assert [e["data"]["value"] for e in loaded.deferred_events] == [1, 2]
    recovered = again.recover(  # type: ignore[attr-defined]
        job_id, other_store, wait=True, output_handler=QueueOutputHandler(heard)
    )
    assert recovered.status == "completed"
    log = [(entry["output_type"], entry["data"]) for entry in recovered.output_log]
    assert log[0] == ("note", {"text": "before the pause"})
    assert sorted(log[1:], key=str) == [("heard", {"value": 1}), ("heard", {"value": 2})]
    assert sorted(heard.get_nowait()["data"]["value"] for _ in range(2)) == [1, 2]
    assert [
        r.data["value"] for r in recovered.get_execution_history() if r.event_name == "output"
    ] == [1, 2]

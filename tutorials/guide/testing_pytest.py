"""The pytest fixtures: this file is a test module that runs itself with pytest.

Run it with ``python tutorials/guide/testing_pytest.py`` (or ``pytest`` on it).
"""

import sys

import pytest

from routilux import ErrorHandler, Routine
from routilux.testing import assert_history, run_routine


class Source(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("output", ["value"])

    def send(self, value=1):
        self.emit("output", value=value)


class Flaky(Routine):
    """Fails twice, then passes the value on."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.call)
        self.define_event("output", ["value"])
        self.set_error_handler(ErrorHandler("retry", max_retries=3, retry_delay=1, retry_backoff=3))

    def call(self, value):
        if self.require_execution_context().get_channel().increment("attempts") <= 2:
            raise ConnectionError("down")
        self.emit("output", value=value)


def test_flaky_passes_the_value_on_after_two_retries(auto_clock):
    # auto_clock: a ManualClock whose delays pass at once, shut down after the test.
    run = run_routine(Flaky(), "input", {"value": 5}, runtime=auto_clock)
    assert run.assert_completed().emitted("output") == [{"value": 5}]
    assert auto_clock.delays == [1.0, 3.0]


def test_each_retry_waits_for_its_delay(manual_clock, routilux_flow):
    # routilux_flow makes flows that are shut down after the test.
    flow = routilux_flow("flaky", runtime=manual_clock)
    flow.add_routine(Source(), "source")
    flow.add_routine(Flaky(), "flaky")
    flow.connect("source", "output", "flaky", "input")
    job = flow.execute("source", wait=False)
    manual_clock.wait_for_pending()
    assert manual_clock.advance(0.5) == 0  # not due yet
    assert manual_clock.advance(0.5) == 1  # the first retry runs
    manual_clock.wait_for_pending()
    assert manual_clock.pending == [4.0]
    manual_clock.run_all()
    assert job.wait_for_completion(timeout=10)
    assert_history(
        job,
        [
            ("flaky", "retry", {"delay": 1.0}),
            ("flaky", "retry", {"delay": 3.0}),
            ("flaky", "output"),
        ],
        routines="flaky",
    )


class Outcomes:
    """Prints each test's outcome (instead of pytest's report, which has timings)."""

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.outcome != "passed":
            print(f"{report.nodeid.split('::')[-1]}: {report.outcome}")


if __name__ == "__main__":
    # Outcomes prints the results; pytest's own report (and options of it that a
    # project's configuration may add) is turned off.
    options = ["-p", "no:terminal", "-p", "no:cacheprovider", "-o", "addopts="]
    exit_code = pytest.main([__file__, *options], plugins=[Outcomes()])
    print("pytest exit code:", int(exit_code))
    sys.exit(exit_code)

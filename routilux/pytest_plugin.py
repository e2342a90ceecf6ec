"""Pytest fixtures for testing routines and flows (see :doc:`/guide/testing`).

Installing routilux registers this module as a pytest plugin (entry point
``pytest11``, name ``routilux``), so its fixtures are available in every test without
an import; ``pytest -p no:routilux`` turns it off. It defines fixtures only: tests
that use none of them run as without it, but for what comes with loading any plugin:
pytest imports the ``routilux`` package to load this module, and rewrites the
``assert`` statements of routilux's modules. Only this module imports pytest;
:mod:`routilux.testing` does not need it.

Fixtures:

``manual_clock``
    A fresh :class:`~routilux.testing.ManualClock` (the test advances it), shut down
    after the test.
``auto_clock``
    A fresh :class:`~routilux.testing.ManualClock` with ``auto_advance=True`` (every
    delay passes at once), shut down after the test.
``routilux_flow``
    A :class:`~routilux.testing.FlowFactory`: ``routilux_flow(flow_id, ...)`` makes a
    :class:`~routilux.Flow` that is shut down after the test.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from routilux.testing import FlowFactory, ManualClock

__all__ = ["auto_clock", "manual_clock", "routilux_flow"]


# routilux.testing is imported when a fixture is first used, not when pytest loads the
# plugin (loading it imports the routilux package, as any import of this module does).


@pytest.fixture
def manual_clock() -> Iterator[ManualClock]:
    """A :class:`~routilux.testing.ManualClock` for ``Flow(runtime=...)``: delayed
    calls wait for ``manual_clock.advance(seconds)``. Its threads are released after
    the test (a job still running there goes on, on new threads)."""
    from routilux.testing import ManualClock

    clock = ManualClock(name="routilux-manual-clock")
    try:
        yield clock
    finally:
        clock.shutdown(wait=False)


@pytest.fixture
def auto_clock() -> Iterator[ManualClock]:
    """A :class:`~routilux.testing.ManualClock` with ``auto_advance=True``: every
    delayed call is made at once, and ``auto_clock.delays`` tells what was asked for.
    Its threads are released after the test."""
    from routilux.testing import ManualClock

    clock = ManualClock(auto_advance=True, name="routilux-auto-clock")
    try:
        yield clock
    finally:
        clock.shutdown(wait=False)


@pytest.fixture
def routilux_flow() -> Iterator[FlowFactory]:
    """A :class:`~routilux.testing.FlowFactory`: call it with the arguments of
    :class:`~routilux.Flow` for a new flow. After the test, each flow made is given up
    to 5 seconds for its running jobs, then its runtime's threads are released (pass
    ``runtime=manual_clock`` to run a flow on a clock); a job still running then is
    reported with a ``RuntimeWarning``."""
    from routilux.testing import FlowFactory

    factory = FlowFactory(shutdown_timeout=5.0)
    try:
        yield factory
    finally:
        flows = factory.flows
        if not factory.close():
            names = ", ".join(repr(flow.flow_id) for flow in flows)
            warnings.warn(
                f"routilux_flow: a job of the flows {names} was still running 5 s after "
                "the test (a retry waiting for a clock nobody advanced?)",
                RuntimeWarning,
                stacklevel=1,
            )

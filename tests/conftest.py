"""Test-suite wiring: the engine suite runs once per runtime.

Every test of the modules in :data:`ENGINE_MODULES` is collected twice, with the id
suffix ``[threads]`` or ``[asyncio]``: for ``[asyncio]`` the runtime a ``Flow`` gets when
it is made without one (``routilux.flow._default_runtime``) is swapped for an
:class:`~routilux.runtimes.AsyncioRuntime`. A test that passes its own ``runtime=`` is
unaffected by the swap (it then simply runs twice).

A test whose subject only exists under the thread runtime (the calling thread drives a
sequential job itself, so it checks thread identity or that the handler runs inside
``Flow.execute``) is marked ``@pytest.mark.threads_only("why")``: its ``[asyncio]``
variant is collected and skipped with that reason, so the report says why. A test
whose ``[asyncio]`` variant hits a known engine bug is marked
``@pytest.mark.asyncio_engine_bug("why", strict=..., run=...)``: that variant is an
``xfail`` with the reason (``strict=False`` only for a race that fails now and then,
with a deterministic repro elsewhere).

Other modules can run a test on both runtimes by parametrising ``engine_runtime``
themselves (``@pytest.mark.parametrize("engine_runtime", RUNTIMES)``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import routilux.flow
from routilux.runtimes import AsyncioRuntime, ThreadRuntime

#: Runtimes the engine suite is parametrised over (the id suffixes).
RUNTIMES = ("threads", "asyncio")

#: Modules whose tests run flows and so run once per runtime.
ENGINE_MODULES = frozenset(
    {
        "test_channels",
        "test_data_flow_patterns",
        "test_engine_stress",
        "test_error_strategies",
        "test_flow",
        "test_flow_document",
        "test_functional",
        "test_history",
        "test_job_document",
        "test_job_run",
        "test_merge",
        "test_pause_resume",
        "test_results",
        "test_sqlite_leases",
        "test_sqlite_store",
        "test_store_io",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "threads_only(reason): the test's subject exists only under ThreadRuntime (the "
        "calling thread drives the job); its [asyncio] variant is skipped with the reason",
    )
    config.addinivalue_line(
        "markers",
        "asyncio_engine_bug(reason, strict=True, run=True): the [asyncio] variant hits a "
        "known engine bug; it is marked xfail with that reason",
    )


def _reason(marker: pytest.Mark, nodeid: str) -> str:
    reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
    if not isinstance(reason, str) or not reason:
        raise pytest.UsageError(f"{nodeid}: @pytest.mark.{marker.name} needs a reason")
    return reason


def _asyncio_param(definition: pytest.Function, value: str) -> object:
    """The ``asyncio`` value of ``engine_runtime``, with the marks the test asks for."""
    only = definition.get_closest_marker("threads_only")
    if only is not None:
        reason = _reason(only, definition.nodeid)
        return pytest.param(value, marks=pytest.mark.skip(reason=f"threads only: {reason}"))
    bug = definition.get_closest_marker("asyncio_engine_bug")
    if bug is not None:
        reason = _reason(bug, definition.nodeid)
        xfail = pytest.mark.xfail(
            strict=bug.kwargs.get("strict", True),
            run=bug.kwargs.get("run", True),
            reason=f"engine bug (AsyncioRuntime): {reason}",
        )
        return pytest.param(value, marks=xfail)
    return value


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rpartition(".")[2]
    if module not in ENGINE_MODULES or "engine_runtime" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        if marker.args and "engine_runtime" in str(marker.args[0]):
            return  # the test parametrises engine_runtime itself
    threads_name, asyncio_name = RUNTIMES
    metafunc.parametrize(
        "engine_runtime", [threads_name, _asyncio_param(metafunc.definition, asyncio_name)]
    )


@pytest.fixture
def engine_runtime() -> str:
    """The runtime a Flow made without one gets (parametrised in engine modules)."""
    return "threads"


def _asyncio_runtime(name: str) -> ThreadRuntime | AsyncioRuntime:
    return AsyncioRuntime()


@pytest.fixture(autouse=True)
def _default_runtime_swap(engine_runtime: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Swap the default runtime for the engine modules' ``[asyncio]`` variants."""
    if engine_runtime == "asyncio":
        monkeypatch.setattr(routilux.flow, "_default_runtime", _asyncio_runtime)
    yield


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a real Redis server for the tests (see ``tests/redis_server.py``);
    skips the test when there is none."""
    from redis_server import server_url

    url = server_url()
    if url is None:
        pytest.skip("no Redis server: set ROUTILUX_TEST_REDIS_URL or install redis-server")
    return url

"""The functional layer: @routine, >> and `with Flow(...)`."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from routilux import ExecutionContext, Flow
from routilux.exceptions import ConfigurationError, SerializationError
from routilux.functional import FunctionRoutine, routine


@routine
def fetch() -> dict[str, Any]:
    return {"numbers": [1, 2, 3]}


@routine
def total(numbers: list[int]) -> int:
    return sum(numbers)


@routine
def double(x: int) -> int:
    return x * 2


@routine(name="label")
def describe(value: int, ctx: ExecutionContext) -> str:
    return f"{ctx.routine_id}:{value}"


@routine
def nothing(value: int) -> None:
    return None


def test_decorated_functions_are_routines_that_still_call_the_function() -> None:
    assert isinstance(double, FunctionRoutine)
    assert double(21) == 42
    assert double.__name__ == "double" and double.__wrapped__ is not None
    assert {"trigger", "input"} <= set(double._slots)
    assert list(double._events) == ["output"]
    assert describe.get_config("name") == "label"


def test_a_chain_runs_and_keeps_every_result() -> None:
    with Flow("chain") as flow:
        fetch >> total >> double
    assert list(flow.routines) == ["fetch", "total", "double"]
    job = flow.execute("fetch")
    assert job.status == "completed", job.errors
    assert job.get_result("fetch") == {"numbers": [1, 2, 3]}
    assert job.get_result("total") == 6
    assert job.get_result("double") == 12
    emitted = [
        (r.routine_id, r.data) for r in job.get_execution_history() if r.event_name == "output"
    ]
    assert emitted == [
        ("fetch", {"numbers": [1, 2, 3]}),
        ("total", {"value": 6}),
        ("double", {"value": 12}),
    ]


def test_fan_out_and_fan_in_with_lists() -> None:
    @routine
    def start() -> int:
        return 5

    @routine
    def plus_one(x: int) -> int:
        return x + 1

    @routine
    def times_ten(x: int) -> int:
        return x * 10

    seen: list[int] = []
    lock = threading.Lock()

    @routine
    def gather(x: int) -> None:
        with lock:
            seen.append(x)

    with Flow("fan") as flow:
        start >> [plus_one, times_ten]
        [plus_one, times_ten] >> gather
    job = flow.execute("start")
    assert job.status == "completed"
    assert sorted(seen) == [6, 50]
    assert flow.validate("start") == []


def test_the_context_parameter_receives_the_execution_context() -> None:
    with Flow("ctx") as flow:
        double >> describe
    job = flow.execute("double", {"x": 4})
    assert job.get_result("label") == "label:8"


def test_none_results_emit_nothing() -> None:
    with Flow("quiet") as flow:
        double >> nothing >> total
    job = flow.execute("double", {"x": 1})
    assert job.get_result("nothing") is None
    assert job.get_result("total") is None
    assert [r.routine_id for r in job.get_execution_history() if r.event_name == "output"] == [
        "double"
    ]


def test_routines_reused_in_one_flow_keep_one_id_and_names_are_made_unique() -> None:
    @routine(name="double")
    def another_double(x: int) -> int:
        return x * 2

    with Flow("ids") as flow:
        double >> another_double
        another_double >> total
    assert list(flow.routines) == ["double", "double_2", "total"]
    assert flow.routines["double"] is double


def test_arrows_outside_a_with_block_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="inside `with Flow"):
        double >> total
    with Flow("inner"):
        pass
    with pytest.raises(ConfigurationError):
        double >> total


def test_with_blocks_nest_and_are_per_thread() -> None:
    with Flow("outer") as outer:
        with Flow("inner") as inner:
            double >> total
        fetch >> total
    assert list(inner.routines) == ["double", "total"]
    assert list(outer.routines) == ["fetch", "total"]

    errors: list[BaseException] = []

    def elsewhere() -> None:
        try:
            double >> total
        except BaseException as exc:
            errors.append(exc)

    with Flow("this thread"):
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    assert isinstance(errors[0], ConfigurationError)


def test_a_function_that_cannot_take_the_delivery_fails_clearly() -> None:
    @routine
    def needs_two(a: int, b: int) -> int:
        return a + b

    with Flow("mismatch") as flow:
        double >> needs_two
    job = flow.execute("double", {"x": 1})
    (error,) = job.errors
    assert error["routine_id"] == "needs_two"
    assert "cannot take a delivery with keys ['value']" in error["error"]


def test_functional_flows_serialize_and_run_after_loading() -> None:
    with Flow("saved") as flow:
        fetch >> total >> double
    document = json.loads(json.dumps(flow.serialize()))
    functions = [r["config"]["function"] for r in document["routines"]]
    assert functions == [
        {"$function": f"{__name__}:fetch"},
        {"$function": f"{__name__}:total"},
        {"$function": f"{__name__}:double"},
    ]
    loaded = Flow.deserialize(document)
    assert loaded.execute("fetch").get_result("double") == 12


def test_a_function_must_be_registered_again_to_load(monkeypatch: pytest.MonkeyPatch) -> None:
    from routilux import registry

    @routine
    def local(x: int) -> int:
        return x

    with Flow("local") as flow:
        double >> local
    document = flow.serialize()  # @routine registered it under its qualified name
    name = document["routines"][1]["config"]["function"]["$function"]
    assert registry.registered(name) is local.__wrapped__
    # In a process where the decorator has not run, nothing is registered there:
    monkeypatch.delitem(registry._by_name, name)
    with pytest.raises(SerializationError, match="no function is registered as"):
        Flow.deserialize(document)


def test_the_decorator_refuses_what_is_not_callable() -> None:
    with pytest.raises(ConfigurationError, match="decorates functions"):
        routine(3)  # type: ignore[call-overload]
    empty = FunctionRoutine()
    with pytest.raises(ConfigurationError, match="has no function"):
        empty.call(x=1)

"""ConditionalRouter: sends each delivery to the routes whose condition holds
(0.9 reference, section 2.13, with 0.9's bugs fixed)."""

from __future__ import annotations

import builtins
import contextlib
import gc
import logging
import threading
import tracemalloc
import weakref
from typing import Any

import pytest
from builtin_helpers import (
    SUBJECT,
    build_flow,
    outputs,
    received,
    restored_registry,
    round_trip,
    run,
    unique,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routilux import ConditionalRouter, Flow, Routine, register_serializable
from routilux.builtin_routines._expressions import MAX_SIZE, compile_condition, evaluate
from routilux.exceptions import ConfigurationError, DuplicateNameError, SerializationError


@pytest.fixture(autouse=True)
def _restore_registry():
    with restored_registry():
        yield


def router(*routes: tuple[str, Any], **config: Any) -> ConditionalRouter:
    routine = ConditionalRouter()
    for name, condition in routes:
        routine.add_route(name, condition)
    if config:
        routine.set_config(**config)
    return routine


def routed(
    routine: ConditionalRouter, payloads: list[dict[str, Any]], events: tuple[str, ...]
) -> dict[str, list[dict[str, Any]]]:
    return outputs(build_flow(routine, events=events), payloads, events)


def is_big(data: Any) -> bool:
    return data["n"] > 100


def positive(value: Any) -> bool:
    return value > 0


# -- configuration --------------------------------------------------------------------


def test_add_route_appends_to_the_config_and_creates_the_event():
    routine = router(("high", "data['n'] > 10"), ("low", {"n": 0}))
    assert routine.config()["routes"] == [("high", "data['n'] > 10"), ("low", {"n": 0})]
    for name in ("output", "high", "low"):
        assert routine.get_event(name).output_params == ["data", "route"]


def test_a_route_event_can_be_connected_before_any_run():
    routine = router(("high", "True"))
    flow = build_flow(routine, events=["high"])
    assert [c.source_event.name for c in flow.connections if c.source_routine_id == SUBJECT] == [
        "high"
    ]


def test_set_config_routes_and_default_route_create_their_events():
    routine = ConditionalRouter()
    routine.set_config(routes=[("a", "True"), ["b", "False"]], default_route="fallback")
    assert {"a", "b", "fallback"} <= set(routine._events)
    assert routine.get_event("fallback").output_params == ["data", "route"]


@pytest.mark.parametrize(
    "condition",
    [
        "data['n'] >",
        "__import__('os')",
        "open('x')",
        "data.__class__",
        "lambda: 1",
        "2 ** 8",
        5,
        None,
        3.5,
    ],
)
def test_an_invalid_condition_is_rejected_when_added(condition):
    routine = router(("ok", "True"))
    with pytest.raises(ConfigurationError):
        routine.add_route("bad", condition)
    assert routine.config()["routes"] == [("ok", "True")]
    assert routine.get_event("bad") is None


def test_a_callable_with_other_required_parameters_is_rejected_when_added():
    def condition(value: Any, config: Any) -> bool:
        return True

    routine = ConditionalRouter()
    with pytest.raises(ConfigurationError, match="value"):
        routine.add_route("bad", condition)
    assert routine.config()["routes"] == []


@pytest.mark.parametrize("routes", [["just a name"], [("a", "True", "extra")], [("a",)]])
def test_routes_must_be_name_condition_pairs(routes):
    routine = ConditionalRouter()
    with pytest.raises(ConfigurationError):
        routine.set_config(routes=routes)
    assert routine.config()["routes"] == []


def test_an_invalid_route_name_leaves_the_config_unchanged():
    routine = router(("ok", "True"))
    with pytest.raises(ConfigurationError):
        routine.add_route("", "True")
    assert routine.config()["routes"] == [("ok", "True")]
    routine.add_route("next", "True")  # still possible


def test_an_invalid_default_route_leaves_the_config_unchanged():
    routine = ConditionalRouter()
    with pytest.raises(ConfigurationError):
        routine.set_config(default_route=7)
    assert routine.config()["default_route"] is None


def test_a_callable_needing_more_than_three_arguments_is_rejected_when_added():
    routine = ConditionalRouter()
    with pytest.raises(ConfigurationError):
        routine.add_route("bad", lambda a, b, c, d: True)


def test_a_zero_parameter_condition_is_rejected_or_honoured():
    routine = ConditionalRouter()
    try:
        routine.add_route("always", lambda: True)
    except ConfigurationError:
        return
    assert routine.matching_routes({"n": 1}) == ["always"]


# -- routing --------------------------------------------------------------------------


def test_first_match_emits_on_the_first_matching_route_only():
    routine = router(("big", "data['n'] > 10"), ("even", "data['n'] % 2 == 0"))
    result = routed(routine, [{"n": 20}, {"n": 4}, {"n": 3}], ("big", "even", "output"))
    assert result == {
        "big": [{"data": {"n": 20}, "route": "big"}],
        "even": [{"data": {"n": 4}, "route": "even"}],
        "output": [{"data": {"n": 3}, "route": "unmatched"}],
    }


@pytest.mark.parametrize("priority", ["all_matches", "all", "anything else"])
def test_any_other_priority_emits_on_every_matching_route(priority):
    routine = router(
        ("big", "data['n'] > 10"), ("even", "data['n'] % 2 == 0"), route_priority=priority
    )
    result = routed(routine, [{"n": 20}, {"n": 11}], ("big", "even", "output"))
    assert result == {
        "big": [{"data": {"n": 20}, "route": "big"}, {"data": {"n": 11}, "route": "big"}],
        "even": [{"data": {"n": 20}, "route": "even"}],
        "output": [],
    }


def test_the_default_route_takes_unmatched_deliveries():
    routine = router(("big", "data['n'] > 10"), default_route="rest")
    result = routed(routine, [{"n": 1}, {"n": 50}], ("big", "rest", "output"))
    assert result == {
        "big": [{"data": {"n": 50}, "route": "big"}],
        "rest": [{"data": {"n": 1}, "route": "rest"}],
        "output": [],
    }


def test_without_routes_everything_is_unmatched():
    result = routed(ConditionalRouter(), [{"a": 1, "b": 2}], ("output",))
    assert result == {"output": [{"data": {"a": 1, "b": 2}, "route": "unmatched"}]}


def test_a_one_key_payload_is_routed_as_a_dict():
    # 0.9 collapsed {"name": "x"} to "x", so these conditions never held.
    routine = router(
        ("by_dict", {"name": "x"}),
        ("by_expr", "isinstance(data, dict) and data['name'] == 'y'"),
    )
    result = routed(routine, [{"name": "x"}, {"name": "y"}], ("by_dict", "by_expr"))
    assert result == {
        "by_dict": [{"data": {"name": "x"}, "route": "by_dict"}],
        "by_expr": [{"data": {"name": "y"}, "route": "by_expr"}],
    }


def test_the_data_key_carries_a_bare_value():
    routine = router(("big", "data > 3"), ("text", "isinstance(data, str)"))
    result = routed(routine, [{"data": 5}, {"data": "s"}], ("big", "text"))
    assert result == {
        "big": [{"data": 5, "route": "big"}],
        "text": [{"data": "s", "route": "text"}],
    }


def test_string_conditions_see_the_config():
    routine = router(("over", "data['n'] > config['threshold']"), threshold=5)
    assert routine.matching_routes({"n": 6}) == ["over"]
    assert routine.matching_routes({"n": 5}) == []
    routine.set_config(threshold=1)
    assert routine.matching_routes({"n": 5}) == ["over"]


def test_string_conditions_are_not_run_with_eval_or_exec(monkeypatch):
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("eval/exec must not be used")

    routine = router(("big", "data['n'] > 10 and len(data['tags']) >= 1"))
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    assert routine.matching_routes({"n": 11, "tags": ["t"]}) == ["big"]
    assert routine.matching_routes({"n": 11, "tags": []}) == []


def test_dict_conditions():
    routine = router(
        ("exact", {"kind": "a", "n": 1}),
        ("checked", {"kind": "b", "n": positive}),
        route_priority="all",
    )
    assert routine.matching_routes({"kind": "a", "n": 1, "extra": True}) == ["exact"]
    assert routine.matching_routes({"kind": "a", "n": 2}) == []
    assert routine.matching_routes({"kind": "b", "n": 3}) == ["checked"]
    assert routine.matching_routes({"kind": "b", "n": -3}) == []
    assert routine.matching_routes({"kind": "b"}) == []
    assert routine.matching_routes(["kind", "a"]) == []
    assert routine.matching_routes("a") == []


def test_an_empty_dict_condition_matches_every_dict():
    routine = router(("any_dict", {}))
    assert routine.matching_routes({"x": 1}) == ["any_dict"]
    assert routine.matching_routes(5) == []


def test_conditions_after_the_first_match_are_not_evaluated():
    calls: list[Any] = []

    def spy(data: Any) -> bool:
        calls.append(data)
        return True

    routine = router(("first", "True"), ("second", spy))
    assert routine.matching_routes({"x": 1}) == ["first"]
    assert calls == []
    routine.set_config(route_priority="all")
    assert routine.matching_routes({"x": 1}) == ["first", "second"]
    assert calls == [{"x": 1}]


# -- callable conditions --------------------------------------------------------------


class Recorder:
    """Conditions of several shapes that record what they were called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def one(self, value: Any) -> bool:
        self.calls.append(("one", (value,), {}))
        return False

    def two(self, value: Any, settings: Any) -> bool:
        self.calls.append(("two", (value, settings), {}))
        return False

    def three(self, value: Any, settings: Any, counters: Any) -> bool:
        self.calls.append(("three", (value, settings, counters), {}))
        return False


def test_positional_callables_get_data_config_and_stats_by_count():
    recorder = Recorder()
    routine = router(
        ("one", recorder.one),
        ("two", recorder.two),
        ("three", recorder.three),
        route_priority="all",
    )
    assert routine.matching_routes({"n": 1}, {"route_counts": {"x": 2}}) == []
    config = routine.config()
    assert recorder.calls == [
        ("one", ({"n": 1},), {}),
        ("two", ({"n": 1}, config), {}),
        ("three", ({"n": 1}, config, {"route_counts": {"x": 2}}), {}),
    ]


def test_parameters_named_data_config_and_stats_are_passed_by_keyword():
    seen: dict[str, Any] = {}

    def stats_first(stats: Any, data: Any) -> bool:
        seen["stats_first"] = (stats, data)
        return False

    def config_only(config: Any) -> bool:
        seen["config_only"] = config
        return False

    def keyword_only(*, data: Any, stats: Any = None) -> bool:
        seen["keyword_only"] = (data, stats)
        return False

    def with_defaults(data: Any, limit: int = 3, **extra: Any) -> bool:
        seen["with_defaults"] = (data, limit, extra)
        return False

    routine = router(
        ("a", stats_first),
        ("b", config_only),
        ("c", keyword_only),
        ("d", with_defaults),
        route_priority="all",
        marker="m",
    )
    stats = {"route_counts": {"a": 1}}
    assert routine.matching_routes({"n": 1}, stats) == []
    assert seen["stats_first"] == (stats, {"n": 1})
    assert seen["config_only"]["marker"] == "m"
    assert seen["keyword_only"] == ({"n": 1}, stats)
    assert seen["with_defaults"] == ({"n": 1}, 3, {})


def test_data_and_stats_without_config_get_the_stats():
    # 0.9 passed stats only when config was a parameter too.
    seen: list[Any] = []

    def condition(data: Any, stats: Any) -> bool:
        seen.append(stats)
        return True

    routine = router(("r", condition))
    assert routine.matching_routes({"n": 1}, {"route_counts": {"r": 4}}) == ["r"]
    assert seen == [{"route_counts": {"r": 4}}]


def test_a_builtin_without_a_signature_is_called_with_data():
    routine = router(("truthy", bool))
    assert routine.matching_routes({"x": 1}) == ["truthy"]
    assert routine.matching_routes(0) == []


def test_stats_carry_route_counts_across_deliveries_of_one_job():
    seen: list[Any] = []

    def counting(data: Any, config: Any, stats: Any) -> bool:
        seen.append(dict(stats.get("route_counts", {})))
        return data["kind"] == "a"

    routine = router(("a", counting), ("b", "data['kind'] == 'b'"))
    flow = build_flow(routine, events=("a", "b"))
    job = run(flow, [{"kind": "a"}, {"kind": "b"}, {"kind": "a"}, {"kind": "b"}])
    assert job.errors == []
    assert seen == [{}, {"a": 1}, {"a": 1, "b": 1}, {"a": 2, "b": 1}]
    assert job.get_routine_state(SUBJECT)["route_counts"] == {"a": 2, "b": 2}


def test_string_conditions_see_the_stats_of_the_job():
    # At most two deliveries per job take route "a"; the rest fall to the default route.
    routine = router(
        ("a", "stats.get('route_counts', {}).get('a', 0) < 2"), default_route="overflow"
    )
    flow = build_flow(routine, events=("a", "overflow"))
    for _ in range(2):  # a second job starts from zero counts
        job = run(flow, [{"i": i, "x": 0} for i in range(4)])
        assert [r["data"]["i"] for r in received(job, "a")] == [0, 1]
        assert [r["data"]["i"] for r in received(job, "overflow")] == [2, 3]
        assert job.get_routine_state(SUBJECT)["route_counts"] == {"a": 2, "overflow": 2}


def test_stats_of_different_jobs_are_isolated():
    seen: list[Any] = []

    def condition(data: Any, config: Any, stats: Any) -> bool:
        seen.append(dict(stats.get("route_counts", {})))
        return True

    flow = build_flow(router(("r", condition)), events=("r",))
    first = run(flow, [{"n": 1}, {"n": 2}])
    second = run(flow, [{"n": 3}])
    assert seen == [{}, {"r": 1}, {}]
    assert first.get_routine_state(SUBJECT)["route_counts"] == {"r": 2}
    assert second.get_routine_state(SUBJECT)["route_counts"] == {"r": 1}


def test_route_counts_are_exact_under_the_concurrent_strategy():
    barrier = threading.Barrier(2, timeout=10)

    def rendezvous(data: Any) -> bool:
        # both deliveries are routing at once (if the engine ran them one after the
        # other the barrier breaks after its timeout, which is fine too)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return True

    routine = router(("a", rendezvous))
    flow = build_flow(routine, events=("a",), strategy="concurrent", workers=4)
    job = run(flow, [{"n": 1}, {"n": 2}])
    assert job.errors == []
    assert len(received(job, "a")) == 2
    assert job.get_routine_state(SUBJECT)["route_counts"] == {"a": 2}


# -- conditions that raise ------------------------------------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        "data['missing'] > 1",
        "data['n'] / 0 > 1",
        "data['n'] > 'text'",
        "data.split(',')",
        "'a' * 2000000 == data",
        "len(" + "+".join(["[0]*99999"] * 180) + ")",
    ],
)
def test_a_raising_string_condition_counts_as_no_match(condition, caplog):
    routine = router(("broken", condition), ("fallback", "True"))
    with caplog.at_level(logging.WARNING, logger="routilux"):
        result = routed(routine, [{"n": 1}], ("broken", "fallback"))
    assert result == {"broken": [], "fallback": [{"data": {"n": 1}, "route": "fallback"}]}
    assert any("broken" in record.getMessage() for record in caplog.records)


def test_a_raising_callable_counts_as_no_match():
    def explode(data: Any) -> bool:
        raise RuntimeError("condition broke")

    routine = router(("broken", explode), ("dict", {"n": positive}), default_route="rest")
    result = routed(routine, [{"n": 1}, {"n": "x"}], ("broken", "dict", "rest"))
    assert result == {
        "broken": [],
        "dict": [{"data": {"n": 1}, "route": "dict"}],
        "rest": [{"data": {"n": "x"}, "route": "rest"}],
    }


# -- no configuration changes during a job --------------------------------------------


class Meddler(Routine):
    """Tries to change the router's routes from inside the job; records what happened."""

    def __init__(self) -> None:
        super().__init__()
        self.target: ConditionalRouter | None = None
        self.define_slot("input", handler=self.meddle)

    def meddle(self, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None and self.target is not None
        outcomes = []
        attempts = (
            lambda: self.target.add_route("late", "True"),
            lambda: self.target.set_config(routes=[("late", "True")]),
            lambda: self.target.set_config(default_route="late"),
        )
        for attempt in attempts:
            try:
                attempt()
                outcomes.append("changed")
            except ConfigurationError as exc:
                outcomes.append(str(exc))
        ctx.job_state.update_routine_state(ctx.routine_id, {"outcomes": outcomes})


def test_routes_cannot_change_while_the_router_runs_in_a_job():
    routine = router(("a", "True"))
    flow = build_flow(routine, events=("a",))
    meddler = Meddler()
    meddler.target = routine
    flow.add_routine(meddler, "meddler")
    flow.connect("feeder", "output", "meddler", "input")
    job = run(flow, [{"n": 1}])
    outcomes = job.get_routine_state("meddler")["outcomes"]
    assert len(outcomes) == 3
    assert all("routes cannot change while the router runs in a job" in o for o in outcomes)
    assert routine.config()["routes"] == [("a", "True")]
    assert routine.config()["default_route"] is None
    assert routine.get_event("late") is None
    # outside the job the same calls work again
    routine.add_route("late", "True")
    assert routine.get_event("late") is not None


def test_a_condition_cannot_add_routes_while_routing():
    errors: list[str] = []

    def greedy(data: Any, config: Any) -> bool:
        try:
            this.add_route(f"r{data['n']}", "True")
        except ConfigurationError as exc:
            errors.append(type(exc).__name__)
        return True

    this = router(("greedy", greedy))
    routed(this, [{"n": 1}, {"n": 2}], ("greedy",))
    assert errors == ["ConfigurationError", "ConfigurationError"]
    assert [name for name, _ in this.config()["routes"]] == ["greedy"]


def test_the_router_defines_no_event_while_a_job_runs(monkeypatch):
    routine = router(
        ("a", "data['n'] == 1"), ("b", {"n": 2}), default_route="rest", route_priority="all"
    )
    events_before = dict(routine._events)
    defined: list[Any] = []
    original = routine.define_event

    def spy(*args: Any, **kwargs: Any) -> Any:
        defined.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(routine, "define_event", spy)
    result = routed(routine, [{"n": 1}, {"n": 2}, {"n": 3}], ("a", "b", "rest", "output"))
    assert [len(v) for v in result.values()] == [1, 1, 1, 0]
    assert defined == []
    assert routine._events == events_before


# -- saving ---------------------------------------------------------------------------


def test_round_trip_keeps_routes_events_and_outputs():
    register_serializable(is_big, name=unique("is_big"))
    register_serializable(positive, name=unique("positive"))
    routine = router(
        ("big", is_big),
        ("positive_b", {"kind": "b", "n": positive}),
        ("text", "isinstance(data['n'], str) or data['n'] == 0"),
        default_route="rest",
        route_priority="all",
    )
    events = ("big", "positive_b", "text", "rest", "output")
    flow = build_flow(routine, events=events)
    payloads = [
        {"kind": "b", "n": 500},
        {"kind": "b", "n": 5},
        {"kind": "a", "n": 0},
        {"kind": "a", "n": -1},
    ]
    before = outputs(flow, payloads, events)
    loaded = round_trip(flow)
    loaded_router = loaded.routines[SUBJECT]
    assert isinstance(loaded_router, ConditionalRouter)
    assert loaded_router.config() == routine.config()
    assert set(loaded_router._events) == set(routine._events)
    assert outputs(loaded, payloads, events) == before
    assert [r["data"]["n"] for r in before["big"]] == [500]
    assert [r["data"]["n"] for r in before["positive_b"]] == [500, 5]
    assert [r["data"]["n"] for r in before["text"]] == [0]
    assert [r["data"]["n"] for r in before["rest"]] == [-1]
    # the loaded router still refuses invalid conditions
    with pytest.raises(ConfigurationError):
        loaded_router.add_route("bad", "open('x')")


def test_an_unregistered_callable_condition_cannot_be_saved():
    def unregistered_condition(data: Any) -> bool:
        return True

    flow = build_flow(router(("r", unregistered_condition)), events=("r",))
    with pytest.raises(SerializationError, match="unregistered_condition"):
        flow.serialize()


def test_an_unregistered_callable_in_a_dict_condition_cannot_be_saved():
    def unregistered_check(value: Any) -> bool:
        return True

    flow = build_flow(router(("r", {"n": unregistered_check})), events=("r",))
    with pytest.raises(SerializationError, match="unregistered_check"):
        flow.serialize()


def test_a_document_with_an_invalid_condition_is_refused_when_loaded():
    flow = build_flow(router(("r", "data['n'] > 1")), events=("r",))
    document = flow.serialize()
    (routine_doc,) = [r for r in document["routines"] if r["id"] == SUBJECT]
    routine_doc["config"]["routes"] = [{"$tuple": ["r", "open('/nonexistent') or True"]}]
    with pytest.raises((SerializationError, ConfigurationError)):
        Flow.deserialize(document)


# -- bounded costs and caches (issue 8) -----------------------------------------------


def test_a_too_costly_condition_is_logged_with_the_documented_error(caplog):
    """W: the evaluator's bound surfaces in the router's warning, naming the route."""
    routine = router(("greedy", "len(" + "+".join(["[0]*99999"] * 180) + ")"))
    with caplog.at_level(logging.WARNING, logger="routilux"):
        assert routine.matching_routes({"n": 1}) == []
    (message,) = [r.getMessage() for r in caplog.records if "greedy" in r.getMessage()]
    assert "ConfigurationError: condition too costly" in message


def make_routers(count: int, start: int) -> list[weakref.ref[Any]]:
    """Routers with distinct string and callable conditions, each used once, then
    dropped; weak references to the routers and their callables."""
    references: list[weakref.ref[Any]] = []
    for index in range(start, start + count):

        def condition(data: Any, config: Any, threshold: int = index) -> bool:
            return bool(data["n"] > threshold)

        routine = router(
            ("text", f"data['n'] > {index} and data.get('tag', '') != 'tag-{index}'"),
            ("call", condition),
            route_priority="all",
        )
        assert routine.matching_routes({"n": index + 1}) == ["text", "call"]
        references.extend([weakref.ref(routine), weakref.ref(condition)])
    return references


def test_dropped_routers_release_their_conditions():
    """X: no module-level cache keeps a dropped router's callable conditions (0.9-era
    caches kept every condition string and callable for ever)."""
    references = make_routers(50, 0)
    gc.collect()
    alive = [reference() for reference in references if reference() is not None]
    assert alive == []


def test_memory_stays_bounded_when_many_routers_come_and_go():
    """X: creating and dropping routers with distinct conditions does not grow memory
    (20,000 such routers held 103 MB before); the shared cache of parsed conditions
    is bounded, so a second, larger batch leaves memory where the first one did."""
    tracemalloc.start()
    try:
        make_routers(150, 0)  # fills the bounded caches
        gc.collect()
        before = tracemalloc.take_snapshot()
        make_routers(600, 150)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = [
        stat
        for stat in after.compare_to(before, "filename")
        if "routilux" in stat.traceback[0].filename or "ast" in stat.traceback[0].filename
    ]
    growth = sum(stat.size_diff for stat in grown)
    assert growth < 256 * 1024, [str(stat) for stat in grown[:5]]


def test_a_router_forgets_conditions_it_no_longer_uses():
    """X: replacing a router's routes drops what it prepared for the old ones."""
    first = [(f"r{i}", lambda data, i=i: data == i) for i in range(5)]
    routine = router(*first)
    references = [weakref.ref(condition) for _, condition in first]
    routine.set_config(routes=[("only", "True")])
    del first
    gc.collect()
    assert [reference() for reference in references] == [None] * 5
    assert routine.matching_routes({"n": 1}) == ["only"]


# -- 0.9's define_event after set_config (issue 8, 0.9-break 1) -----------------------


class Source(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("output", ["value"])

    def go(self, value: Any) -> None:
        self.emit("output", value=value)


class Sink(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, data: Any, route: str) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.update_routine_state(ctx.routine_id, {"got": (data, route)})


def test_the_0_9_quickstart_declares_route_events_after_set_config():
    """0.9-break 1: 0.9's quickstart configured routes, then called
    ``router.define_event("high")``; that raised DuplicateNameError, and now returns
    the router's own event."""
    flow = Flow()
    router_ = ConditionalRouter()
    router_.set_config(
        routes=[("high", "data.get('value', 0) > 10"), ("low", "data.get('value', 0) <= 10")],
        default_route="low",
    )
    flow.add_routine(Source(), "source")
    flow.add_routine(router_, "router")
    flow.add_routine(Sink(), "high_handler")
    flow.add_routine(Sink(), "low_handler")
    high = router_.get_event("high")
    assert router_.define_event("high") is high
    assert router_.define_event("low") is router_.get_event("low")
    assert high is not None and high.output_params == ["data", "route"]
    flow.connect("source", "output", "router", "input")
    flow.connect("router", "high", "high_handler", "input")
    flow.connect("router", "low", "low_handler", "input")
    job = flow.execute("source", entry_params={"value": 15})
    assert job.status == "completed"
    assert job.get_routine_state("high_handler")["got"] == ({"value": 15}, "high")
    job = flow.execute("source", entry_params={"value": 5})
    assert job.get_routine_state("low_handler")["got"] == ({"value": 5}, "low")


@pytest.mark.parametrize("params", [None, [], ["data"], ["route"], ["data", "route"]])
@pytest.mark.parametrize("name", ["high", "fallback", "output"])
def test_declaring_a_router_event_again_with_a_compatible_shape_returns_it(name, params):
    """0.9-break 1: the same name with output_params the event carries is accepted."""
    routine = router(("high", "True"), default_route="fallback")
    existing = routine.get_event(name)
    assert routine.define_event(name, params) is existing
    assert existing is not None and existing.output_params == ["data", "route"]


@pytest.mark.parametrize("params", [["value"], ["data", "route", "extra"]])
def test_declaring_a_router_event_with_another_shape_still_raises(params):
    """0.9-break 1: a conflicting shape raises DuplicateNameError naming the router and
    the event, and changes nothing."""
    routine = router(("high", "True"))
    with pytest.raises(
        DuplicateNameError, match="Event 'high' already exists in ConditionalRouter"
    ):
        routine.define_event("high", params)
    assert routine.get_event("high").output_params == ["data", "route"]


def test_events_the_router_does_not_own_keep_the_duplicate_check():
    """0.9-break 1: only the router's own events (routes, default route, output) are
    re-declarable; an event of the user's own defined twice still raises."""
    routine = router(("high", "True"))
    extra = routine.define_event("audit", ["entry"])
    with pytest.raises(DuplicateNameError, match="audit"):
        routine.define_event("audit", ["entry"])
    assert routine.get_event("audit") is extra


# -- fuzzing the evaluator's bounds (issue 8, W) ---------------------------------------

AMPLIFIERS = st.sampled_from(
    [
        "[0]*999999",
        "'ab'*499999",
        "'\\u4e00'*99999",
        "(1,)*999",
        "int('9'*1200)",
        "1.5",
        "{1, 2}",
        "data",
        "data['t']",
    ]
)


def _combine(parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    unary = st.sampled_from(
        ["str({})", "sorted({})", "list({})", "set({})", "len({})", "({})[::2]", "max({})"]
    )
    binary = st.sampled_from(
        ["({})+({})", "({})*({})", "({})==({})", "({}) in ({})", "[{}, {}]", "({}).count({})"]
    )
    return st.one_of(
        st.builds(lambda form, a: form.format(a), unary, parts),
        st.builds(lambda form, a, b: form.format(a, b), binary, parts, parts),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(AMPLIFIERS, _combine, max_leaves=10).filter(lambda text: len(text) <= 2000))
def test_compositions_of_amplifiers_stay_bounded(text):
    """W: whatever mix of repetition, concatenation, conversions and comparisons, an
    evaluation of a string condition returns a value within MAX_SIZE or raises an
    ordinary error, never exhausting memory or the stack. (Here rather than in
    test_expressions.py, whose tripwires would catch Hypothesis's own use of exec.)"""
    tree = compile_condition(text)
    try:
        result = evaluate(tree, {"data": {"t": "x" * 1000, 0: [1, 2]}})
    except (MemoryError, RecursionError) as exc:
        pytest.fail(f"{text!r} raised {type(exc).__name__}")
    except Exception:  # any ordinary failure is a bounded outcome
        return
    if isinstance(result, (str, bytes, list, tuple, set, dict)):
        assert len(result) <= MAX_SIZE

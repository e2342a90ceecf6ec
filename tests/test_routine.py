"""Unit tests for routilux/routine.py used without a Flow (standalone behaviour)."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from routilux.error_handler import ErrorHandler, ErrorStrategy
from routilux.exceptions import (
    ConfigurationError,
    DuplicateNameError,
    EventNotFoundError,
    InvalidStrategyError,
    NoExecutionContextError,
)
from routilux.routine import Routine


class Empty(Routine):
    def __init__(self) -> None:
        super().__init__()


class Forgetful(Routine):
    """A subclass that forgets to call super().__init__()."""

    def __init__(self) -> None:
        self.value = 1


class Source(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.trigger = self.define_slot("trigger", handler=self.run)
        self.output = self.define_event("output", ["value"])

    def run(self, value: Any = None, **kwargs: Any) -> None:
        self.emit("output", value=value)


class Sink(Routine):
    def __init__(self, name: str, log: list[Any]) -> None:
        super().__init__()
        self.name = name
        self.log = log
        self.input = self.define_slot("input", handler=self.take)

    def take(self, **data: Any) -> None:
        self.log.append((self.name, data, threading.get_ident()))


# -- defining slots and events ---------------------------------------------------------


def test_new_routine_has_no_slots_events_config_or_handler() -> None:
    routine = Empty()
    assert routine._slots == {}
    assert routine._events == {}
    assert routine.config() == {}
    assert routine.get_error_handler() is None
    assert routine._id == hex(id(routine))


def test_base_routine_can_be_used_directly() -> None:
    routine = Routine()
    slot = routine.define_slot("in")
    assert routine.get_slot("in") is slot


def test_define_slot_and_event_register_by_name() -> None:
    routine = Empty()
    a = routine.define_slot("a")
    b = routine.define_slot("b")
    out = routine.define_event("out")
    assert list(routine._slots) == ["a", "b"]
    assert routine.get_slot("a") is a
    assert routine.get_slot("b") is b
    assert routine.get_event("out") is out
    assert routine.get_slot("out") is None
    assert routine.get_event("a") is None


def test_slot_and_event_may_share_a_name() -> None:
    routine = Empty()
    slot = routine.define_slot("data")
    event = routine.define_event("data")
    assert routine.get_slot("data") is slot
    assert routine.get_event("data") is event


def test_duplicate_slot_raises_naming_it() -> None:
    routine = Empty()
    first = routine.define_slot("dup_slot")
    with pytest.raises(DuplicateNameError, match="Slot 'dup_slot' already exists") as info:
        routine.define_slot("dup_slot", handler=lambda data: None)
    assert repr(routine) in str(info.value)
    assert isinstance(info.value, ValueError)
    assert routine.get_slot("dup_slot") is first


def test_duplicate_event_raises_naming_it() -> None:
    routine = Empty()
    first = routine.define_event("dup_event")
    with pytest.raises(DuplicateNameError, match="Event 'dup_event' already exists") as info:
        routine.define_event("dup_event", ["x"])
    assert repr(routine) in str(info.value)
    assert isinstance(info.value, ConfigurationError)
    assert routine.get_event("dup_event") is first


@pytest.mark.parametrize("bad", ["", None, 3])
def test_empty_or_non_string_slot_name_raises(bad: Any) -> None:
    routine = Empty()
    with pytest.raises(ConfigurationError, match="slot name"):
        routine.define_slot(bad)
    assert routine._slots == {}


@pytest.mark.parametrize("bad", ["", None, 3])
def test_empty_or_non_string_event_name_raises(bad: Any) -> None:
    routine = Empty()
    with pytest.raises(ConfigurationError, match="event name"):
        routine.define_event(bad)
    assert routine._events == {}


def test_forgotten_super_init_gives_configuration_error() -> None:
    routine = Forgetful()
    with pytest.raises(ConfigurationError, match=r"Forgetful\.__init__ must call super"):
        routine.define_slot("input")
    with pytest.raises(ConfigurationError, match=r"Forgetful\.__init__ must call super"):
        routine.define_event("output")


def test_invalid_merge_strategy_in_define_slot_raises_and_defines_nothing() -> None:
    routine = Empty()
    with pytest.raises(InvalidStrategyError, match="bogus"):
        routine.define_slot("s", merge_strategy="bogus")
    assert routine.get_slot("s") is None


def test_non_callable_handler_in_define_slot_raises_and_defines_nothing() -> None:
    routine = Empty()
    with pytest.raises(TypeError, match="'s'"):
        routine.define_slot("s", handler="nope")  # type: ignore[arg-type]
    assert routine.get_slot("s") is None


# -- configuration ---------------------------------------------------------------------


def test_config() -> None:
    routine = Empty()
    routine.set_config(a=1, b=[2])
    routine.set_config(a=10, c=None)
    assert routine.get_config("a") == 10
    assert routine.get_config("b") == [2]
    assert routine.get_config("c", "default") is None
    assert routine.get_config("missing") is None
    assert routine.get_config("missing", 5) == 5
    assert routine.config() == {"a": 10, "b": [2], "c": None}


def test_config_returns_a_shallow_copy() -> None:
    routine = Empty()
    routine.set_config(items=[1])
    copy = routine.config()
    copy["new"] = True
    copy["items"].append(2)
    assert "new" not in routine.config()
    assert routine.get_config("items") == [1, 2]  # shallow
    assert routine.config() is not routine.config()


def test_config_is_per_instance() -> None:
    a, b = Empty(), Empty()
    a.set_config(x=1)
    assert b.config() == {}


# -- error handlers --------------------------------------------------------------------


def test_set_and_get_error_handler() -> None:
    routine = Empty()
    handler = ErrorHandler("continue")
    routine.set_error_handler(handler)
    assert routine.get_error_handler() is handler
    routine.set_error_handler(None)
    assert routine.get_error_handler() is None


@pytest.mark.parametrize("bad", ["retry", ErrorStrategy.RETRY, {"strategy": "stop"}, 1])
def test_set_error_handler_rejects_non_handlers(bad: Any) -> None:
    routine = Empty()
    handler = ErrorHandler()
    routine.set_error_handler(handler)
    with pytest.raises(ConfigurationError, match="ErrorHandler"):
        routine.set_error_handler(bad)
    assert routine.get_error_handler() is handler


def test_set_as_optional_defaults_to_continue() -> None:
    routine = Empty()
    routine.set_as_optional()
    handler = routine.get_error_handler()
    assert handler is not None
    assert handler.strategy is ErrorStrategy.CONTINUE
    assert handler.is_critical is False
    assert handler == ErrorHandler(ErrorStrategy.CONTINUE)


@pytest.mark.parametrize("strategy", [ErrorStrategy.SKIP, "skip", "SKIP"])
def test_set_as_optional_with_strategy(strategy: Any) -> None:
    routine = Empty()
    routine.set_as_optional(strategy)
    handler = routine.get_error_handler()
    assert handler is not None
    assert handler.strategy is ErrorStrategy.SKIP
    assert handler.is_critical is False


def test_set_as_optional_with_invalid_strategy_raises() -> None:
    routine = Empty()
    with pytest.raises(InvalidStrategyError):
        routine.set_as_optional("ignore")
    assert routine.get_error_handler() is None


def test_set_as_critical_defaults() -> None:
    routine = Empty()
    routine.set_as_critical()
    handler = routine.get_error_handler()
    assert handler is not None
    assert handler.strategy is ErrorStrategy.RETRY
    assert handler.is_critical is True
    assert (handler.max_retries, handler.retry_delay, handler.retry_backoff) == (3, 1.0, 2.0)


def test_set_as_critical_with_numbers() -> None:
    routine = Empty()
    routine.set_as_critical(max_retries=7, retry_delay=0.25, retry_backoff=1.5)
    handler = routine.get_error_handler()
    assert handler is not None
    assert handler.strategy is ErrorStrategy.RETRY
    assert handler.is_critical is True
    assert (handler.max_retries, handler.retry_delay, handler.retry_backoff) == (7, 0.25, 1.5)
    routine.set_as_critical(2, 0.5, 3.0)
    handler = routine.get_error_handler()
    assert handler is not None
    assert (handler.max_retries, handler.retry_delay, handler.retry_backoff) == (2, 0.5, 3.0)


def test_set_as_critical_replaces_optional() -> None:
    routine = Empty()
    routine.set_as_optional()
    routine.set_as_critical()
    handler = routine.get_error_handler()
    assert handler is not None
    assert handler.strategy is ErrorStrategy.RETRY


# -- emit outside a job ----------------------------------------------------------------


def test_emit_unknown_event_raises_naming_it() -> None:
    routine = Source()
    with pytest.raises(EventNotFoundError, match="Event 'nope' does not exist") as info:
        routine.emit("nope", x=1)
    message = str(info.value)
    assert repr(routine) in message
    assert "'output'" in message  # lists the known events
    assert isinstance(info.value, ValueError)


def test_emit_unknown_event_on_routine_without_events() -> None:
    with pytest.raises(EventNotFoundError, match=r"'ghost'.*none"):
        Empty().emit("ghost")


def test_emit_calls_connected_slots_synchronously_in_connect_order() -> None:
    log: list[Any] = []
    source = Source()
    sinks = [Sink(name, log) for name in ("b", "a", "c")]
    for sink in sinks:
        source.output.connect(sink.input)
    source.emit("output", value=5)
    me = threading.get_ident()
    assert log == [("b", {"value": 5}, me), ("a", {"value": 5}, me), ("c", {"value": 5}, me)]


def test_emit_with_slot_connect_and_param_mapping() -> None:
    log: list[Any] = []
    source = Source()
    plain, mapped = Sink("plain", log), Sink("mapped", log)
    plain.input.connect(source.output)
    mapped.input.connect(source.output, {"value": "amount"})
    source.emit("output", value=3)
    assert [(name, data) for name, data, _ in log] == [
        ("plain", {"value": 3}),
        ("mapped", {"amount": 3, "value": 3}),
    ]


def test_emit_through_a_chain_runs_before_returning() -> None:
    log: list[Any] = []

    class Relay(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.input = self.define_slot("input", handler=self.relay)
            self.output = self.define_event("output")

        def relay(self, value: Any) -> None:
            self.emit("output", value=value + 1)

    source, relay, sink = Source(), Relay(), Sink("end", log)
    source.output.connect(relay.input)
    relay.output.connect(sink.input)
    source.trigger.receive({"value": 1})
    assert [(name, data) for name, data, _ in log] == [("end", {"value": 2})]


def test_emit_with_no_connections_does_nothing() -> None:
    """O: this test asserted nothing. An event with no connections (never connected,
    or connected and then disconnected) delivers to no slot, without error."""
    log: list[Any] = []
    source = Source()
    sink = Sink("s", log)
    source.emit("output", value=1)
    source.output.connect(sink.input)
    source.output.disconnect(sink.input)
    assert source.output.connected_slots == []
    source.emit("output", value=2)
    assert log == []
    # The emit left nothing behind that a later connection would deliver.
    source.output.connect(sink.input)
    source.emit("output", value=3)
    assert [data for _, data, _ in log] == [{"value": 3}]


def test_emit_accepts_a_key_named_event_name() -> None:
    log: list[Any] = []
    source = Source()
    source.output.connect(Sink("s", log).input)
    source.emit("output", event_name="x", flow="y")
    assert [data for _, data, _ in log] == [{"event_name": "x", "flow": "y"}]


def test_emit_propagates_slot_handler_exception() -> None:
    source = Source()

    def fail(data: Any) -> None:
        raise LookupError("sink broke")

    target = Empty()
    target_slot = target.define_slot("input", handler=fail)
    source.output.connect(target_slot)
    with pytest.raises(LookupError, match="sink broke"):
        source.emit("output", value=1)


# -- execution context -----------------------------------------------------------------


def test_get_execution_context_is_none_outside_a_job() -> None:
    seen: list[Any] = []

    class Probe(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.slot = self.define_slot("in", handler=self.check)

        def check(self, data: Any) -> None:
            seen.append(self.get_execution_context())

    probe = Probe()
    assert probe.get_execution_context() is None
    probe.slot.receive({"x": 1})  # inside a handler, but not in a job
    assert seen == [None]


def test_send_output_outside_a_job_raises() -> None:
    routine = Source()
    with pytest.raises(NoExecutionContextError, match="send output 'result'") as info:
        routine.send_output("result", value=1)
    assert isinstance(info.value, RuntimeError)
    assert repr(routine) in str(info.value)
    assert "not in execution context" in str(info.value)


def test_emit_deferred_event_outside_a_job_raises() -> None:
    routine = Source()
    with pytest.raises(NoExecutionContextError, match="deferred event 'output'") as info:
        routine.emit_deferred_event("output", value=1)
    assert isinstance(info.value, RuntimeError)
    # The context check comes first, even for an unknown event.
    with pytest.raises(NoExecutionContextError):
        routine.emit_deferred_event("unknown")


# -- _extract_input_data ---------------------------------------------------------------


@pytest.mark.parametrize("value", [0, "", [], False, {"a": 1}, "text", 0.0])
def test_extract_input_data_returns_data_when_not_none(value: Any) -> None:
    assert Empty()._extract_input_data(value, other=1) is value


def test_extract_input_data_data_keyword() -> None:
    # A "data" keyword binds to the data parameter itself (so the kwargs["data"] rule
    # is only reachable through it); either way the value comes back.
    payload = {"k": "v"}
    assert Empty()._extract_input_data(data=payload, extra=1) is payload
    assert Empty()._extract_input_data(**{"data": 5}) == 5


def test_extract_input_data_single_kwarg_value() -> None:
    assert Empty()._extract_input_data(text="hello") == "hello"
    assert Empty()._extract_input_data(None, only={"x": 1}) == {"x": 1}


def test_extract_input_data_all_kwargs() -> None:
    assert Empty()._extract_input_data(a=1, b=2) == {"a": 1, "b": 2}
    assert Empty()._extract_input_data(None, a=None, b=None) == {"a": None, "b": None}


def test_extract_input_data_nothing_gives_empty_dict() -> None:
    assert Empty()._extract_input_data() == {}
    assert Empty()._extract_input_data(None) == {}


# -- calling and repr ------------------------------------------------------------------


def test_calling_a_routine_is_deprecated_and_does_nothing() -> None:
    """O: "does nothing" was only checked by the return value; calling a routine must
    neither run its trigger handler nor emit to connected slots."""
    log: list[Any] = []
    routine = Source()
    routine.output.connect(Sink("s", log).input)
    with pytest.warns(DeprecationWarning, match="Flow.execute"):
        result = routine(value=1)
    assert result is None
    assert log == []
    routine.trigger.receive({"value": 1})  # the same routine, run through its slot
    assert [data for _, data, _ in log] == [{"value": 1}]


def test_repr() -> None:
    routine = Source()
    assert repr(routine) == f"Source[{hex(id(routine))}]"
    assert re.fullmatch(r"Source\[0x[0-9a-f]+\]", repr(routine))
    assert re.fullmatch(r"Routine\[0x[0-9a-f]+\]", repr(Routine()))


def test_current_flow_is_the_running_jobs_flow() -> None:
    """0.9-break 4: the 0.9 guide's getattr(self, "_current_flow", None) finds the
    job's flow inside a handler; outside it is None (or what was assigned)."""
    from routilux import Flow

    seen: list[Any] = []

    class Guarded(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)

        def go(self) -> None:
            seen.append(getattr(self, "_current_flow", None))

    routine = Guarded()
    flow = Flow()
    flow.add_routine(routine, "g")
    assert routine._current_flow is None
    flow.execute("g")
    assert seen == [flow]
    assert routine._current_flow is None
    routine._current_flow = flow
    assert routine._current_flow is flow


def test_require_execution_context_is_typed_and_raises_outside_a_job() -> None:
    """Friction: a typed accessor that never returns None."""
    from routilux import Flow
    from routilux.execution_context import ExecutionContext

    seen: list[ExecutionContext] = []

    class Typed(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)

        def go(self) -> None:
            seen.append(self.require_execution_context())

    routine = Typed()
    with pytest.raises(NoExecutionContextError, match="not in execution context"):
        routine.require_execution_context()
    flow = Flow()
    flow.add_routine(routine, "t")
    job = flow.execute("t")
    (ctx,) = seen
    assert ctx.job_state is job and ctx.flow is flow and ctx.routine_id == "t"

"""Flow.validate reports wiring problems before running."""

from __future__ import annotations

import functools
from typing import Any

from routilux import Flow, Routine
from routilux.validation import ERROR, WARNING, ValidationIssue

from helpers import Collector, Relay, Source, chain


class TwoParameters(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, value: Any, label: Any = None) -> None:
        return None


class NoTrigger(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=lambda **kw: None)


def messages(issues: list[ValidationIssue]) -> list[str]:
    return [str(issue) for issue in issues]


def test_a_sound_flow_has_no_issues() -> None:
    flow = chain(("src", Source()), ("relay", Relay()), ("sink", Collector()))
    assert flow.validate("src") == []
    assert flow.validate() == []


def test_entry_problems_are_errors() -> None:
    flow = Flow("f")
    flow.add_routine(NoTrigger(), "nt")
    assert messages(flow.validate("missing")) == [
        "error: entry routine 'missing' is not in the flow",
        "warning: slot 'input' of routine 'nt' is not connected",
    ]
    issues = flow.validate("nt")
    assert issues[0] == ValidationIssue(ERROR, "entry routine 'nt' has no 'trigger' slot", "nt")


def test_unconnected_slots_unreached_routines_and_cycles_are_warnings() -> None:
    flow = chain(("src", Source()), ("a", Relay()), ("b", Relay()))
    flow.connect("b", "output", "a", "input")  # a <-> b
    flow.add_routine(Collector(), "lonely")
    assert messages(flow.validate("src")) == [
        "warning: slot 'input' of routine 'lonely' is not connected",
        "warning: routine 'lonely' is not reached from 'src'",
        "warning: cycle: a -> b -> a",
    ]
    assert all(issue.severity == WARNING for issue in flow.validate("src"))


def test_keys_a_handler_cannot_receive_are_reported() -> None:
    flow = Flow("f")
    flow.add_routine(Source(), "src")
    flow.add_routine(TwoParameters(), "two")
    flow.connect("src", "output", "two", "input", {"value": "amount"})
    text = messages(flow.validate("src"))
    assert (
        "warning: src.output -> two.input: key 'amount' is dropped, the handler of slot "
        "'input' has no parameter 'amount'"
    ) in text
    flow.connect("src", "output", "two", "input", {"missing": "label"})
    text = messages(flow.validate("src"))
    assert any("maps 'missing', which event 'output' does not declare" in line for line in text)


def test_errors_come_first() -> None:
    flow = chain(("src", Source()), ("a", Relay()))
    flow.connect("a", "output", "a", "input")
    issues = flow.validate("nowhere")
    assert [issue.severity for issue in issues][:1] == [ERROR]
    assert "cycle: a -> a" in messages(issues)[-1]


class NeedsText(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.send)

    def send(self, subject: str, text: str, footer: str = "") -> None:
        pass


class Article(Routine):
    def __init__(self, declared: list[str]) -> None:
        super().__init__()
        self.define_slot("trigger", handler=lambda **kw: None)
        self.define_event("article", declared)


def mailer_flow(declared: list[str], mapping: dict[str, str] | None = None) -> Flow:
    flow = Flow()
    flow.add_routine(Article(declared), "article")
    flow.add_routine(NeedsText(), "mailer")
    flow.connect("article", "article", "mailer", "input", mapping)
    return flow


def test_a_required_parameter_no_connection_delivers_is_reported() -> None:
    flow = mailer_flow(["subject", "body"])
    assert messages(flow.validate("article")) == [
        "warning: article.article -> mailer.input: key 'body' is dropped, the handler of "
        "slot 'input' has no parameter 'body'",
        "warning: the handler of slot 'input' of routine 'mailer' needs 'text', which no "
        "connection delivers (from article.article)",
    ]


def test_a_mapping_that_supplies_the_parameter_satisfies_it() -> None:
    assert mailer_flow(["subject", "body"], {"body": "text"}).validate("article") == []


def test_parameters_are_not_judged_when_an_event_declares_no_keys() -> None:
    assert mailer_flow([]).validate("article") == []


def test_keys_from_any_incoming_connection_count() -> None:
    flow = mailer_flow(["subject"])
    flow.add_routine(Article(["text"]), "other")
    flow.connect("other", "article", "mailer", "input")
    issues = [i for i in flow.validate() if "needs" in i.message]
    assert issues == []


class TakesTheDelivery(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self, data: dict[str, Any], verbose: bool = False) -> None:
        pass


def test_a_handler_matching_no_key_gets_the_delivery_and_is_not_reported() -> None:
    flow = Flow()
    flow.add_routine(Article(["subject"]), "article")
    flow.add_routine(TakesTheDelivery(), "sink")
    flow.connect("article", "article", "sink", "input")
    assert [i for i in flow.validate("article") if "needs" in i.message] == []
    job = flow.execute("article")
    assert job.status == "completed"


class Typo(Routine):
    """A one-parameter handler whose name is not the key its input delivers."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, valu: Any) -> None:
        pass


def test_a_lone_parameter_named_after_no_delivered_key_is_reported() -> None:
    """M: `def take(self, valu)` fed `value` receives the whole dict (0.9 does so
    too); validate() says so."""
    flow = chain(("src", Source()), ("typo", Typo()))
    warnings = [i for i in flow.validate("src") if i.severity == WARNING]
    assert len(warnings) == 1
    (issue,) = warnings
    assert issue.routine_id == "typo"
    assert "'valu'" in issue.message and "['value']" in issue.message
    assert "whole delivery" in issue.message
    # Named after the key, or 'data' on purpose: nothing to say.
    assert chain(("src", Source()), ("ok", Relay())).validate("src") == []


def test_async_handlers_are_recognised_however_they_are_made() -> None:
    """E (superseded by issue 9): async def handlers run; a slot knows it has one,
    whether a method, an object with an async __call__ or a partial of either."""

    class Async(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)

        async def go(self) -> None:
            pass

    class AsyncCall:
        async def __call__(self) -> None:
            pass

    routine = Async()
    assert routine.get_slot("trigger")._is_async  # type: ignore[union-attr]
    assert routine.define_slot("other", handler=AsyncCall())._is_async
    assert routine.define_slot("partial", handler=functools.partial(routine.go))._is_async
    assert not routine.define_slot("plain", handler=lambda: None)._is_async
    flow = Flow()
    flow.add_routine(routine, "a")
    assert [i for i in flow.validate("a") if i.severity == ERROR] == []


def test_a_handler_returning_a_coroutine_fails_instead_of_passing_silently() -> None:
    """E: a plain function that returns a coroutine (never awaited) is a failure."""

    async def work() -> None:
        pass

    class Wrapper(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=lambda: work())

    flow = Flow()
    flow.add_routine(Wrapper(), "w")
    job = flow.execute("w")
    assert job.status == "failed"
    assert "is not an async def function" in job.errors[0]["error"]

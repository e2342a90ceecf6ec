"""Invalid documents are refused with a clear SerializationError, and change nothing.

Both document kinds (``routilux.flow`` and ``routilux.job``) are loaded three ways:
``Cls.deserialize(doc)``, ``instance.deserialize(doc)`` (the instance must be exactly
as before when that fails) and ``Cls.load(file)``.
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import dataclasses
import enum
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from routilux import ErrorHandler, ErrorStrategy, Flow, JobState, Routine, register_serializable
from routilux.exceptions import RoutineNotFoundError, SerializationError

from helpers import Collector, Failing, Relay, Source

# -- routines, registered names and the two valid documents ------------------------------

#: Handlers of the routines below append here; loading must never run any.
HANDLER_CALLS: list[str] = []


class Tripwire(Routine):
    """A routine whose handlers note that they ran."""

    label = "a class attribute that is data"

    def __init__(self) -> None:
        super().__init__()
        self.instance_value = 1
        self.define_slot("input", handler=self.handle)
        self.define_slot("other", handler=self.handle, merge_strategy="append")
        self.define_event("output", ["value"])

    def handle(self, **data: Any) -> None:
        HANDLER_CALLS.append("handle")
        self.emit("output", **data)

    def another(self, **data: Any) -> None:
        HANDLER_CALLS.append("another")

    def emit_all(self, **data: Any) -> None:
        HANDLER_CALLS.append("emit_all")

    def _private_helper(self, **data: Any) -> None:
        HANDLER_CALLS.append("_private_helper")

    @staticmethod
    def static(**data: Any) -> None:
        HANDLER_CALLS.append("static")

    @classmethod
    def klass(cls, **data: Any) -> None:
        HANDLER_CALLS.append("klass")

    @property
    def prop(self) -> Any:
        HANDLER_CALLS.append("prop")
        return self.handle


class PauseAtOne(Routine):
    """Pauses the job on value 1, with a deferred event."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle, merge_strategy="append")
        self.define_event("later", ["value"])

    def handle(self, value: list[int]) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.update_shared_data("seen", tuple(value))
        if value[-1] == 1:
            self.emit_deferred_event("later", value=value[-1])
            ctx.flow.pause(ctx.job_state, "halfway", {"at": (1,)})


class BadDocError(Exception):
    pass


@register_serializable(name="test_bad_documents.merge_last")
def merge_last(old: Any, new: dict[str, Any]) -> dict[str, Any]:
    return new


@register_serializable(name="test_bad_documents.Point")
@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


@register_serializable(name="test_bad_documents.Colour")
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


def build_flow() -> Flow:
    flow = Flow("bad-docs", "sequential", 3, history_limit=100)
    flow.add_routine(Source(), "src")
    relay = Relay()
    relay.set_config(factor=2, window=(1, 2), when=datetime(2024, 1, 2, 3, 4, 5, 6))
    relay.set_error_handler(ErrorHandler("retry", 2, 0.5, 2.0, (BadDocError, KeyError), True))
    flow.add_routine(relay, "relay")
    flow.add_routine(Tripwire(), "trip")
    flow.add_routine(PauseAtOne(), "pause")
    flow.add_routine(Collector(merge_strategy=merge_last), "sink")
    flow.connect("src", "output", "relay", "input")
    flow.connect("relay", "output", "trip", "input", {"value": "v"})
    flow.connect("src", "output", "pause", "input")
    flow.connect("pause", "later", "sink", "input")
    flow.set_error_handler(ErrorHandler("continue"))
    return flow


def flow_document() -> dict[str, Any]:
    """A valid flow document with something at every depth."""
    doc = build_flow().serialize()
    document: dict[str, Any] = json.loads(json.dumps(doc))
    return document


def paused_job() -> JobState:
    flow = Flow("jobs")
    flow.add_routine(Source(), "src")
    flow.add_routine(PauseAtOne(), "pause")
    flow.add_routine(Collector(), "sink")
    flow.connect("src", "output", "pause", "input")
    flow.connect("src", "output", "sink", "input")
    job = flow.execute("src", {"count": 4})
    assert job.status == "paused"
    job.update_shared_data("tags", {"a", "b"})
    job.update_shared_data("when", datetime(2024, 1, 2, 3, 4, 5, 6))
    job.append_to_shared_log({"note": "hello"})
    job.errors.append({"routine_id": "sink", "error": "x", "error_type": "ValueError"})
    return job


def job_document() -> dict[str, Any]:
    """A valid document of a paused job with pending work, buffers and a deferred event."""
    document: dict[str, Any] = json.loads(json.dumps(paused_job().serialize()))
    assert document["pending_tasks"]
    assert document["merge_buffers"]
    assert document["deferred_events"]
    return document


# Class and instance forms, and what "unchanged" means for each kind.


def flow_target() -> Flow:
    flow = Flow("target", "concurrent", 4, history_limit=9)
    flow.set_error_handler(ErrorHandler("skip"))
    return flow


def flow_snapshot(flow: Flow) -> Any:
    return (
        flow.flow_id,
        flow.execution_strategy,
        flow._worker_limit,
        flow.history_limit,
        flow.error_handler,
        id(flow.error_handler),
        dict(flow.routines),
        list(flow.connections),
        id(flow.store),
        list(flow._slot_table),
    )


_JOB_ATTRIBUTES = (
    "flow_id",
    "job_id",
    "status",
    "current_routine_id",
    "routine_states",
    "pause_points",
    "pending_tasks",
    "deferred_events",
    "shared_data",
    "output_log",
    "errors",
    "created_at",
    "execution_tracker",
    "_history",
    "_merge_buffers",
    "_results",
    "_machine",
)


def job_target() -> JobState:
    return paused_job()


def job_snapshot(job: JobState) -> Any:
    return (
        json.dumps(job.serialize(), sort_keys=True),
        {name: id(getattr(job, name)) for name in _JOB_ATTRIBUTES},
        job.updated_at,
    )


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    cls: Any
    format: str
    document: Callable[[], dict[str, Any]]
    target: Callable[[], Any]
    snapshot: Callable[[Any], Any]


FLOW = Kind("flow", Flow, "routilux.flow", flow_document, flow_target, flow_snapshot)
JOB = Kind("job", JobState, "routilux.job", job_document, job_target, job_snapshot)
OTHER = {"flow": JOB, "job": FLOW}


@pytest.fixture(params=[FLOW, JOB], ids=lambda kind: kind.name)
def kind(request: pytest.FixtureRequest) -> Kind:
    result: Kind = request.param
    return result


def refused(kind: Kind, document: Any, tmp_path: Path | None = None) -> SerializationError:
    """Load ``document`` every way; each must raise SerializationError and change
    nothing. Returns the error of the class form."""
    before = copy.deepcopy(document)
    with pytest.raises(SerializationError) as info:
        kind.cls.deserialize(document)
    target = kind.target()
    snapshot = kind.snapshot(target)
    with pytest.raises(SerializationError) as instance_info:
        target.deserialize(document)
    assert kind.snapshot(target) == snapshot
    assert same_message(instance_info.value, info.value)
    assert document == before  # the document itself is not changed either
    if tmp_path is not None:
        path = tmp_path / f"{kind.name}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        with pytest.raises(SerializationError) as file_info:
            kind.cls.load(path)
        # S: the same problem, in a message that names the file it is in.
        assert str(file_info.value).startswith(f"cannot load {path}: ")
        assert same_message(str(file_info.value).removeprefix(f"cannot load {path}: "), info.value)
        assert file_info.value.path == info.value.path
    return info.value


def same_message(first: BaseException | str, second: BaseException) -> bool:
    """Equal messages, but for the addresses in routine reprs."""
    return bool(re.sub("0x[0-9a-f]+", "0x", str(first)) == re.sub("0x[0-9a-f]+", "0x", str(second)))


def test_valid_documents_load(kind: Kind, tmp_path: Path) -> None:
    """The base documents the other tests spoil are valid."""
    document = kind.document()
    loaded = kind.cls.deserialize(document)
    assert loaded.serialize() == document
    target = kind.target()
    assert target.deserialize(document) is target
    (tmp_path / "doc.json").write_text(json.dumps(document), encoding="utf-8")
    assert kind.cls.load(tmp_path / "doc.json").serialize() == document


# -- files that are not documents ---------------------------------------------------


@pytest.mark.parametrize("cut", [1, 0.5, -1])
def test_truncated_json_file(kind: Kind, tmp_path: Path, cut: float) -> None:
    text = json.dumps(kind.document(), indent=2)
    end = int(len(text) * cut) if isinstance(cut, float) else cut
    path = tmp_path / "truncated.json"
    path.write_text(text[:end], encoding="utf-8")
    with pytest.raises(SerializationError, match=r"truncated\.json is not valid JSON \(line \d+"):
        kind.cls.load(path)


def test_empty_file(kind: Kind, tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text("", encoding="utf-8")
    with pytest.raises(SerializationError, match="not valid JSON"):
        kind.cls.load(path)


def test_file_that_is_not_utf8(kind: Kind, tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"format": "' + kind.format.encode() + b'", "x": "caf\xe9"}')
    with pytest.raises(SerializationError, match="not UTF-8"):
        kind.cls.load(path)


@pytest.mark.parametrize("value", [[], [{"format": "x"}], "text", 42, None, True])
def test_json_value_that_is_not_an_object(kind: Kind, tmp_path: Path, value: Any) -> None:
    error = refused(kind, value, tmp_path)
    assert error.path == "$"
    assert f"a {kind.format} document must be a JSON object, not {type(value).__name__}" in str(
        error
    )


def test_document_of_the_other_kind(kind: Kind, tmp_path: Path) -> None:
    other = OTHER[kind.name]
    error = refused(kind, other.document(), tmp_path)
    assert error.path == "$.format"
    assert f"expected a {kind.format} document, found format '{other.format}'" in str(error)


@pytest.mark.parametrize("value", ["routilux.Flow", "", None, 1, ["routilux.flow"]])
def test_wrong_format(kind: Kind, value: Any) -> None:
    document = kind.document()
    document["format"] = value
    error = refused(kind, document)
    assert error.path == "$.format"
    assert f"found format {value!r}" in str(error)


def test_missing_format(kind: Kind) -> None:
    document = kind.document()
    del document["format"]
    assert refused(kind, document).path == "$.format"


@pytest.mark.parametrize("version", [2, 0, -1, "1", None, 1.0, True, [1]])
def test_unknown_version(kind: Kind, tmp_path: Path, version: Any) -> None:
    document = kind.document()
    document["version"] = version
    error = refused(kind, document, tmp_path)
    assert error.path == "$.version"
    assert f"unsupported {kind.format} version {version!r}" in str(error)
    assert "reads version 1" in str(error)


def test_missing_version(kind: Kind) -> None:
    document = kind.document()
    del document["version"]
    assert "version None" in str(refused(kind, document))


# -- names that must not be resolved to code ------------------------------------------


@pytest.fixture
def forbidden(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Functions a malicious document might name, replaced by ones that note the call."""
    calls: list[str] = []

    def tripwire(name: str) -> Callable[..., Any]:
        def called(*args: Any, **kwargs: Any) -> None:
            calls.append(name)
            raise AssertionError(f"{name} was called by loading a document")

        return called

    for module, name in [
        (os, "system"),
        (os, "popen"),
        (os, "remove"),
        (os, "execv"),
        (subprocess, "Popen"),
        (subprocess, "run"),
        (shutil, "rmtree"),
        (builtins, "input"),
        (builtins, "breakpoint"),
    ]:
        monkeypatch.setattr(module, name, tripwire(f"{module.__name__}.{name}"))
    return calls


NOT_ROUTINES = [
    "builtins:dict",
    "os:system",
    "builtins:eval",
    "builtins:exec",
    "subprocess:Popen",
    "shutil:rmtree",
    "routilux.flow:Flow",
    "routilux.job_state:JobState",
    "builtins:int.from_bytes",
]


@pytest.mark.parametrize("reference", NOT_ROUTINES)
def test_routine_class_that_is_not_a_routine(
    reference: str, forbidden: list[str], tmp_path: Path
) -> None:
    document = flow_document()
    document["routines"][1]["class"] = reference
    error = refused(FLOW, document, tmp_path)
    assert error.path == "$.routines[1].class"
    assert f"'{reference}' is not a Routine subclass; refusing to restore it" in str(error)
    assert forbidden == []


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("system", "is not a 'module:QualifiedName' reference"),
        (":Source", "is not a 'module:QualifiedName' reference"),
        ("helpers:", "is not a 'module:QualifiedName' reference"),
        ("helpers:NoSuchRoutine", "'helpers' has no 'NoSuchRoutine'"),
        ("helpers:Source.<locals>.X", "'helpers' has no"),
        ("helpers:Source.__init__.__globals__", "'helpers' has no"),
        ("os:path.join.__call__", "'os' has no"),
    ],
)
def test_malformed_or_unknown_class_reference(reference: str, message: str) -> None:
    document = flow_document()
    document["routines"][0]["class"] = reference
    error = refused(FLOW, document)
    assert error.path == "$.routines[0].class"
    assert message in str(error)


@pytest.mark.parametrize(
    ("module", "reference"),
    [("antigravity", "antigravity:Flyer"), ("this", "this:s"), ("tkinter", "tkinter:Tk")],
)
def test_class_in_a_module_that_is_not_imported(
    module: str, reference: str, tmp_path: Path
) -> None:
    assert module not in sys.modules
    document = flow_document()
    document["routines"][2]["class"] = reference
    error = refused(FLOW, document, tmp_path)
    assert error.path == "$.routines[2].class"
    assert f"module '{module}' is not imported" in str(error)
    assert module not in sys.modules


def test_exception_class_in_a_module_that_is_not_imported() -> None:
    document = flow_document()
    document["routines"][1]["error_handler"]["retryable_exceptions"] = ["antigravity:Error"]
    error = refused(FLOW, document)
    assert error.path == "$.routines[1].error_handler.retryable_exceptions[0]"
    assert "antigravity" not in sys.modules


@pytest.mark.parametrize("reference", ["os:system", "builtins:dict", "helpers:Source"])
def test_retryable_exception_that_is_not_an_exception(reference: str, forbidden: list[str]) -> None:
    document = flow_document()
    document["error_handler"]["retryable_exceptions"] = ["builtins:ValueError", reference]
    error = refused(FLOW, document)
    assert error.path == "$.error_handler.retryable_exceptions[1]"
    assert "is not a BaseException subclass" in str(error)
    assert forbidden == []


@pytest.mark.parametrize(
    ("field", "value", "path", "message"),
    [
        ("handler_function", "os:system", "handler_function", "no function is registered"),
        ("handler_function", "builtins:print", "handler_function", "no function is registered"),
        ("merge_function", "os:system", "merge_function", "only for merge_strategy 'function'"),
    ],
)
def test_functions_are_only_found_in_the_registry(
    field: str, value: str, path: str, message: str, forbidden: list[str]
) -> None:
    document = flow_document()
    slot = document["routines"][2]["slots"][0]
    slot[field] = value
    if field == "handler_function":
        slot["handler"] = None
    error = refused(FLOW, document)
    assert error.path is not None
    assert error.path.startswith("$.routines[2].slots[0]")
    assert message in str(error)
    assert forbidden == []


def test_merge_function_must_be_registered(forbidden: list[str]) -> None:
    document = flow_document()
    slot = document["routines"][4]["slots"][0]
    assert slot["merge_strategy"] == "function"
    slot["merge_function"] = "os:system"
    error = refused(FLOW, document)
    assert error.path == "$.routines[4].slots[0].merge_function"
    assert "no function is registered as 'os:system'" in str(error)
    slot["merge_function"] = "test_bad_documents.Point"  # registered, but a class
    assert "no function is registered" in str(refused(FLOW, document))
    slot["merge_strategy"] = "bogus"
    slot["merge_function"] = None
    error = refused(FLOW, document)
    assert error.path == "$.routines[4].slots[0].merge_strategy"
    assert "unknown merge strategy 'bogus'" in str(error)
    assert forbidden == []


@pytest.mark.parametrize(
    "tagged",
    [
        {"$function": "os:system"},
        {"$function": "builtins:eval"},
        {"$object": "os:system", "fields": {"command": "echo hi"}},
        {"$object": "subprocess:Popen", "fields": {"args": ["echo", "hi"]}},
        {"$object": "test_bad_documents:Tripwire", "fields": {}},
        {"$object": "antigravity:Flyer", "fields": {}},
        {"$function": "this:s"},
        {"$enum": "os:system", "member": "x"},
        {"$enum": "test_bad_documents.Colour", "member": "GREEN"},
        {"$enum": "test_bad_documents.Colour", "member": "__class__"},
        {"$object": "test_bad_documents.Point", "fields": {"x": 1}},
        {"$object": "test_bad_documents.Point", "fields": {"x": 1, "y": 2, "z": 3}},
        {"$object": "test_bad_documents.Point", "fields": []},
        {"$object": "test_bad_documents.Colour", "fields": {}},
        {"$nonsense": 1},
        {"$tuple": "abc"},
        {"$set": [[1]]},
        {"$dict": [[1, 2, 3]]},
        {"$dict": [[[1], 2]]},
        {"$datetime": "yesterday"},
        {"$datetime": 20240101},
        {"$date": "2024-13-01"},
        {"$time": "25:00"},
        {"$timedelta": "1s"},
        {"$float": "1.5"},
        {"$bytes": "not base64!"},
        {"$decimal": "one"},
        {"$uuid": "1234"},
    ],
    ids=repr,
)
def test_invalid_tagged_values_in_data(
    kind: Kind, tagged: dict[str, Any], forbidden: list[str]
) -> None:
    modules = set(sys.modules)
    document = kind.document()
    if kind is FLOW:
        document["routines"][1]["config"]["bad"] = [tagged]
        prefix = "$.routines[1].config.bad[0]"
    else:
        document["shared_data"]["bad"] = [tagged]
        prefix = "$.shared_data.bad[0]"
    error = refused(kind, document)
    assert error.path is not None
    assert error.path.startswith(prefix)
    assert forbidden == []
    assert HANDLER_CALLS == []
    assert set(sys.modules) == modules


def test_registered_values_in_data_are_restored() -> None:
    """The counterpart of the test above: registered names do load."""
    document = job_document()
    document["shared_data"]["ok"] = [
        {"$object": "test_bad_documents.Point", "fields": {"x": 1, "y": 2}},
        {"$enum": "test_bad_documents.Colour", "member": "BLUE"},
        {"$function": "test_bad_documents.merge_last"},
    ]
    job = JobState.deserialize(document)
    assert job.shared_data["ok"] == [Point(1, 2), Colour.BLUE, merge_last]


# -- references that do not fit the document ------------------------------------------


@pytest.mark.parametrize("role", ["source", "target"])
def test_connection_naming_an_undefined_routine(role: str, tmp_path: Path) -> None:
    document = flow_document()
    document["connections"][1][role] = "ghost"
    error = refused(FLOW, document, tmp_path)
    assert error.path == f"$.connections[1].{role}"
    assert f"connection names {role} routine 'ghost', which the document does not define" in str(
        error
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("event", "no_such_event", "no_such_event"), ("slot", "no_such_slot", "no_such_slot")],
)
def test_connection_naming_an_undefined_event_or_slot(field: str, value: str, message: str) -> None:
    document = flow_document()
    document["connections"][0][field] = value
    error = refused(FLOW, document)
    assert error.path == "$.connections[0]"
    assert message in str(error)


def test_duplicate_routine_ids() -> None:
    document = flow_document()
    document["routines"][1]["id"] = "src"
    error = refused(FLOW, document)
    assert error.path == "$.routines[1].id"
    assert "'src' already exists" in str(error)


def test_pending_work_naming_an_unknown_routine_is_refused_by_resume() -> None:
    """A job document does not know the flow; resuming checks its names, all or
    nothing."""
    document = job_document()
    document["pending_tasks"][-1]["slot_routine_id"] = "ghost"
    job = JobState.deserialize(document)
    flow = Flow("jobs")
    flow.add_routine(Source(), "src")
    flow.add_routine(PauseAtOne(), "pause")
    flow.add_routine(Collector(), "sink")
    before = json.dumps(job.serialize(), sort_keys=True)
    with pytest.raises(RoutineNotFoundError, match="ghost"):
        flow.resume(job)
    assert job.status == "paused"
    assert json.dumps(job.serialize(), sort_keys=True) == before


# -- wrong types ----------------------------------------------------------------------

FLOW_WRONG_TYPES = [
    (["max_workers"], "5", "$.max_workers", "expected int"),
    (["max_workers"], 5.0, "$.max_workers", "expected int"),
    (["max_workers"], True, "$.max_workers", "expected int"),
    (["flow_id"], 7, "$.flow_id", "expected str"),
    (["history_limit"], "100", "$.history_limit", ""),
    (["execution_strategy"], ["sequential"], "$.execution_strategy", "expected str"),
    (["routines"], {"src": {}}, None, ""),
    (["routines", 0, "id"], 1, "$.routines[0].id", "expected str"),
    (["routines", 1, "config"], [], "$.routines[1].config", "config must be an object"),
    (["routines", 1, "config"], "factor=2", "$.routines[1].config", "config must be an object"),
    (["routines", 0, "slots", 0, "name"], 3, "$.routines[0].slots[0].name", "expected str"),
    (["routines", 0, "slots", 0, "handler"], 3, "$.routines[0].slots[0].handler", ""),
    (["routines", 0, "slots", 0], [], "$.routines[0].slots[0]", ""),
    (["routines", 0, "events", 0, "output_params", 0], 7, None, "expected str"),
    (["routines", 1, "error_handler", "max_retries"], "2", None, "expected int"),
    (["routines", 1, "error_handler", "retry_delay"], "0.5", None, "expected float"),
    (["routines", 1, "error_handler", "retry_delay"], True, None, "expected float"),
    (["routines", 1, "error_handler", "is_critical"], 1, None, "expected bool"),
    (["routines", 1, "error_handler", "strategy"], 3, None, "expected str"),
    (["routines", 1, "error_handler"], [], "$.routines[1].error_handler", ""),
    (["error_handler", "max_retries"], 3.5, "$.error_handler.max_retries", "expected int"),
    (["connections", 0, "param_mapping"], [], "$.connections[0].param_mapping", "mapping"),
    (["connections", 1, "param_mapping", "value"], 1, None, "expected str"),
    (["connections", 0, "source"], None, "$.connections[0].source", ""),
]

FLOW_BAD_VALUES = [
    (["execution_strategy"], "parallel", "$.execution_strategy", "Invalid execution strategy"),
    (["max_workers"], 0, "$.max_workers", "max_workers must be an int >= 1"),
    (["history_limit"], 0, "$.history_limit", "history_limit must be"),
    (["routines", 1, "error_handler", "strategy"], "explode", None, "Invalid error strategy"),
    (["routines", 1, "error_handler", "max_retries"], -1, None, "max_retries"),
    (["routines", 1, "error_handler", "retry_delay"], -0.5, None, "retry_delay"),
    (["routines", 0, "slots", 0, "name"], "", None, "slot name must be a non-empty string"),
    (["routines", 0, "events", 0, "name"], "", None, "event name must be a non-empty string"),
    (["routines", 0, "id"], "", "$.routines[0].id", "routine id must be a non-empty string"),
]

JOB_WRONG_TYPES = [
    (["job_id"], 1, "$.job_id", "expected str"),
    (["status"], 3, "$.status", "expected str"),
    (["history_dropped"], "0", "$.history_dropped", "expected int"),
    (["history_limit"], 2.0, "$.history_limit", ""),
    (["created_at"], 0, "$.created_at", "expected str"),
    (["routine_states"], [], "$.routine_states", "expected dict"),
    (["shared_data"], [], "$.shared_data", "expected dict"),
    (["shared_data"], "x", "$.shared_data", "expected dict"),
    (["merge_buffers", "pause"], [], "$.merge_buffers['pause']", "merge buffers map"),
    (["pending_tasks", 0, "retry_count"], "1", "$.pending_tasks[0].retry_count", "expected int"),
    (["pending_tasks", 0, "merged"], 1, "$.pending_tasks[0].merged", "expected bool"),
    (["pending_tasks", 0, "slot_name"], 5, "$.pending_tasks[0].slot_name", "expected str"),
    (["pending_tasks", 0, "data"], [], "$.pending_tasks[0].data", "must be an object"),
    (["deferred_events", 0, "timestamp"], 1.5, "$.deferred_events[0].timestamp", ""),
    (["deferred_events", 0, "data"], "x", "$.deferred_events[0].data", "must be an object"),
    (["execution_history", 0], "row", "$.execution_history[0]", "a history row is"),
    (["execution_history", 0, 0], 5, "$.execution_history[0]", "must be strings"),
    (["execution_history", 0, 3], 1700000000, "$.execution_history[0]", "ISO string"),
    (["execution_tracker"], [], "$.execution_tracker", ""),
    (["execution_tracker", "routine_executions"], [], None, "expected dict"),
    (["execution_tracker", "recorded_events"], {}, None, "expected list"),
    (["routine_states"], {"$tuple": [1]}, "$.routine_states", "expected dict"),
]

JOB_BAD_VALUES = [
    (["status"], "exploded", "$.status", "unknown status 'exploded'"),
    (["status"], "", "$.status", "unknown status ''"),
    (["status"], "PAUSED", "$.status", "unknown status 'PAUSED'"),
    (["history_limit"], 0, "$.history_limit", "history_limit must be"),
    (["created_at"], "yesterday", "$.created_at", "invalid or out-of-range timestamp 'yesterday'"),
    (["updated_at"], "2024-02-30T00:00:00", "$.updated_at", "invalid or out-of-range timestamp"),
    (
        ["execution_history", 0, 3],
        "noon",
        "$.execution_history[0]",
        "invalid or out-of-range timestamp",
    ),
]


def set_at(document: Any, path: list[Any], value: Any) -> None:
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def check(kind: Kind, path: list[Any], value: Any, where: str | None, message: str) -> None:
    document = kind.document()
    set_at(document, path, value)
    error = refused(kind, document)
    assert message in str(error)
    if where is not None:
        assert error.path == where
    else:
        assert error.path is not None
        expected = "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path[:3])
        assert error.path.startswith(expected)


@pytest.mark.parametrize(("path", "value", "where", "message"), FLOW_WRONG_TYPES + FLOW_BAD_VALUES)
def test_flow_field_of_wrong_type_or_value(
    path: list[Any], value: Any, where: str | None, message: str
) -> None:
    check(FLOW, path, value, where, message)


@pytest.mark.parametrize(("path", "value", "where", "message"), JOB_WRONG_TYPES + JOB_BAD_VALUES)
def test_job_field_of_wrong_type_or_value(
    path: list[Any], value: Any, where: str | None, message: str
) -> None:
    check(JOB, path, value, where, message)


def test_wrong_types_are_all_reported_at_once() -> None:
    document = flow_document()
    document["max_workers"] = "3"
    document["flow_id"] = 1
    error = refused(FLOW, document)
    assert "$.max_workers" in str(error)
    assert "$.flow_id" in str(error)


@pytest.mark.parametrize(
    "path",
    [
        ["flow_id"],
        ["routines", 0, "class"],
        ["routines", 1, "error_handler", "is_critical"],
        ["routines", 0, "slots", 0, "merge_function"],
        ["connections", 0, "param_mapping"],
    ],
)
def test_missing_flow_field(path: list[Any]) -> None:
    document = flow_document()
    target = document
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    error = refused(FLOW, document)
    assert "required field missing" in str(error)


@pytest.mark.parametrize(
    "path",
    [["job_id"], ["pending_tasks", 0, "is_entry"], ["execution_tracker", "recorded_events"]],
)
def test_missing_job_field(path: list[Any]) -> None:
    document = job_document()
    target = document
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    assert "required field missing" in str(refused(JOB, document))


FLOW_EXTRA = [
    ([], "$"),
    (["routines", 0], "$.routines[0]"),
    (["routines", 0, "slots", 0], "$.routines[0].slots[0]"),
    (["routines", 0, "events", 0], "$.routines[0].events[0]"),
    (["routines", 1, "error_handler"], "$.routines[1].error_handler"),
    (["connections", 2], "$.connections[2]"),
]
JOB_EXTRA = [
    ([], "$"),
    (["pending_tasks", 0], "$.pending_tasks[0]"),
    (["deferred_events", 0], "$.deferred_events[0]"),
    (["execution_tracker"], "$.execution_tracker"),
]


@pytest.mark.parametrize(
    ("kind_name", "path", "where"),
    [("flow", p, w) for p, w in FLOW_EXTRA] + [("job", p, w) for p, w in JOB_EXTRA],
)
def test_extra_unknown_fields(kind_name: str, path: list[Any], where: str) -> None:
    kind = FLOW if kind_name == "flow" else JOB
    document = kind.document()
    target = document
    for key in path:
        target = target[key]
    target["__class__"] = "os:system"
    error = refused(kind, document)
    assert error.path == where
    assert "extra fields found (__class__)" in str(error)


def test_renamed_class_key_is_refused() -> None:
    document = flow_document()
    document["routines"][0]["class_"] = document["routines"][0].pop("class")
    error = refused(FLOW, document)
    assert "class_" in str(error)


# -- handler names --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "__init__",
        "__class__",
        "__del__",
        "__reduce__",
        "__getattribute__",
        "label",  # a class attribute that is data
        "instance_value",  # an instance attribute
        "_slots",
        "static",
        "klass",
        "prop",
        "no_such_method",
        "",
        "handle.__globals__",
    ],
)
def test_handler_name_that_is_not_a_method(name: str, tmp_path: Path) -> None:
    document = flow_document()
    assert document["routines"][2]["class"] == "test_bad_documents:Tripwire"
    document["routines"][2]["slots"][1]["handler"] = name
    error = refused(FLOW, document, tmp_path)
    assert error.path == "$.routines[2].slots[1].handler"
    assert f"Tripwire has no method '{name}' to handle slot 'other'" in str(error)
    assert HANDLER_CALLS == []


@pytest.mark.parametrize("name", ["another", "emit_all", "_private_helper"])
def test_a_method_the_class_does_not_wire_is_refused_as_handler(name: str, tmp_path: Path) -> None:
    """Z: a document may bind a slot only to a handler the class wires in __init__,
    not to any other method the class defines."""
    document = flow_document()
    document["routines"][2]["slots"][1]["handler"] = name
    error = refused(FLOW, document, tmp_path)
    assert error.path == "$.routines[2].slots[1].handler"
    assert f"Tripwire.{name} is not a slot handler" in str(error)
    assert "Tripwire.__init__ wires to its slots ('handle')" in str(error)
    assert HANDLER_CALLS == []


def test_a_handler_the_class_wires_to_another_slot_is_accepted() -> None:
    """Z: the handlers __init__ wires are the ones a document may name, for any slot
    (Tripwire wires ``handle`` to both of its slots)."""
    document = flow_document()
    routine_doc = document["routines"][2]
    routine_doc["slots"].append(
        {
            "name": "extra",
            "handler": "handle",
            "handler_function": None,
            "merge_strategy": "override",
            "merge_function": None,
        }
    )
    flow = Flow.deserialize(document)
    routine = flow.routines["trip"]
    handler = routine.get_slot("extra").handler  # type: ignore[union-attr]
    assert handler == routine.handle  # type: ignore[attr-defined]
    assert handler.__self__ is routine  # type: ignore[union-attr]
    assert HANDLER_CALLS == []


def test_handler_and_handler_function_together_are_refused() -> None:
    document = flow_document()
    document["routines"][2]["slots"][0]["handler_function"] = "test_bad_documents.merge_last"
    error = refused(FLOW, document)
    assert "either a handler or a handler_function" in str(error)


# -- known bugs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind_name", "path", "value"),
    [
        ("flow", ["routines", 0, "events", 0, "output_params"], "value"),
        ("flow", ["connections"], ""),  # every connection silently dropped
        ("job", ["errors"], "abc"),
        ("job", ["shared_log"], "log"),
    ],
)
def test_string_where_a_list_belongs(kind_name: str, path: list[Any], value: Any) -> None:
    kind = FLOW if kind_name == "flow" else JOB
    document = kind.document()
    set_at(document, path, value)
    error = refused(kind, document)
    assert "$." + path[0] in str(error)


@pytest.mark.parametrize(
    ("kind_name", "path", "value"),
    [
        ("flow", ["connections"], {}),
        ("flow", ["routines", 0, "events", 0, "output_params"], {"value": 1}),
        ("job", ["shared_log"], {"note": "x"}),
        ("job", ["pause_points"], {}),
    ],
)
def test_object_where_a_list_belongs(kind_name: str, path: list[Any], value: Any) -> None:
    kind = FLOW if kind_name == "flow" else JOB
    document = kind.document()
    set_at(document, path, value)
    refused(kind, document)


def test_huge_history_limit_in_a_job() -> None:
    document = job_document()
    document["history_limit"] = 2**62
    error = refused(JOB, document)
    assert error.path == "$.history_limit"


def test_huge_history_limit_in_a_flow() -> None:
    """O: a flow's history_limit is bounded like a job's (2**40)."""
    document = flow_document()
    document["history_limit"] = 2**62
    error = refused(FLOW, document)
    assert error.path == "$.history_limit"
    assert "history_limit must be an int from 1 to 1099511627776" in str(error)
    document["history_limit"] = 2**40
    assert Flow.deserialize(document).history_limit == 2**40


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_timestamp_out_of_range(stamp: str) -> None:
    document = job_document()
    document["created_at"] = stamp
    error = refused(JOB, document)
    assert error.path == "$.created_at"


@pytest.mark.parametrize(
    ("field", "where"), [("updated_at", "$.updated_at"), ("history", "$.execution_history[0]")]
)
def test_timestamp_that_could_not_be_saved_again_is_refused(field: str, where: str) -> None:
    """O: a timestamp whose UTC time is before year 1 cannot be written back as a local
    ISO time, so it is refused when loaded (not accepted and then unsaveable)."""
    document = job_document()
    if field == "history":
        document["execution_history"][0][3] = "0001-01-01T00:00:00+05:00"
    else:
        document["updated_at"] = "0001-01-01T00:00:00+05:00"
    error = refused(JOB, document)
    assert error.path == where
    assert "invalid or out-of-range timestamp '0001-01-01T00:00:00+05:00'" in str(error)


@pytest.mark.parametrize("depth", [600, 100_000])
def test_deeply_nested_data(kind: Kind, tmp_path: Path, depth: int) -> None:
    document = kind.document()
    data = document["routines"][0]["config"] if kind is FLOW else document["shared_data"]
    data["deep"] = "@deep@"
    text = json.dumps(document).replace('"@deep@"', "[" * depth + "]" * depth)
    path = tmp_path / "deep.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SerializationError):
        kind.cls.load(path)


# -- property: documents survive JSON -------------------------------------------------

EXCEPTIONS = [ValueError, KeyError, RuntimeError, OSError, TimeoutError, BadDocError]

keys = st.text(max_size=6)
hashables = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=5,
)
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.datetimes(timezones=st.sampled_from([None, timezone.utc, timezone(timedelta(hours=-3))]))
    | st.dates()
    | st.times()
    | st.timedeltas()
    | st.decimals()
    | st.uuids()
    | st.binary(max_size=8)
    | st.sets(hashables, max_size=4)
    | st.frozensets(hashables, max_size=4)
    | st.builds(Point, st.integers(), st.integers())
    | st.sampled_from([Colour.RED, Colour.BLUE, merge_last])
)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(keys, inner, max_size=3)
        | st.dictionaries(hashables, inner, max_size=3)
    ),
    max_leaves=8,
)
payloads = st.dictionaries(keys, values, max_size=3)
error_handlers = st.builds(
    ErrorHandler,
    st.sampled_from(list(ErrorStrategy)),
    st.integers(0, 10),
    st.floats(0, 1e6),
    st.floats(0, 100),
    st.lists(st.sampled_from(EXCEPTIONS), max_size=3, unique=True),
    st.booleans(),
)


@st.composite
def flows(draw: st.DrawFn) -> Flow:
    count = draw(st.integers(1, 5))
    ids = draw(
        st.lists(st.text(min_size=1, max_size=8), min_size=count, max_size=count, unique=True)
    )
    flow = Flow(
        draw(st.text(min_size=1, max_size=10)),
        draw(st.sampled_from(["sequential", "concurrent"])),
        draw(st.integers(1, 64)),
        history_limit=draw(st.none() | st.integers(1, 10**6)),
    )
    flow.set_error_handler(draw(st.none() | error_handlers))
    ends = draw(st.booleans())
    for index, routine_id in enumerate(ids):
        if index == 0:
            routine: Routine = Source()
        elif index == count - 1 and ends:
            routine = Collector(draw(st.sampled_from(["override", "append", merge_last])))
        else:
            routine = draw(st.sampled_from([Relay, Failing, Tripwire]))()
        routine.set_config(**draw(st.dictionaries(keys, values, max_size=3)))
        routine.set_error_handler(draw(st.none() | error_handlers))
        flow.add_routine(routine, routine_id)
        if index:
            source = draw(st.sampled_from(ids[:index]))
            mapping = draw(st.dictionaries(keys, keys, max_size=2))
            flow.connect(source, "output", routine_id, "input", mapping)
    return flow


routine_ids = st.text(max_size=6).filter(lambda text: not text.startswith("$"))


@st.composite
def jobs(draw: st.DrawFn) -> JobState:
    job = JobState(draw(st.text(max_size=8)), history_limit=draw(st.none() | st.integers(1, 5)))
    ids = st.text(max_size=6)
    job.current_routine_id = draw(st.none() | ids)
    job.routine_states = draw(st.dictionaries(ids, payloads, max_size=3))
    job.shared_data = draw(st.dictionaries(keys, values, max_size=4))
    for entry in draw(st.lists(payloads, max_size=3)):
        job.append_to_shared_log(entry)
    for routine_id, output_type, data in draw(st.lists(st.tuples(ids, ids, payloads), max_size=2)):
        job.send_output(routine_id, output_type, data)
    job.errors = draw(st.lists(payloads, max_size=2))
    job.pause_points = draw(st.lists(payloads, max_size=2))
    for routine_id, name, data in draw(st.lists(st.tuples(ids, ids, payloads), max_size=2)):
        job.add_deferred_event(routine_id, name, data)
    job.pending_tasks = [
        {
            "slot_routine_id": routine_id,
            "slot_name": slot,
            "data": data,
            "retry_count": retries,
            "merged": merged,
            "is_entry": entry,
        }
        for routine_id, slot, data, retries, merged, entry in draw(
            st.lists(
                st.tuples(ids, ids, payloads, st.integers(0, 50), st.booleans(), st.booleans()),
                max_size=3,
            )
        )
    ]
    job._merge_buffers = draw(
        st.dictionaries(routine_ids, st.dictionaries(ids, values, max_size=2), max_size=2)
    )
    job._results = draw(st.dictionaries(ids, values, max_size=2))
    for routine_id, name, data in draw(st.lists(st.tuples(ids, ids, payloads), max_size=8)):
        job.record_execution(routine_id, name, data)
    tracker = job.execution_tracker
    for routine_id, params, status in draw(
        st.lists(st.tuples(ids, payloads, st.sampled_from(["completed", "failed"])), max_size=2)
    ):
        tracker.record_routine_start(routine_id, params)
        tracker.record_routine_end(routine_id, status, draw(st.none() | values))
    for source, name, data in draw(st.lists(st.tuples(ids, ids, payloads), max_size=2)):
        tracker.record_event(source, name, None, data)
    tracker.performance_metrics = draw(st.dictionaries(keys, values, max_size=2))
    job.status = draw(st.sampled_from(["pending", "paused", "completed", "failed", "cancelled"]))
    return job


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows())
def test_flow_documents_survive_json(flow: Flow) -> None:
    first = flow.serialize()
    text = json.dumps(first)
    loaded = Flow.deserialize(json.loads(text))
    second = loaded.serialize()
    # Identical (set members are written sorted); comparing the JSON text also tells 1
    # from 1.0 and -0.0 from 0.
    expected = json.dumps(first)
    assert json.dumps(second) == expected
    filled = Flow().deserialize(json.loads(text))
    assert json.dumps(filled.serialize()) == expected
    assert HANDLER_CALLS == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs())
def test_job_documents_survive_json(job: JobState) -> None:
    first = job.serialize()
    text = json.dumps(first)
    loaded = JobState.deserialize(json.loads(text))
    second = loaded.serialize()
    expected = json.dumps(first)
    assert json.dumps(second) == expected
    filled = JobState("other").deserialize(json.loads(text))
    assert json.dumps(filled.serialize()) == expected


def test_job_with_dollar_routine_id_in_merge_buffers_survives_json() -> None:
    job = JobState("dollar")
    job._merge_buffers = {"$collect": {"input": {"value": [1, 2]}}}
    job.status = "paused"
    document = json.loads(json.dumps(job.serialize()))
    assert JobState.deserialize(document)._merge_buffers == job._merge_buffers


# -- property: spoiled documents ------------------------------------------------------

DANGEROUS = [
    "os:system",
    "builtins:eval",
    "builtins:exec",
    "builtins:open",
    "builtins:__import__",
    "subprocess:Popen",
    "shutil:rmtree",
    "antigravity:fly",
    "this:s",
    "test_bad_documents:Tripwire",
    "test_bad_documents.Point",
    "helpers:Failing",
    "__init__",
    "__del__",
    "__class__",
    "handle",
    "another",
    "routilux.flow",
    "routilux.job",
    "paused",
    "running",
    "function",
    "append",
    "2024-01-01T00:00:00",
]
TAGS = ["$function", "$object", "$enum", "$tuple", "$set", "$dict", "$datetime", "fields"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**31), 2**31)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(DANGEROUS),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6) | st.sampled_from(TAGS), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def get(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


@st.composite
def spoiled(draw: st.DrawFn, original: dict[str, Any]) -> Any:
    document: Any = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 3))):
        operation = draw(
            st.sampled_from(["delete", "replace", "truncate", "rename", "dangerous", "header"])
        )
        if operation == "header" or not isinstance(document, dict):
            if isinstance(document, dict):
                key = draw(st.sampled_from(["format", "version"]))
                document[key] = draw(
                    st.sampled_from(["routilux.flow", "routilux.job", 1, 2, "1", None])
                    | json_values
                )
            continue
        path = draw(st.sampled_from(list(paths(document))))
        current = get(document, path)
        if not path:
            if operation == "replace":
                document = draw(json_values)
            continue
        parent, key = get(document, path[:-1]), path[-1]
        if operation == "delete":
            del parent[key]
        elif operation == "replace":
            kind = type(current)
            parent[key] = draw(json_values.filter(lambda v, kind=kind: type(v) is not kind))
        elif operation == "truncate" and isinstance(current, list):
            del current[draw(st.integers(0, len(current))) :]
        elif operation == "rename" and isinstance(parent, dict):
            new_key = draw(st.text(max_size=8) | st.sampled_from(TAGS))
            parent[new_key] = parent.pop(key)
        elif operation == "dangerous":
            parent[key] = draw(
                st.sampled_from(DANGEROUS)
                | st.sampled_from(DANGEROUS).map(lambda name: {"$function": name})
                | st.sampled_from(DANGEROUS).map(
                    lambda name: {"$object": name, "fields": {"args": "echo pwned"}}
                )
                | st.sampled_from(DANGEROUS).map(lambda name: [name])
            )
    return document


GUARDED = [
    (os, "system"),
    (os, "popen"),
    (os, "remove"),
    (os, "unlink"),
    (os, "rmdir"),
    (os, "execv"),
    (os, "execvp"),
    (os, "fork"),
    (os, "kill"),
    (subprocess, "Popen"),
    (subprocess, "run"),
    (subprocess, "call"),
    (shutil, "rmtree"),
    (builtins, "print"),
    (builtins, "input"),
    (builtins, "open"),
    (builtins, "breakpoint"),
]
# The typing and cattrs machinery legitimately compiles code (once per document class);
# any other caller of these is code run because of a document.
CODE_RUNNERS = ["eval", "exec", "compile"]
_TRUSTED_CALLERS = ("typing", "cattrs", "cattr", "attr", "attrs", "linecache", "functools")


@contextlib.contextmanager
def guards() -> Iterator[list[str]]:
    """Replace functions a malicious document might name; yield the list of calls."""
    calls: list[str] = []

    def noting(name: str) -> Callable[..., Any]:
        def called(*args: Any, **kwargs: Any) -> None:
            calls.append(name)
            raise AssertionError(f"{name} called")

        return called

    def checked(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.split(".")[0] not in _TRUSTED_CALLERS:
                calls.append(f"builtins.{name} from {caller}")
            return real(*args, **kwargs)

        return run

    with pytest.MonkeyPatch.context() as patch:
        for module, name in GUARDED:
            patch.setattr(module, name, noting(f"{module.__name__}.{name}"))
        for name in CODE_RUNNERS:
            patch.setattr(builtins, name, checked(name, getattr(builtins, name)))
        yield calls


def test_guards_notice_code_that_runs() -> None:
    """The guards of the property tests do see calls, so their silence means something."""
    with guards() as calls:
        with pytest.raises(AssertionError):
            os.system("true")
        with pytest.raises(AssertionError):
            subprocess.Popen(["true"])
        assert eval("1 + 1") == 2
    assert calls == ["os.system", "subprocess.Popen", "builtins.eval from test_bad_documents"]
    assert os.system is not None
    assert "tripwire" not in repr(os.system)


def load_guarded(kind: Kind, document: Any) -> list[str]:
    """Load ``document`` both ways with dangerous functions guarded; fail on anything
    but success or SerializationError; return the guarded calls that happened."""
    before = copy.deepcopy(document)
    modules = set(sys.modules)
    if kind is FLOW:
        target: Any = flow_target()
    else:
        target = JobState("target")
        target.shared_data["keep"] = (1, 2)
    snapshot = kind.snapshot(target)
    outcomes = []
    with guards() as calls:
        for attempt in (
            lambda: kind.cls.deserialize(document),
            lambda: target.deserialize(document),
        ):
            try:
                loaded = attempt()
            except SerializationError as exc:
                outcomes.append(("refused", str(exc)))
            else:
                assert isinstance(loaded, kind.cls)
                outcomes.append(("loaded", ""))
    assert outcomes[0] == outcomes[1]  # both forms agree
    event(outcomes[0][0])
    if outcomes[0][0] == "refused":
        assert kind.snapshot(target) == snapshot
    assert document == before
    assert set(sys.modules) == modules
    assert HANDLER_CALLS == []
    return calls


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_spoiled_flow_documents_load_or_raise_serialization_error(data: st.DataObject) -> None:
    document = data.draw(spoiled(FLOW_DOCUMENT))
    assert load_guarded(FLOW, document) == []


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_spoiled_job_documents_load_or_raise_serialization_error(data: st.DataObject) -> None:
    document = data.draw(spoiled(JOB_DOCUMENT))
    assert load_guarded(JOB, document) == []


FLOW_DOCUMENT = flow_document()
JOB_DOCUMENT = job_document()


def test_unchanged_instances_mean_something() -> None:
    """A successful fill does change the target, so the snapshots are sensitive."""
    flow = flow_target()
    snapshot = flow_snapshot(flow)
    flow.deserialize(flow_document())
    assert flow_snapshot(flow) != snapshot
    job = job_target()
    snapshot = job_snapshot(job)
    job.deserialize(job_document())
    assert job_snapshot(job) != snapshot


# -- S: nothing but SerializationError, whatever the file holds (issue 8) -----------------


@pytest.mark.parametrize(
    "text",
    [
        '{"format": "routilux.flow", "version": 1, "max_workers": ' + "9" * 5000 + "}",
        '{"format": "routilux.job", "version": ' + "1" * 5000 + "}",
        '{"format": "routilux.job", "version": 1, "x": -' + "7" * 4301 + "}",
    ],
    ids=["flow-field", "version", "negative"],
)
def test_integer_too_long_to_convert_in_a_file(kind: Kind, tmp_path: Path, text: str) -> None:
    """S: an integer of more than 4,300 digits used to escape as ValueError from
    int/str conversion; it is a SerializationError naming the file."""
    path = tmp_path / "bigint.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SerializationError) as info:
        kind.cls.load(path)
    assert str(info.value).startswith(f"{path} holds an invalid number")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
def test_numbers_that_are_not_json_or_not_finite_in_a_file(
    kind: Kind, tmp_path: Path, literal: str
) -> None:
    """S: NaN and Infinity are not JSON, and 1e999 would read as infinity: refused,
    naming the file (stored data writes them as {"$float": ...})."""
    document = kind.document()
    data = document["routines"][0]["config"] if kind is FLOW else document["shared_data"]
    data["number"] = "@number@"
    path = tmp_path / "numbers.json"
    path.write_text(json.dumps(document).replace('"@number@"', literal), encoding="utf-8")
    with pytest.raises(SerializationError, match=f"{re.escape(str(path))} holds an invalid number"):
        kind.cls.load(path)


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["version"], 10**5000, "$.version"),
        (["version"], -(10**5000), "$.version"),
        (["flow_id"], 10**5000, "$.flow_id"),
        (["format"], 10**5000, "$.format"),
    ],
    ids=["version", "negative-version", "id", "format"],
)
def test_integer_too_long_to_print_in_a_dict(
    kind: Kind, path: list[Any], value: Any, where: str
) -> None:
    """S: a dict that never was JSON text may hold any int; describing it in the error
    message must not raise ValueError (repr of a huge int does)."""
    document = kind.document()
    if kind is JOB and path == ["flow_id"]:
        path = ["job_id"]
        where = "$.job_id"
    set_at(document, path, value)
    error = refused(kind, document)
    assert error.path == where


def test_huge_structural_integers_in_a_dict_are_refused(kind: Kind) -> None:
    """S: counts and limits must fit in 64 bits; bigger ones are refused by their path."""
    document = kind.document()
    if kind is FLOW:
        document["max_workers"] = 10**5000
        where = "$.max_workers"
    else:
        document["history_dropped"] = 2**64
        where = "$.history_dropped"
    error = refused(kind, document)
    assert error.path == where
    assert "integer out of range" in str(error)


def test_huge_integer_in_data_of_a_dict_is_refused(kind: Kind) -> None:
    """S: data that could not be saved again as JSON is refused when loaded."""
    document = kind.document()
    if kind is FLOW:
        document["routines"][1]["config"]["big"] = [10**5000]
        where = "$.routines[1].config.big[0]"
    else:
        document["shared_data"]["big"] = [10**5000]
        where = "$.shared_data.big[0]"
    error = refused(kind, document)
    assert error.path == where
    assert "too many digits" in str(error)


def test_a_byte_order_mark_is_accepted(kind: Kind, tmp_path: Path) -> None:
    """S (decision): a UTF-8 byte order mark, as some editors write, is allowed."""
    document = kind.document()
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(document).encode("utf-8"))
    assert kind.cls.load(path).serialize() == document


def test_a_huge_valid_file_loads(tmp_path: Path) -> None:
    """S: size alone is no reason to refuse a document (a 20 MB string here)."""
    document = job_document()
    document["shared_data"]["blob"] = "x" * 20_000_000
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert len(JobState.load(path).shared_data["blob"]) == 20_000_000


def test_what_is_not_a_regular_file_is_refused_naming_it(kind: Kind, tmp_path: Path) -> None:
    """S: a directory, a named pipe or a device is refused at once with a
    SerializationError naming it (a pipe with no writer used to block the load, a
    device like /dev/zero to read for ever); a missing file stays FileNotFoundError."""
    folder = tmp_path / "folder.json"
    folder.mkdir()
    with pytest.raises(SerializationError, match=f"{re.escape(str(folder))} is a directory"):
        kind.cls.load(folder)
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    with pytest.raises(SerializationError, match=f"{re.escape(str(pipe))} is not a regular file"):
        kind.cls.load(pipe)
    for device in ("/dev/null", "/dev/zero"):
        with pytest.raises(SerializationError, match=f"{device} is not a regular file"):
            kind.cls.load(device)
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        kind.cls.load(tmp_path / "missing.json")


def test_a_file_that_cannot_be_read_is_refused_naming_it(
    kind: Kind, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S: a file the system refuses to open (permissions; simulated, as the tests may
    run as root) is a SerializationError naming it, its cause chained."""
    path = tmp_path / "locked.json"
    path.write_text(json.dumps(kind.document()), encoding="utf-8")
    real_open = os.open

    def refusing_open(file: Any, *args: Any, **kwargs: Any) -> int:
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(SerializationError) as info:
        kind.cls.load(path)
    assert str(info.value) == f"cannot read {path}: Permission denied"
    assert isinstance(info.value.__cause__, PermissionError)


@register_serializable(name="test_bad_documents.Temperature")
@dataclasses.dataclass
class Temperature:
    celsius: float

    def __post_init__(self) -> None:
        assert self.celsius > -273.15, "below absolute zero"


def test_value_class_whose_constructor_raises(kind: Kind, tmp_path: Path) -> None:
    """S: the repro's registered dataclass asserting in __post_init__: loading raises
    SerializationError naming the class, the path and the file, the AssertionError
    chained."""
    document = kind.document()
    bad = {"$object": "test_bad_documents.Temperature", "fields": {"celsius": -500}}
    if kind is FLOW:
        document["routines"][1]["config"]["t"] = bad
        where = "$.routines[1].config.t"
    else:
        document["shared_data"]["t"] = bad
        where = "$.shared_data.t"
    error = refused(kind, document, tmp_path)
    assert error.path == where
    assert "cannot rebuild test_bad_documents.Temperature (Temperature)" in str(error)
    assert "AssertionError: below absolute zero" in str(error)
    assert isinstance(error.__cause__, AssertionError)
    path = tmp_path / "temperature.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(SerializationError) as info:
        kind.cls.load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, AssertionError)


RAISING = {"init": False, "config": False}


class Touchy(Routine):
    """A routine whose constructor or config check raises when told to."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)
        if RAISING["init"]:
            raise RuntimeError("constructor refuses")

    def handle(self, **data: Any) -> None:
        pass

    def _validate_config(self) -> None:
        if RAISING["config"]:
            raise KeyError("limit")


@pytest.mark.parametrize(
    ("step", "where", "message", "cause"),
    [
        ("init", "$.routines[1].class", "RuntimeError: constructor refuses", RuntimeError),
        ("config", "$.routines[1].config", "Touchy refused the stored config", KeyError),
    ],
)
def test_routine_code_that_raises_while_loading(
    step: str, where: str, message: str, cause: type[BaseException], tmp_path: Path
) -> None:
    """S: whatever a routine's constructor or config check raises while a flow loads
    is a SerializationError naming the routine's place, with the original chained."""
    flow = Flow("touchy")
    flow.add_routine(Source(), "src")
    flow.add_routine(Touchy(), "touchy")
    document = json.loads(json.dumps(flow.serialize()))
    RAISING[step] = True
    try:
        error = refused(FLOW, document, tmp_path)
    finally:
        RAISING[step] = False
    assert error.path == where
    assert message in str(error)
    assert isinstance(error.__cause__, cause)


@pytest.mark.parametrize(
    "name", ["add_route", "_validate_config", "set_config", "define_event", "matching_routes"]
)
def test_conditional_router_slot_bound_to_another_method_is_refused(name: str) -> None:
    """Z: the repro: a ConditionalRouter slot bound to add_route or _validate_config
    loaded without complaint; only the handler __init__ wires ("route") may be named."""
    from routilux import ConditionalRouter

    flow = Flow("gadget")
    flow.add_routine(Source(), "src")
    flow.add_routine(ConditionalRouter(), "router")
    flow.connect("src", "output", "router", "input")
    document = json.loads(json.dumps(flow.serialize()))
    assert document["routines"][1]["slots"][0]["handler"] == "route"
    document["routines"][1]["slots"][0]["handler"] = name
    error = refused(FLOW, document)
    assert error.path == "$.routines[1].slots[0].handler"
    assert f"ConditionalRouter.{name} is not a slot handler" in str(error)
    assert "ConditionalRouter.__init__ wires to its slots ('route')" in str(error)


#: Stand-ins for integers too long to print, swapped in after drawing.
HUGE = {
    "@huge:positive@": 10**5000,
    "@huge:negative@": -(10**4400),
    "@huge:2**64@": 2**64,
    "@huge:2**63@": 2**63,
    "@huge:-2**63-1@": -(2**63) - 1,
}


def with_huge_integers(value: Any) -> Any:
    if type(value) is str:
        return HUGE.get(value, value)
    if type(value) is list:
        return [with_huge_integers(item) for item in value]
    if type(value) is dict:
        return {key: with_huge_integers(item) for key, item in value.items()}
    return value


# Random JSON with what used to escape: huge integers, non-finite floats, deep nesting.
nasty_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(sorted(HUGE))  # replaced after drawing: Hypothesis prints draws
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(DANGEROUS),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6) | st.sampled_from(TAGS), inner, max_size=3)
        | st.integers(150, 400).map(lambda depth: nested_value(depth))
    ),
    max_leaves=6,
)


def nested_value(depth: int) -> Any:
    value: Any = [None]
    for _ in range(depth):
        value = {"$tuple": [value]} if depth % 2 else [value]
    return value


def load_anything(kind: Kind, document: Any) -> str:
    """Load ``document`` both ways; anything but success or SerializationError fails
    the test. Returns the outcome."""
    outcomes = []
    for attempt in (
        lambda: kind.cls.deserialize(document),
        lambda: kind.target().deserialize(document),
    ):
        try:
            attempt()
        except SerializationError as exc:
            assert exc.path is None or exc.path.startswith("$")
            outcomes.append("refused")
        else:
            outcomes.append("loaded")
    assert outcomes[0] == outcomes[1]
    return outcomes[0]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_nasty_values_anywhere_give_only_serialization_error(data: st.DataObject) -> None:
    """S: any value anywhere in a valid document (huge ints, NaN, deep nesting, tags,
    dangerous names), as a dict: loading succeeds or raises SerializationError."""
    kind = data.draw(st.sampled_from([FLOW, JOB]))
    document = copy.deepcopy(FLOW_DOCUMENT if kind is FLOW else JOB_DOCUMENT)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(paths(document))))
        if not path:
            continue
        set_at(document, list(path), with_huge_integers(data.draw(nasty_values)))
    event(load_anything(kind, document))
    assert HANDLER_CALLS == []


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_damaged_files_give_only_serialization_error(data: st.DataObject) -> None:
    """S: a saved file cut short, with bytes flipped, inserted or removed (not UTF-8,
    not JSON, or JSON of another shape): Cls.load succeeds or raises SerializationError
    whose message names the file."""
    import tempfile

    kind = data.draw(st.sampled_from([FLOW, JOB]))
    original = json.dumps(FLOW_DOCUMENT if kind is FLOW else JOB_DOCUMENT).encode("utf-8")
    content = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        operation = data.draw(st.sampled_from(["cut", "flip", "insert", "delete"]))
        at = data.draw(st.integers(0, max(len(content) - 1, 0)))
        if operation == "cut":
            del content[at:]
        elif operation == "flip" and content:
            content[at] = data.draw(st.integers(0, 255))
        elif operation == "insert":
            content[at:at] = data.draw(
                st.sampled_from([b"[", b"{", b'"', b"\\", b"\xff", b"\xc3", b"9" * 4400, b"1e999"])
                | st.binary(max_size=4)
            )
        elif content:
            del content[at : at + data.draw(st.integers(1, 20))]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "damaged.json"
        path.write_bytes(bytes(content))
        try:
            kind.cls.load(path)
        except SerializationError as exc:
            assert str(path) in str(exc)
            event("refused")
        else:
            event("loaded")
    assert HANDLER_CALLS == []

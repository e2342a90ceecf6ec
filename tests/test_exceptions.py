"""Tests for routilux.exceptions: the exception hierarchy."""

import inspect

import pytest

from routilux import exceptions
from routilux.exceptions import (
    ChannelTypeError,
    ConfigurationError,
    DuplicateNameError,
    EventNotFoundError,
    FlowMismatchError,
    InvalidPayloadError,
    InvalidStrategyError,
    JobStateError,
    MissingTriggerSlotError,
    NoExecutionContextError,
    QueueFullError,
    RemoteHandlerError,
    RoutiluxError,
    RoutineNotFoundError,
    SerializationError,
    SlotNotFoundError,
    StoreError,
)

ALL = [
    QueueFullError,
    RemoteHandlerError,
    RoutiluxError,
    ConfigurationError,
    RoutineNotFoundError,
    SlotNotFoundError,
    EventNotFoundError,
    DuplicateNameError,
    InvalidStrategyError,
    MissingTriggerSlotError,
    FlowMismatchError,
    InvalidPayloadError,
    JobStateError,
    NoExecutionContextError,
    SerializationError,
    ChannelTypeError,
    StoreError,
]

CONFIGURATION_FAMILY = [
    ConfigurationError,
    RoutineNotFoundError,
    SlotNotFoundError,
    EventNotFoundError,
    DuplicateNameError,
    InvalidStrategyError,
    MissingTriggerSlotError,
    FlowMismatchError,
]


def test_all_lists_every_exception_class():
    defined = {
        name
        for name, obj in vars(exceptions).items()
        if inspect.isclass(obj) and issubclass(obj, BaseException)
    }
    assert set(exceptions.__all__) == defined
    assert {cls.__name__ for cls in ALL} == defined


def test_routilux_error_is_an_exception():
    assert issubclass(RoutiluxError, Exception)
    assert not issubclass(RoutiluxError, (ValueError, TypeError, RuntimeError))


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_exception_is_a_routilux_error(cls):
    assert issubclass(cls, RoutiluxError)
    with pytest.raises(RoutiluxError, match="message"):
        raise cls("message")


@pytest.mark.parametrize("cls", CONFIGURATION_FAMILY, ids=lambda c: c.__name__)
def test_configuration_family_are_value_errors(cls):
    assert issubclass(cls, ConfigurationError)
    assert issubclass(cls, ValueError)
    assert not issubclass(cls, (TypeError, RuntimeError))
    with pytest.raises(ValueError):
        raise cls("bad")


def test_invalid_payload_error_is_type_and_value_error():
    assert issubclass(InvalidPayloadError, TypeError)
    assert issubclass(InvalidPayloadError, ValueError)
    assert not issubclass(InvalidPayloadError, ConfigurationError)
    for base in (TypeError, ValueError, RoutiluxError):
        with pytest.raises(base):
            raise InvalidPayloadError("not a dict")


@pytest.mark.parametrize("cls", [JobStateError, NoExecutionContextError])
def test_runtime_errors(cls):
    assert issubclass(cls, RuntimeError)
    assert not issubclass(cls, (TypeError, ConfigurationError))
    with pytest.raises(RuntimeError):
        raise cls("state")


def test_job_state_error_is_also_a_value_error():
    """0.9-break 7: 0.9 raised ValueError where resume/pause refuse a job now."""
    assert issubclass(JobStateError, ValueError)
    assert not issubclass(NoExecutionContextError, ValueError)


def test_other_exceptions_are_not_value_errors():
    for cls in ALL:
        if cls in CONFIGURATION_FAMILY or cls in (
            InvalidPayloadError,
            SerializationError,
            JobStateError,
            QueueFullError,
        ):
            continue
        assert not issubclass(cls, ValueError), cls


def test_message_is_kept():
    err = SlotNotFoundError("Slot 'x' not found in Foo[0x1]")
    assert str(err) == "Slot 'x' not found in Foo[0x1]"
    assert err.args == ("Slot 'x' not found in Foo[0x1]",)


def test_serialization_error_is_a_value_error_with_a_path():
    error = SerializationError("bad class", "$.routines[0].class")
    assert isinstance(error, ValueError) and isinstance(error, RoutiluxError)
    assert error.path == "$.routines[0].class"
    assert str(error) == "bad class (at $.routines[0].class)"
    assert SerializationError("no path").path is None


def test_channel_type_error_is_a_type_error():
    assert issubclass(ChannelTypeError, TypeError)
    assert issubclass(ChannelTypeError, RoutiluxError)
    assert not issubclass(ChannelTypeError, ValueError)


def test_a_remote_handler_error_keeps_the_workers_type_name_and_traceback():
    err = RemoteHandlerError("KeyError: 'x'", type_name="KeyError", traceback_text="Traceback")
    assert (err.type_name, err.traceback_text, str(err)) == (
        "KeyError",
        "Traceback",
        "KeyError: 'x'",
    )
    assert isinstance(err, RoutiluxError)

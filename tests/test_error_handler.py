"""Unit tests for routilux/error_handler.py (configuration and the legacy handle_error)."""

from __future__ import annotations

import pytest

from routilux.error_handler import ErrorHandler, ErrorStrategy
from routilux.exceptions import InvalidStrategyError

# -- ErrorStrategy ---------------------------------------------------------------------


def test_error_strategy_values() -> None:
    assert {s.name: s.value for s in ErrorStrategy} == {
        "STOP": "stop",
        "CONTINUE": "continue",
        "RETRY": "retry",
        "SKIP": "skip",
    }
    assert ErrorStrategy("retry") is ErrorStrategy.RETRY


# -- construction ----------------------------------------------------------------------


def test_defaults() -> None:
    handler = ErrorHandler()
    assert handler.strategy is ErrorStrategy.STOP
    assert handler.max_retries == 3
    assert handler.retry_delay == 1.0
    assert handler.retry_backoff == 2.0
    assert handler.retryable_exceptions == (Exception,)
    assert handler.is_critical is False
    assert handler.retry_count == 0


def test_strategy_as_first_positional_argument() -> None:
    handler = ErrorHandler(ErrorStrategy.CONTINUE)
    assert handler.strategy is ErrorStrategy.CONTINUE
    assert handler.max_retries == 3


def test_positional_arguments_in_0_9_order() -> None:
    handler = ErrorHandler("retry", 5, 0.1, 3.0)
    assert handler.strategy is ErrorStrategy.RETRY
    assert handler.max_retries == 5
    assert handler.retry_delay == 0.1
    assert handler.retry_backoff == 3.0
    assert handler.retryable_exceptions == (Exception,)
    assert handler.is_critical is False


def test_all_keyword_arguments() -> None:
    handler = ErrorHandler(
        strategy=ErrorStrategy.SKIP,
        max_retries=0,
        retry_delay=0,
        retry_backoff=1,
        retryable_exceptions=(KeyError, OSError),
        is_critical=True,
    )
    assert handler.strategy is ErrorStrategy.SKIP
    assert handler.max_retries == 0
    assert handler.retry_delay == 0
    assert handler.retry_backoff == 1
    assert handler.retryable_exceptions == (KeyError, OSError)
    assert handler.is_critical is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("stop", ErrorStrategy.STOP),
        ("STOP", ErrorStrategy.STOP),
        ("Continue", ErrorStrategy.CONTINUE),
        ("rEtRy", ErrorStrategy.RETRY),
        ("SKIP", ErrorStrategy.SKIP),
    ],
)
def test_strategy_strings_in_any_case(text: str, expected: ErrorStrategy) -> None:
    assert ErrorHandler(text).strategy is expected


def test_strategy_assigned_later_is_converted() -> None:
    handler = ErrorHandler()
    handler.strategy = "Skip"  # type: ignore[assignment]
    assert handler.strategy is ErrorStrategy.SKIP


@pytest.mark.parametrize("bad", ["explode", "", " stop", 1, None, object()])
def test_invalid_strategy_raises(bad: object) -> None:
    with pytest.raises(InvalidStrategyError, match="Invalid error strategy"):
        ErrorHandler(bad)  # type: ignore[arg-type]


def test_invalid_strategy_error_is_a_value_error() -> None:
    assert issubclass(InvalidStrategyError, ValueError)
    with pytest.raises(ValueError):
        ErrorHandler("nope")


@pytest.mark.parametrize("field", ["max_retries", "retry_delay", "retry_backoff"])
@pytest.mark.parametrize("bad", [-1, -0.5, "3", None, True])
def test_negative_or_non_numeric_settings_raise(field: str, bad: object) -> None:
    with pytest.raises(InvalidStrategyError, match=field):
        ErrorHandler(**{field: bad})  # type: ignore[arg-type]


def test_negative_setting_assigned_later_raises() -> None:
    handler = ErrorHandler()
    with pytest.raises(InvalidStrategyError, match="max_retries"):
        handler.max_retries = -1
    assert handler.max_retries == 3


@pytest.mark.parametrize("bad", [(int,), [ValueError, "x"], "abc", (object,)])
def test_non_exception_retryable_exceptions_raise(bad: object) -> None:
    with pytest.raises(InvalidStrategyError, match="retryable_exceptions"):
        ErrorHandler("retry", retryable_exceptions=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [ValueError("x"), 5])
def test_non_iterable_retryable_exceptions_raise_invalid_strategy(bad: object) -> None:
    with pytest.raises(InvalidStrategyError):
        ErrorHandler("retry", retryable_exceptions=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("empty", [None, ()])
def test_retryable_exceptions_none_or_empty_means_exception(empty: object) -> None:
    handler = ErrorHandler("retry", retryable_exceptions=empty)  # type: ignore[arg-type]
    assert handler.retryable_exceptions == (Exception,)
    assert handler.is_retryable(RuntimeError("x"))


def test_retryable_exceptions_empty_list_means_exception() -> None:
    handler = ErrorHandler("retry", retryable_exceptions=[])  # type: ignore[arg-type]
    assert handler.retryable_exceptions == (Exception,)


def test_single_exception_class_is_accepted() -> None:
    handler = ErrorHandler("retry", retryable_exceptions=KeyError)  # type: ignore[arg-type]
    assert handler.retryable_exceptions == (KeyError,)


def test_list_of_exception_classes_becomes_tuple() -> None:
    handler = ErrorHandler("retry", retryable_exceptions=[KeyError, OSError])  # type: ignore[arg-type]
    assert handler.retryable_exceptions == (KeyError, OSError)


@pytest.mark.parametrize("bad", [1, 0, "no", None])
def test_is_critical_must_be_a_bool(bad: object) -> None:
    with pytest.raises(InvalidStrategyError, match="is_critical must be True or False"):
        ErrorHandler(is_critical=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["max_retries", "retry_delay", "retry_backoff"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_numbers_must_be_finite(field: str, bad: float) -> None:
    with pytest.raises(InvalidStrategyError, match=field):
        ErrorHandler(**{field: bad})


def test_max_retries_must_be_an_int() -> None:
    with pytest.raises(InvalidStrategyError, match="max_retries must be an int"):
        ErrorHandler(max_retries=2.5)  # type: ignore[arg-type]


# -- is_retryable and retry_delay_for --------------------------------------------------


def test_is_retryable_uses_isinstance() -> None:
    handler = ErrorHandler("retry", retryable_exceptions=(LookupError, OSError))
    assert handler.is_retryable(KeyError("k"))  # subclass of LookupError
    assert handler.is_retryable(IndexError("i"))
    assert handler.is_retryable(FileNotFoundError())
    assert not handler.is_retryable(ValueError("v"))
    assert not handler.is_retryable(RuntimeError("r"))


def test_default_is_retryable_for_any_exception_but_not_base_exceptions() -> None:
    handler = ErrorHandler("retry")
    assert handler.is_retryable(ValueError())
    assert not handler.is_retryable(KeyboardInterrupt())


@pytest.mark.parametrize(
    ("delay", "backoff", "n", "expected"),
    [
        (1.0, 2.0, 1, 1.0),
        (1.0, 2.0, 2, 2.0),
        (1.0, 2.0, 3, 4.0),
        (0.1, 3.0, 1, 0.1),
        (0.1, 3.0, 2, 0.3),
        (0.1, 3.0, 3, 0.9),
        (0.5, 1.0, 7, 0.5),
        (0, 2.0, 4, 0.0),
    ],
)
def test_retry_delay_for(delay: float, backoff: float, n: int, expected: float) -> None:
    handler = ErrorHandler("retry", 3, delay, backoff)
    result = handler.retry_delay_for(n)
    assert isinstance(result, float)
    assert result == pytest.approx(expected)
    assert result == pytest.approx(delay * backoff ** (n - 1))


# -- legacy handle_error ---------------------------------------------------------------


def test_handle_error_stop_returns_false() -> None:
    handler = ErrorHandler(ErrorStrategy.STOP)
    assert handler.handle_error(ValueError("x")) is False
    assert handler.retry_count == 0


@pytest.mark.parametrize("strategy", [ErrorStrategy.CONTINUE, ErrorStrategy.SKIP])
def test_handle_error_continue_and_skip_return_true(strategy: ErrorStrategy) -> None:
    handler = ErrorHandler(strategy, is_critical=True)
    for _ in range(5):
        assert handler.handle_error(ValueError("x"), None, "rid", None) is True
    assert handler.retry_count == 0


@pytest.mark.parametrize("critical", [False, True])
def test_handle_error_retry_counts_up_to_max_retries(critical: bool) -> None:
    handler = ErrorHandler("retry", max_retries=3, retry_delay=100.0, is_critical=critical)
    results = []
    counts = []
    for _ in range(3):
        results.append(handler.handle_error(ValueError("x")))
        counts.append(handler.retry_count)
    assert results == [True, True, True]
    assert counts == [1, 2, 3]
    # Out of retries: the count stays and the answer is "not is_critical".
    for _ in range(2):
        assert handler.handle_error(ValueError("x")) is (not critical)
        assert handler.retry_count == 3


@pytest.mark.parametrize("critical", [False, True])
def test_handle_error_retry_with_zero_max_retries(critical: bool) -> None:
    handler = ErrorHandler("retry", max_retries=0, is_critical=critical)
    assert handler.handle_error(ValueError("x")) is (not critical)
    assert handler.retry_count == 0


def test_handle_error_retry_non_retryable_returns_false_without_counting() -> None:
    handler = ErrorHandler("retry", retryable_exceptions=(KeyError,))
    assert handler.handle_error(ValueError("x")) is False
    assert handler.retry_count == 0
    assert handler.handle_error(KeyError("k")) is True
    assert handler.retry_count == 1


def test_reset_sets_retry_count_back_to_zero() -> None:
    handler = ErrorHandler("retry", max_retries=2, is_critical=True)
    assert handler.handle_error(ValueError())
    assert handler.handle_error(ValueError())
    assert handler.handle_error(ValueError()) is False
    handler.reset()
    assert handler.retry_count == 0
    assert handler.handle_error(ValueError()) is True
    assert handler.retry_count == 1


# -- equality and repr -----------------------------------------------------------------


def test_equal_handlers_compare_equal() -> None:
    a = ErrorHandler("retry", 5, 0.1, 3.0, (KeyError,), True)
    b = ErrorHandler(ErrorStrategy.RETRY, 5, 0.1, 3.0, KeyError, True)  # type: ignore[arg-type]
    assert a == b
    assert ErrorHandler() == ErrorHandler()
    assert ErrorHandler("CONTINUE") == ErrorHandler(ErrorStrategy.CONTINUE)


def test_retry_count_does_not_affect_equality() -> None:
    a = ErrorHandler("retry")
    b = ErrorHandler("retry")
    a.handle_error(ValueError())
    assert a.retry_count == 1
    assert a == b


@pytest.mark.parametrize(
    "other",
    [
        ErrorHandler("continue"),
        ErrorHandler(max_retries=4),
        ErrorHandler(retry_delay=2.0),
        ErrorHandler(retry_backoff=3.0),
        ErrorHandler(retryable_exceptions=(KeyError,)),
        ErrorHandler(is_critical=True),
    ],
)
def test_handlers_differing_in_one_setting_are_not_equal(other: ErrorHandler) -> None:
    assert ErrorHandler() != other


def test_repr_shows_settings() -> None:
    text = repr(ErrorHandler("retry", 5, 0.1, 3.0, is_critical=True))
    assert text == (
        "ErrorHandler(strategy='retry', max_retries=5, retry_delay=0.1, "
        "retry_backoff=3.0, is_critical=True)"
    )

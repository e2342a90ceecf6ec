"""TimeProvider: the current time in several formats (0.9 reference, section 2.13)."""

# ruff: noqa: RUF001
from __future__ import annotations

import time
import types
from datetime import datetime

import pytest
from builtin_helpers import build_flow, emitted, outputs, round_trip

import routilux.builtin_routines.utils.time_provider as time_provider_module
from routilux import TimeProvider

MONDAY = datetime(2024, 1, 1, 12, 0, 0)
FROZEN_TIMESTAMP = 1704110400.25


class FrozenDatetime(datetime):
    """``datetime`` whose ``now()`` is always MONDAY."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return cls(2024, 1, 1, 12, 0, 0)


@pytest.fixture
def frozen(monkeypatch):
    """Freeze the clock the TimeProvider module reads."""
    monkeypatch.setattr(time_provider_module, "datetime", FrozenDatetime)
    monkeypatch.setattr(
        time_provider_module, "time", types.SimpleNamespace(time=lambda: FROZEN_TIMESTAMP)
    )


def provider(**config: object) -> TimeProvider:
    routine = TimeProvider()
    routine.set_config(**config)
    return routine


def ask(routine: TimeProvider, *payloads: dict) -> list[dict]:
    return emitted(routine, list(payloads), slot="request")


# -- time_string ----------------------------------------------------------------------


def test_iso():
    assert provider().time_string(MONDAY, "iso") == "2024-01-01T12:00:00"


def test_timestamp():
    assert provider().time_string(MONDAY, "timestamp") == str(MONDAY.timestamp())


def test_formatted_in_zh_cn_with_the_weekday_matches_the_documented_example():
    assert provider().time_string(MONDAY, "formatted") == "2024年01月01日，星期一，12:00:00"


@pytest.mark.parametrize(
    ("day", "name"),
    [(1, "一"), (2, "二"), (3, "三"), (4, "四"), (5, "五"), (6, "六"), (7, "日")],
)
def test_formatted_zh_cn_weekday_names(day, name):
    moment = datetime(2024, 1, day, 9, 5, 7)
    assert (
        provider().time_string(moment, "formatted")
        == f"2024年01月{day:02d}日，星期{name}，09:05:07"
    )


def test_formatted_in_another_locale_with_the_weekday():
    routine = provider(locale="en_US")
    assert routine.time_string(MONDAY, "formatted") == MONDAY.strftime("%A, %B %d, %Y %H:%M:%S")
    assert routine.time_string(MONDAY, "formatted").endswith("January 01, 2024 12:00:00")


@pytest.mark.parametrize("locale", ["zh_CN", "en_US"])
def test_formatted_without_the_weekday(locale):
    routine = provider(include_weekday=False, locale=locale)
    assert routine.time_string(MONDAY, "formatted") == "2024-01-01 12:00:00"


def test_custom_uses_custom_format():
    assert provider().time_string(MONDAY, "custom") == "2024-01-01 12:00:00"
    assert provider(custom_format="%d/%m/%Y %Hh").time_string(MONDAY, "custom") == "01/01/2024 12h"


@pytest.mark.parametrize("form", ["unknown", "", "ISO"])
def test_any_other_format_is_iso(form):
    assert provider().time_string(MONDAY, form) == "2024-01-01T12:00:00"


# -- in a flow ------------------------------------------------------------------------


def test_an_empty_request_uses_the_configured_format(frozen):
    assert ask(provider(), {}) == [
        {
            "time_string": "2024-01-01T12:00:00",
            "timestamp": FROZEN_TIMESTAMP,
            "datetime": "2024-01-01T12:00:00",
            "formatted": "2024-01-01 12:00:00",
        }
    ]
    (out,) = ask(provider(format="formatted"), {})
    assert out["time_string"] == "2024年01月01日，星期一，12:00:00"


def test_the_format_of_the_request_overrides_the_config(frozen):
    out = ask(
        provider(format="iso", custom_format="%H:%M"),
        {"format": "formatted"},
        {"format": "custom"},
        {"format": "timestamp"},
        {"data": {"format": "custom"}},
    )
    assert [o["time_string"] for o in out] == [
        "2024年01月01日，星期一，12:00:00",
        "12:00",
        str(MONDAY.timestamp()),
        "12:00",
    ]


def test_a_data_dict_without_format_falls_back_to_the_config(frozen):
    (out,) = ask(provider(format="timestamp"), {"data": {"other": 1}})
    assert out["time_string"] == str(MONDAY.timestamp())


def test_formatted_field_always_applies_custom_format(frozen):
    outs = ask(provider(custom_format="%Y"), {"format": "iso"}, {"format": "formatted"})
    assert [o["formatted"] for o in outs] == ["2024", "2024"]
    assert [o["datetime"] for o in outs] == ["2024-01-01T12:00:00"] * 2
    assert [o["timestamp"] for o in outs] == [FROZEN_TIMESTAMP] * 2


def test_real_clock_values_are_current_and_consistent():
    before_ts, before_dt = time.time(), datetime.now()
    (out,) = ask(provider(format="timestamp"), {})
    after_ts, after_dt = time.time(), datetime.now()
    assert isinstance(out["timestamp"], float)
    assert before_ts <= out["timestamp"] <= after_ts
    moment = datetime.fromisoformat(out["datetime"])
    assert before_dt <= moment <= after_dt
    assert out["time_string"] == str(moment.timestamp())
    assert out["formatted"] == moment.strftime("%Y-%m-%d %H:%M:%S")


def test_round_trip_keeps_the_config_and_the_outputs(frozen):
    routine = provider(format="custom", custom_format="%Y/%m/%d", include_weekday=False)
    flow = build_flow(routine, slot="request")
    payloads = [{}, {"format": "formatted"}]
    before = outputs(flow, payloads)
    loaded = round_trip(flow)
    assert loaded.routines["subject"].config() == {
        "format": "custom",
        "custom_format": "%Y/%m/%d",
        "include_weekday": False,
        "locale": "zh_CN",
    }
    assert outputs(loaded, payloads) == before
    assert [o["time_string"] for o in before["output"]] == ["2024/01/01", "2024-01-01 12:00:00"]

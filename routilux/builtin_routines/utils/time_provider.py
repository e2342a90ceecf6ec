"""TimeProvider: the current time in several formats."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from routilux.routine import Routine

__all__ = ["TimeProvider"]

_WEEKDAYS_ZH = "一二三四五六日"


class TimeProvider(Routine):
    """Emits the current time when asked.

    Slot ``request`` (attribute ``trigger_slot``); event ``output`` with
    ``time_string``, ``timestamp`` (seconds since the epoch), ``datetime`` (ISO) and
    ``formatted`` (``custom_format`` applied).

    Config: ``format`` (``"iso"``; also ``"timestamp"``, ``"formatted"``,
    ``"custom"``), ``custom_format`` (``"%Y-%m-%d %H:%M:%S"``), ``include_weekday``
    (True), ``locale`` (``"zh_CN"``: the ``"formatted"`` form is then
    ``2024年01月01日，星期一，12:00:00``). A request may name the ``format`` to use.
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(
            format="iso",
            custom_format="%Y-%m-%d %H:%M:%S",
            include_weekday=True,
            locale="zh_CN",
        )
        self.trigger_slot = self.define_slot("request", handler=self.provide)
        self.output_event = self.define_event(
            "output", ["time_string", "timestamp", "datetime", "formatted"]
        )

    def provide(self, data: Any = None, **kwargs: Any) -> None:
        """The ``request`` handler: emit the current time."""
        if isinstance(data, dict) and data:
            form = data.get("format", self.get_config("format", "iso"))
        else:
            form = kwargs.get("format", self.get_config("format", "iso"))
        now = datetime.now()
        custom = str(self.get_config("custom_format", "%Y-%m-%d %H:%M:%S"))
        self.emit(
            "output",
            time_string=self.time_string(now, form),
            timestamp=time.time(),
            datetime=now.isoformat(),
            formatted=now.strftime(custom),
        )

    def time_string(self, now: datetime, form: str) -> str:
        """``now`` in the format named ``form``."""
        if form == "timestamp":
            return str(now.timestamp())
        if form == "formatted":
            weekday = self.get_config("include_weekday", True)
            if weekday and self.get_config("locale") == "zh_CN":
                day = _WEEKDAYS_ZH[now.weekday()]
                return now.strftime(f"%Y年%m月%d日，星期{day}，%H:%M:%S")
            if weekday:
                return now.strftime("%A, %B %d, %Y %H:%M:%S")
            return now.strftime("%Y-%m-%d %H:%M:%S")
        if form == "custom":
            return now.strftime(str(self.get_config("custom_format", "%Y-%m-%d %H:%M:%S")))
        return now.isoformat()

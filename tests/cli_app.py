"""Flows for the tests of the ``routilux`` command (``tests/test_cli.py``) and of the
live view (``tests/test_live.py``), found by import path as ``cli_app:NAME``.

``orders`` prices orders: ``source`` emits one order per amount, ``price`` adds tax
(and fails for a negative amount: with ``on_error="stop"`` the job fails, with
``"continue"`` it goes on), ``ledger`` collects the totals. A ``pause_at`` amount
makes ``price`` pause the job when it sees it. ``loader`` is the crash flow: its
``load`` handler kills the process (like kill -9) at ``n == CLI_APP_CRASH_AT`` (an
environment variable). ``gate`` waits at each record for a byte on standard input (for
Ctrl-C); ``long_names``, ``big`` and ``noisy`` have ids, graphs and errors too long
for a line, a pipe and a message.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine


class Source(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.feed)
        self.define_event("order", ["order_id", "amount"])

    def feed(self, amounts: list[float] = (), pause_at: float | None = None, **_: Any) -> None:
        ctx = self.require_execution_context()
        ctx.job_state.update_shared_data("pause_at", pause_at)
        for order_id, amount in enumerate(amounts):
            self.emit("order", order_id=order_id, amount=amount)


class Price(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.price)
        self.define_event("priced", ["order_id", "total"])

    def price(self, order_id: int, amount: float) -> None:
        ctx = self.require_execution_context()
        if amount < 0:
            raise ValueError(f"negative amount {amount}")
        if amount == ctx.job_state.get_shared_data("pause_at"):
            ctx.flow.pause(ctx.job_state, reason=f"order {order_id} needs approval")
        self.emit("priced", order_id=order_id, total=round(amount * 1.2, 2))


class Ledger(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.book)

    def book(self, order_id: int, total: float) -> None:
        self.require_execution_context().get_channel().append("ledger", [order_id, total])


def orders(on_error: str = "stop") -> Flow:
    """The orders flow; ``price`` fails the job on a negative amount (or goes on with
    ``on_error="continue"``)."""
    flow = Flow("orders")
    flow.add_routine(Source(), "source")
    price = Price()
    strategy = ErrorStrategy.STOP if on_error == "stop" else ErrorStrategy.CONTINUE
    price.set_error_handler(ErrorHandler(strategy=strategy))
    flow.add_routine(price, "price")
    flow.add_routine(Ledger(), "ledger")
    flow.connect("source", "order", "price", "input")
    flow.connect("price", "priced", "ledger", "input")
    return flow


def lenient_orders() -> Flow:
    return orders(on_error="continue")


#: A module-level flow (``cli_app:shared_flow``), not a function.
shared_flow = orders()


class Feed(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.feed)
        self.define_event("record", ["n"])

    def feed(self, count: int = 5) -> None:
        for n in range(count):
            self.emit("record", n=n)


class Loader(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.load)

    def load(self, n: int) -> None:
        if str(n) == os.environ.get("CLI_APP_CRASH_AT"):
            os._exit(1)  # no cleanup, no final write: like kill -9
        self.require_execution_context().get_channel().append("loaded", n)


def loader() -> Flow:
    """The crash flow."""
    flow = Flow("loader")
    flow.add_routine(Feed(), "feed")
    flow.add_routine(Loader(), "loader")
    flow.connect("feed", "record", "loader", "input")
    return flow


def two_entries() -> Flow:
    """Two routines with a trigger slot, neither fed by the other."""
    flow = Flow("two")
    flow.add_routine(Feed(), "a")
    flow.add_routine(Feed(), "b")
    return flow


def miswired() -> Flow:
    """A flow with a warning (an unconnected slot) and, as entry ``ledger``, an error."""
    flow = Flow("miswired")
    flow.add_routine(Source(), "source")
    flow.add_routine(Price(), "price")
    flow.add_routine(Ledger(), "ledger")
    flow.connect("source", "order", "price", "input")
    return flow


def broken() -> Flow:
    raise RuntimeError("cannot build this flow")


def broken_in_lines() -> Flow:
    raise RuntimeError("cannot build this flow:\nthe second line says why")


not_a_flow = 42


#: A routine id longer than any terminal is wide.
LONG_ID = "stage-" + "r" * 150


def long_names() -> Flow:
    """Ids longer than a line, and wide (CJK) characters."""
    flow = Flow("flüsse-" + "long" * 40)
    flow.add_routine(Feed(), LONG_ID)
    flow.add_routine(Loader(), "sink 日本")
    flow.connect(LONG_ID, "record", "sink 日本", "input")
    return flow


def big() -> Flow:
    """A flow whose summary is longer than a pipe holds (64 KiB)."""
    flow = Flow("big")
    flow.add_routine(Feed(), "feed")
    for n in range(5000):
        flow.add_routine(Loader(), f"loader-{n}")
        flow.connect("feed", "record", f"loader-{n}", "input")
    return flow


class Noisy(Routine):
    """Fails with a long message of several lines."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.fail)

    def fail(self, n: int) -> None:
        raise RuntimeError(f"record {n} is bad:\n" + "x" * 5000 + "\nthe last line")


def noisy(on_error: str = "stop") -> Flow:
    flow = Flow("noisy")
    flow.add_routine(Feed(), "feed")
    noisy = Noisy()
    strategy = ErrorStrategy.STOP if on_error == "stop" else ErrorStrategy.CONTINUE
    noisy.set_error_handler(ErrorHandler(strategy=strategy))
    flow.add_routine(noisy, "noisy")
    flow.connect("feed", "record", "noisy", "input")
    return flow


def lenient_noisy() -> Flow:
    return noisy(on_error="continue")


class Gate(Routine):
    """Says ``gate N`` on standard error, then waits for one byte on standard input
    (read from the file descriptor: no lock a thread could hold at exit)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.wait)

    def wait(self, n: int) -> None:
        print(f"gate {n}", file=sys.stderr, flush=True)
        os.read(0, 1)


def gate() -> Flow:
    """The Ctrl-C flow: each record waits at the gate for a byte on standard input."""
    flow = Flow("gate")
    flow.add_routine(Feed(), "feed")
    flow.add_routine(Gate(), "gate")
    flow.connect("feed", "record", "gate", "input")
    return flow

"""The routilux command on a flow: validate, graph and run, from a shell.

Each command runs as `python -m routilux ...` in a new process, as you would type it;
the flow is found by import path: this file is the module ``cli_run``. The output is
not a terminal, so there is no live view: each run prints how its job ended.
"""

import json
import os
import shlex
import subprocess
import sys
import tempfile

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine


class Orders(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.feed)
        self.define_event("order", ["order_id", "amount"])

    def feed(self, amounts):
        for order_id, amount in enumerate(amounts):
            self.emit("order", order_id=order_id, amount=amount)


class Price(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.price)
        self.define_event("priced", ["order_id", "total"])
        self.set_error_handler(ErrorHandler(strategy=ErrorStrategy.STOP))

    def price(self, order_id, amount):
        if amount < 0:
            raise ValueError(f"order {order_id}: negative amount {amount}")
        self.emit("priced", order_id=order_id, total=round(amount * 1.2, 2))


class Ledger(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.book)

    def book(self, order_id, total):
        self.get_execution_context().get_channel().append("ledger", [order_id, total])


def make_flow():
    flow = Flow("orders")
    flow.add_routine(Orders(), "orders")
    flow.add_routine(Price(), "price")
    flow.add_routine(Ledger(), "ledger")
    flow.connect("orders", "order", "price", "input")
    flow.connect("price", "priced", "ledger", "input")
    return flow


HERE = os.path.dirname(os.path.abspath(__file__))


def routilux(*arguments, cwd=None):
    """Run `python -m routilux ARGUMENTS` and print it, its output and its exit code."""
    print("$ routilux", shlex.join(arguments))
    done = subprocess.run(
        [sys.executable, "-m", "routilux", *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": HERE},
    )
    lines = done.stdout.splitlines()
    if "    Traceback (most recent call last):" in lines:
        # The frames name files of this machine: show the first and last lines only.
        start = lines.index("    Traceback (most recent call last):")
        lines[start + 1 : -1] = ["      ..."]
    for line in lines:
        print(line)
    for line in done.stderr.splitlines():
        print("(stderr)", line)
    print("exit code:", done.returncode)
    print()


if __name__ == "__main__":
    routilux("validate", "cli_run:make_flow")
    routilux("graph", "cli_run:make_flow")
    routilux("run", "cli_run:make_flow", "--params", '{"amounts": [10, 25.5, 4]}')
    routilux("run", "cli_run:make_flow", "--params", '{"amounts": [10, -1, 4]}')
    routilux("run", "cli_run:make_flow", "--params", "[10, 25.5]")

    # A flow saved as JSON: --import names the module its routine classes are in.
    import cli_run  # this file as a module, so that the classes are saved as cli_run:...

    with tempfile.TemporaryDirectory() as folder:
        saved = os.path.join(folder, "orders.json")
        cli_run.make_flow().save(saved)
        with open(saved) as file:
            print("classes:", [r["class"] for r in json.load(file)["routines"]])
        routilux("run", "orders.json", "--params", '{"amounts": [1]}', cwd=folder)
        routilux("graph", "orders.json", "--import", "cli_run", "--format", "dot", cwd=folder)
        routilux(
            "run", "orders.json", "--import", "cli_run", "--params", '{"amounts": [1]}', cwd=folder
        )

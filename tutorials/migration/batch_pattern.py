"""0.9's batch pattern: a handler reads its slot's buffer and resets it after a batch.

Inside a job, ``slot._data`` is that job's buffer, so 0.9 code keeps working;
``slot.clear()`` is the public way to start a new batch.
"""

from routilux import Flow, Routine


class Numbers(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("output", ["value"])

    def run(self, count=7, **kwargs):
        for value in range(count):
            self.emit("output", value=value)


class Batcher(Routine):
    """Emits the values it received three at a time."""

    def __init__(self, use_clear=True):
        super().__init__()
        self.use_clear = use_clear
        self.input_slot = self.define_slot("input", handler=self.take, merge_strategy="append")
        self.define_event("batch", ["values"])

    def take(self, **kwargs):
        values = list(self.input_slot._data.get("value", []))  # this job's buffer
        if len(values) == 3:
            self.emit("batch", values=values)
            if self.use_clear:
                self.input_slot.clear()  # the public way
            else:
                self.input_slot._data = {}  # the 0.9 way, still honoured


class Printer(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.show)

    def show(self, values):
        print("  batch:", values)


for use_clear in (True, False):
    batcher = Batcher(use_clear)
    flow = Flow("batching")
    flow.add_routine(Numbers(), "numbers")
    flow.add_routine(batcher, "batcher")
    flow.add_routine(Printer(), "printer")
    flow.connect("numbers", "output", "batcher", "input")
    flow.connect("batcher", "batch", "printer", "input")
    print("with slot.clear():" if use_clear else "with slot._data = {}:")
    flow.execute("numbers")
    print("  a second job (its buffer starts empty, without the first job's 6):")
    flow.execute("numbers", {"count": 3})
    print("  the slot's own buffer, outside any job:", batcher.input_slot._data)

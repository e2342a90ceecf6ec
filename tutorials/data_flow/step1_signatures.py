"""Data flow, step 1: a handler's signature decides what it receives.

Run it with ``python tutorials/data_flow/step1_signatures.py``.
"""

from routilux import Flow, Routine


class Person(Routine):
    """Entry routine: emits one person."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("person", ["name", "age"])

    def send(self):
        self.emit("person", name="Ada", age=36)


class TakesKwargs(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self, **kwargs):
        print(f"  handle(**kwargs):       kwargs={kwargs}")


class TakesData(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self, data):
        print(f"  handle(data):           data={data}")


class TakesOneKey(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self, name):
        print(f"  handle(name):           name={name!r}")


class TakesSeveralKeys(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self, name, age):
        print(f"  handle(name, age):      name={name!r}, age={age!r}")


class TakesNothing(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self):
        print("  handle():               called with nothing")


flow = Flow(flow_id="signatures")
flow.add_routine(Person(), "person")
for routine_id, routine in [
    ("kwargs", TakesKwargs()),
    ("data", TakesData()),
    ("one_key", TakesOneKey()),
    ("several_keys", TakesSeveralKeys()),
    ("nothing", TakesNothing()),
]:
    flow.add_routine(routine, routine_id)
    flow.connect("person", "person", routine_id, "input")

print("Emitted: name='Ada', age=36")
job = flow.execute("person")
print(f"Status: {job.status}")

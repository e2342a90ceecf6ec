"""Data flow, step 2: keys a handler does not take, and keys it misses.

Run it with ``python tutorials/data_flow/step2_unused_and_missing_keys.py``.
"""

from routilux import Flow, Routine


class Person(Routine):
    """Entry routine: emits one person."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("person", ["name", "age", "city"])

    def send(self):
        self.emit("person", name="Ada", age=36, city="London")


class Greeter(Routine):
    """Takes two of the three keys: the third is dropped."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.greet)

    def greet(self, name, age):
        print(f"  greeter: name={name!r}, age={age!r}")


class WithDefault(Routine):
    """Takes a key that is not delivered, with a default."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self, name, country="unknown"):
        print(f"  with_default: name={name!r}, country={country!r}")


class OneMissingKey(Routine):
    """One parameter whose key is not delivered: it receives the whole dict."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self, country):
        print(f"  one_missing_key: country={country!r}")


class RequiredMissingKey(Routine):
    """A required parameter whose key is not delivered: the call fails."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self, name, country):
        print("  required_missing_key: never printed")


flow = Flow(flow_id="unused_and_missing_keys")
flow.add_routine(Person(), "person")
for routine_id, routine in [
    ("greeter", Greeter()),
    ("with_default", WithDefault()),
    ("one_missing_key", OneMissingKey()),
    ("required_missing_key", RequiredMissingKey()),
]:
    flow.add_routine(routine, routine_id)
    flow.connect("person", "person", routine_id, "input")

print("Emitted: name='Ada', age=36, city='London'")
job = flow.execute("person")
print(f"Status: {job.status}")
for error in job.errors:
    print(f"Error in {error['routine_id']}: {error['error_type']}: {error['error']}")

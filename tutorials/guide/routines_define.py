"""Defining a routine: slots, events, config, and the errors for wrong definitions."""

from routilux import Flow, Routine
from routilux.exceptions import ConfigurationError, DuplicateNameError, EventNotFoundError


class Greeter(Routine):
    def __init__(self):
        super().__init__()
        self.set_config(greeting="Hello")
        self.trigger = self.define_slot("trigger", handler=self.greet)
        self.greeted = self.define_event("greeted", ["text"])

    def greet(self, name):
        greeting = self.get_config("greeting", "Hi")
        self.emit("greeted", text=f"{greeting}, {name}!")


greeter = Greeter()
print("slot:", greeter.get_slot("trigger") is greeter.trigger)
print("event params:", greeter.get_event("greeted").output_params)
print("unknown slot:", greeter.get_slot("nope"))
print("config:", greeter.config())

flow = Flow(flow_id="greetings")
flow.add_routine(greeter, "greeter")
job = flow.execute("greeter", {"name": "Ada"})
print([record.data for record in job.get_execution_history("greeter")][1])

try:
    greeter.define_slot("trigger")
except DuplicateNameError as exc:
    print("DuplicateNameError:", exc)

try:
    greeter.emit("greted", text="typo")
except EventNotFoundError as exc:
    print("EventNotFoundError:", exc)


class Forgetful(Routine):
    def __init__(self):
        self.define_slot("input")  # before super().__init__()


try:
    Forgetful()
except ConfigurationError as exc:
    print("ConfigurationError:", exc)

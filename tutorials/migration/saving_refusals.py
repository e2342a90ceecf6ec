"""Saving refuses what a loader could not restore; loading refuses a handler the
class does not wire itself."""

from routilux import ConditionalRouter, Flow, Routine
from routilux.exceptions import SerializationError


class Echo(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.echo)

    def echo(self, **data):
        print(data)


def shout(text):
    print(text.upper())


def local_class():
    class Local(Echo):
        pass

    return Local()


def try_to_save(label, routine):
    flow = Flow("saving")
    flow.add_routine(routine, "r")
    try:
        flow.serialize()
        print(f"{label}: saved")
    except SerializationError as exc:
        print(f"{label}: {exc}")


try_to_save("a class defined in a function", local_class())
with_lambda = Echo()
with_lambda.define_slot("quiet", handler=lambda text: None)
try_to_save("a lambda handler", with_lambda)
with_function = Echo()
with_function.define_slot("loud", handler=shout)
try_to_save("an unregistered function", with_function)

flow = Flow("routing")
router = ConditionalRouter()
router.set_config(routes=[("high", "data['priority'] == 'high'")])
flow.add_routine(router, "router")
document = flow.serialize()
print("the router's slot is handled by:", document["routines"][0]["slots"][0]["handler"])
document["routines"][0]["slots"][0]["handler"] = "add_route"
try:
    Flow.deserialize(document)
except SerializationError as exc:
    print("a handler __init__ does not wire:", exc)

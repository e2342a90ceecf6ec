"""Advanced patterns, step 3: routing with the builtin ConditionalRouter.

Run it with ``python tutorials/advanced/step3_router.py``.
"""

from routilux import ConditionalRouter, Flow, Routine, register_serializable
from routilux.exceptions import ConfigurationError

TICKETS = [
    {"id": 1, "customer": "ann", "kind": "question", "amount": 0},
    {"id": 2, "customer": "bob", "kind": "refund", "amount": 40},
    {"id": 3, "customer": "vip-cy", "kind": "question", "amount": 0},
    {"id": 4, "customer": "dan", "kind": "complaint", "amount": 900},
    {"id": 5, "customer": "eve", "kind": "refund", "amount": 500},
]


@register_serializable
def is_vip(data):
    return data["customer"].startswith("vip-")


class Tickets(Routine):
    """Entry routine: emits each ticket."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("ticket", ["data"])

    def send(self, tickets):
        for ticket in tickets:
            self.emit("ticket", data=ticket)


class Desk(Routine):
    """Notes each ticket it gets, and the route it came by, in the job's channel."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, data, route):
        ctx = self.get_execution_context()
        ctx.get_channel().append("deliveries", (data["id"], ctx.routine_id, route))


def build_flow():
    router = ConditionalRouter()
    router.set_config(large_amount=100)
    router.add_route("escalate", "data['amount'] > config['large_amount']")
    router.add_route("refunds", {"kind": "refund"})
    router.add_route("vip", is_vip)
    router.set_config(default_route="general")

    flow = Flow(flow_id="tickets")
    flow.add_routine(Tickets(), "tickets")
    flow.add_routine(router, "router")
    flow.connect("tickets", "ticket", "router", "input")
    for route in ("escalate", "refunds", "vip", "general"):
        flow.add_routine(Desk(), f"{route}_desk")
        flow.connect("router", route, f"{route}_desk", "input")
    return flow


flow = build_flow()
job = flow.execute("tickets", entry_params={"tickets": TICKETS})
print(f"Status: {job.status}")
for ticket_id, desk, route in job.get_channel().get("deliveries"):
    print(f"  ticket {ticket_id} -> {desk} (route {route!r})")
print("Route counts:", job.get_routine_state("router")["route_counts"])

# Conditions are checked when they are added: anything outside the small expression
# language is refused before the flow ever runs.
for condition in ["open('/etc/passwd')", "data.__class__"]:
    try:
        ConditionalRouter().add_route("evil", condition)
    except ConfigurationError as error:
        print("Refused:", error)

# The registered function is saved by name, so the flow loads and routes alike.
loaded = Flow.deserialize(flow.serialize())
again = loaded.execute("tickets", entry_params={"tickets": TICKETS})
print("Loaded flow routes alike:", again.shared_data == job.shared_data)

"""ConditionalRouter: string, dict and callable conditions."""

from routilux import ConditionalRouter, Flow, Routine, register_serializable
from routilux.exceptions import ConfigurationError


@register_serializable(name="demo.is_bulk")
def is_bulk(data, config):
    return data.get("quantity", 0) >= config["bulk_from"]


class Feed(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.feed)
        self.define_event("order")

    def feed(self, orders):
        for order in orders:
            self.emit("order", **order)


class Show(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.show)

    def show(self, data, route):
        print(f"  {route:<10} {data}")


router = ConditionalRouter()
router.set_config(bulk_from=100)
router.add_route("urgent", "data.get('priority') == 'high' and len(data.get('items', [])) > 0")
router.add_route("bulk", is_bulk)
router.add_route("europe", {"region": "eu"})
print(
    "events:", [name for name in ["urgent", "bulk", "europe", "output"] if router.get_event(name)]
)

flow = Flow(flow_id="routing")
flow.add_routine(Feed(), "feed")
flow.add_routine(router, "router")
flow.add_routine(Show(), "show")
flow.connect("feed", "order", "router", "input")
for event in ["urgent", "bulk", "europe", "output"]:
    flow.connect("router", event, "show", "input")

orders = [
    {"priority": "high", "items": ["a"], "region": "eu"},
    {"quantity": 500, "region": "eu"},
    {"region": "us"},
]
print("first_match:")
job = flow.execute("feed", {"orders": orders})
print("  route_counts:", job.get_routine_state("router")["route_counts"])

router.set_config(route_priority="all")
print("all matching routes:")
flow.execute("feed", {"orders": orders[:2]})

for bad in ["data.__class__", "open('x')", "data['a'] if"]:
    try:
        router.add_route("bad", bad)
    except ConfigurationError as exc:
        print("ConfigurationError:", exc)

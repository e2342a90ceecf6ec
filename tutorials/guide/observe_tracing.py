"""OpenTelemetry spans of a job: one trace per job, a span per activation, linked to
the activation whose emission queued it (the SDK's in-memory exporter keeps them)."""

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from routilux import Flow, Routine, tracing

# Without a tracer provider (the API's default no-op one) nothing is traced.
print("tracing with the default provider:", tracing.instrument())

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
print("tracing with the SDK's provider:", tracing.instrument(provider))
tracer = provider.get_tracer("shop")


class Orders(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("order", ["order_id"])

    def send(self, orders=(), **kwargs):
        for order_id in orders:
            self.emit("order", order_id=order_id)


class Step(Routine):
    """Passes the order on; its own span (a child of the activation's)."""

    def __init__(self, name):
        super().__init__()
        self.name = name
        self.define_slot("input", handler=self.work)
        self.define_event("done", ["order_id"])

    def work(self, order_id):
        with tracer.start_as_current_span(f"{self.name} {order_id}"):
            self.emit("done", order_id=order_id)


class Ship(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.ship)

    def ship(self, order_id):
        return None


# orders -> pack and bill -> ship: ship's activations are fed by both (a fan-in).
flow = Flow(flow_id="shop")
flow.add_routine(Orders(), "orders")
flow.add_routine(Step("packing"), "pack")
flow.add_routine(Step("billing"), "bill")
flow.add_routine(Ship(), "ship")
flow.connect("orders", "order", "pack", "input")
flow.connect("orders", "order", "bill", "input")
flow.connect("pack", "done", "ship", "input")
flow.connect("bill", "done", "ship", "input")
job = flow.execute("orders", {"orders": ["A", "B"]})
print("job:", job.status)

spans = sorted(exporter.get_finished_spans(), key=lambda span: span.start_time)
label = {}
for span in spans:
    same = [s for s in spans if s.name == span.name]
    label[span.context.span_id] = (
        span.name if len(same) == 1 else f"{span.name}#{same.index(span) + 1}"
    )


def show(span, depth):
    links = [label[link.context.span_id] for link in span.links]
    attributes = span.attributes
    detail = ""
    if "routilux.slot" in attributes:
        detail = f" attempt={attributes['routilux.attempt']}"
    if links:
        detail += f" linked to {', '.join(links)}"
    print(f"{'  ' * depth}{label[span.context.span_id]}{detail}")
    for child in spans:
        if child.parent is not None and child.parent.span_id == span.context.span_id:
            show(child, depth + 1)


[job_span] = [span for span in spans if span.parent is None]
print("one trace:", len({span.context.trace_id for span in spans}) == 1)
print(f"job span attributes: status={job_span.attributes['routilux.status']}")
show(job_span, 0)
tracing.uninstrument()

"""Log records that say which job, routine and slot they are about: the engine's own,
and the handlers' with one line (a ContextFilter on the handler)."""

import logging
import sys

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine
from routilux.log import ContextFilter, add_job_context


class Brief(logging.Formatter):
    """Says that a traceback is attached instead of printing it (its file paths
    differ from one machine to the next)."""

    def formatException(self, exc_info):
        return f"    (traceback of {exc_info[0].__name__} attached)"


handler = logging.StreamHandler(sys.stdout)
handler.addFilter(ContextFilter())  # the one line: records of any logger get the context
handler.setFormatter(Brief("%(levelname)s %(name)s [%(routine_id)s.%(slot)s] %(message)s"))
logging.basicConfig(level=logging.INFO, handlers=[handler])
log = logging.getLogger("app")


class Orders(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("order", ["order_id"])

    def send(self, orders=(), **kwargs):
        log.info("sending %d orders", len(orders))
        for order_id in orders:
            self.emit("order", order_id=order_id)


class Charge(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.charge)
        self.tries = {}

    def charge(self, order_id):
        self.tries[order_id] = self.tries.get(order_id, 0) + 1
        log.info("charging order %s", order_id)
        if order_id == "B" and self.tries[order_id] == 1:
            raise TimeoutError("the payment service did not answer")
        # structlog users put routilux.log.add_job_context among their processors:
        print("    structlog event:", add_job_context(None, "info", {"event": "charged"}))


class Keep(logging.Handler):
    """Keeps the engine's records, for a look at their attributes."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


kept = Keep()
logging.getLogger("routilux").addHandler(kept)

flow = Flow(flow_id="shop")
flow.add_routine(Orders(), "orders")
charge = Charge()
charge.set_error_handler(ErrorHandler(strategy=ErrorStrategy.RETRY, retry_delay=0.0))
flow.add_routine(charge, "charge")
flow.connect("orders", "order", "charge", "input")

job = flow.execute("orders", {"orders": ["A", "B"]})
log.info("outside any job: %s", job.status)

# The context is in the records' attributes, for handlers that ship records as data.
for record in kept.records:
    print(
        f"engine record: job_id={record.job_id} routine_id={record.routine_id} "
        f"slot={record.slot} exc_info={record.exc_info[0].__name__}"
    )

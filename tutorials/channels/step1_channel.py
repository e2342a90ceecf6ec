"""Channels and results, step 1: the job's channel.

Run it with ``python tutorials/channels/step1_channel.py``.
"""

from routilux import Flow, Routine


class Setup(Routine):
    """Entry routine: puts the job's configuration in the channel, then emits prices."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.start)
        self.define_event("price", ["cents"])

    def start(self, prices):
        channel = self.get_execution_context().get_channel()
        channel.set("config", {"tax_percent": 20, "currency": "EUR"})
        channel.set("scratch", "only needed while setting up")
        for cents in prices:
            self.emit("price", cents=cents)


class AddTax(Routine):
    """Reads the shared configuration and accumulates results in the channel."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.add_tax)

    def add_tax(self, cents):
        channel = self.get_execution_context().get_channel()
        config = channel.get("config")
        gross = cents * (100 + config["tax_percent"]) // 100
        channel.append("gross", gross)
        count = channel.increment("count")
        total = channel.increment("total", gross)
        print(f"  {cents} -> {gross} {config['currency']} (item {count}, total {total})")
        if channel.exists("scratch"):
            channel.delete("scratch")


flow = Flow(flow_id="prices")
flow.add_routine(Setup(), "setup")
flow.add_routine(AddTax(), "add_tax")
flow.connect("setup", "price", "add_tax", "input")

job = flow.execute("setup", entry_params={"prices": [100, 250, 80]})

channel = job.get_channel()
print(f"Status: {job.status}")
print("Keys:", channel.keys())
print("Gross prices:", channel.get("gross"), "total:", channel.get("total"))
print("scratch exists:", channel.exists("scratch"))
print("missing key:", channel.get("discount", "none"))
print("Same object every time:", job.get_channel() is channel)
print("Shared data:", job.shared_data)

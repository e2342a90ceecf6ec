"""A job's channel: its shared data as a thread-safe key-value store."""

from routilux import Flow, Routine
from routilux.exceptions import ChannelTypeError


class Source(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("word", ["text"])

    def send(self, text):
        channel = self.get_execution_context().get_channel()
        channel.set("source", "split")
        for word in text.split():
            self.emit("word", text=word)


class Tally(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.tally)

    def tally(self, text):
        channel = self.get_execution_context().get_channel()
        channel.increment("words")  # atomic, even with handlers running at once
        channel.increment("letters", len(text))
        if text.istitle():
            channel.append("names", text)


flow = Flow(flow_id="tally", execution_strategy="concurrent", max_workers=4)
flow.add_routine(Source(), "source")
flow.add_routine(Tally(), "tally")
flow.connect("source", "word", "tally", "input")

job = flow.execute("source", {"text": "Ada and Alan met " * 50})
channel = job.get_channel()
print("same object every time:", channel is job.get_channel())
print("keys:", sorted(channel.keys()))
print("words:", channel.get("words"), "letters:", channel.get("letters"))
print("names:", len(channel.get("names")), "| missing:", channel.get("missing", "default"))
print("a view of shared_data:", job.shared_data["words"] == channel.get("words"))
print("exists:", channel.exists("source"), "| in:", "source" in channel, "| len:", len(channel))
print("delete:", channel.delete("source"), channel.delete("source"))
try:
    channel.increment("names")
except ChannelTypeError as exc:
    print("ChannelTypeError:", exc)

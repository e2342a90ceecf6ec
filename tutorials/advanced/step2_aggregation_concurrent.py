"""Advanced patterns, step 2: aggregate under the concurrent strategy with a channel.

Run it with ``python tutorials/advanced/step2_aggregation_concurrent.py``.
"""

import time

from routilux import Flow, Routine


class Split(Routine):
    """Entry routine: sends each word of a text, telling how many there are."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.split)
        self.define_event("word", ["word", "expected"])

    def split(self, text):
        words = text.split()
        for word in words:
            self.emit("word", word=word, expected=len(words))


class Measure(Routine):
    """Measures one word, slowly: several run at once."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.measure)
        self.define_event("measured", ["word", "length", "expected"])

    def measure(self, word, expected):
        time.sleep(0.01 * len(word))  # stands for real work
        self.emit("measured", word=word, length=len(word), expected=expected)


class Aggregate(Routine):
    """Keeps the measurements in the job's channel; the delivery that brings the
    count to ``expected`` emits the summary."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.collect)
        self.define_event("summary", ["lengths"])

    def collect(self, word, length, expected):
        channel = self.get_execution_context().get_channel()
        channel.append("lengths", (word, length))
        if channel.increment("received") == expected:
            self.emit("summary", lengths=sorted(channel.get("lengths")))


class Show(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.show)

    def show(self, lengths):
        print(f"Summary of {len(lengths)} words:")
        for word, length in lengths:
            print(f"  {word}: {length}")


flow = Flow(flow_id="word_stats", execution_strategy="concurrent", max_workers=4)
flow.add_routine(Split(), "split")
flow.add_routine(Measure(), "measure")
flow.add_routine(Aggregate(), "aggregate")
flow.add_routine(Show(), "show")
flow.connect("split", "word", "measure", "input")
flow.connect("measure", "measured", "aggregate", "input")
flow.connect("aggregate", "summary", "show", "input")

job = flow.execute("split", entry_params={"text": "routines wire events to slots"})
print(f"Status: {job.status}, summaries emitted: {len(job.get_execution_history('aggregate'))}")

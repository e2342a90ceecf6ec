"""Advanced patterns, step 1: aggregate many deliveries into one summary.

Run it with ``python tutorials/advanced/step1_aggregation.py``.
"""

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
    """Measures one word."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.measure)
        self.define_event("measured", ["word", "length", "expected"])

    def measure(self, word, expected):
        self.emit("measured", word=word, length=len(word), expected=expected)


class Aggregate(Routine):
    """Collects every measurement (append strategy); when as many as expected have
    arrived, emits one summary."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.collect, merge_strategy="append")
        self.define_event("summary", ["count", "longest", "average"])

    def collect(self, word, length, expected):
        print(f"  received {len(word)} of {expected[0]}: {word[-1]}")
        if len(word) < expected[0]:
            return
        longest = word[length.index(max(length))]
        self.emit("summary", count=len(word), longest=longest, average=sum(length) / len(length))


class Show(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.show)

    def show(self, count, longest, average):
        print(f"Summary: {count} words, longest {longest!r}, average length {average:.2f}")


flow = Flow(flow_id="word_stats")
flow.add_routine(Split(), "split")
flow.add_routine(Measure(), "measure")
flow.add_routine(Aggregate(), "aggregate")
flow.add_routine(Show(), "show")
flow.connect("split", "word", "measure", "input")
flow.connect("measure", "measured", "aggregate", "input")
flow.connect("aggregate", "summary", "show", "input")

job = flow.execute("split", entry_params={"text": "routines wire events to slots"})
print(f"Status: {job.status}")
print("Summaries emitted:", len(job.get_execution_history("aggregate")))

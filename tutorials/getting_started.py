"""Getting started: three routines that count the words of a text.

Run it with ``python tutorials/getting_started.py``.
"""

from routilux import Flow, Routine

TEXT = """
The quick brown fox
jumps over
the lazy dog
"""


class LineSource(Routine):
    """Entry routine: emits one event per non-empty line of the text it is given."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.read)
        self.define_event("line", ["text"])

    def read(self, text="", **kwargs):
        for line in text.splitlines():
            if line.strip():
                self.emit("line", text=line.strip())


class WordCounter(Routine):
    """Counts the words of each line it receives."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.count)
        self.define_event("counted", ["text", "words"])

    def count(self, text):
        self.emit("counted", text=text, words=len(text.split()))


class Report(Routine):
    """Collects every count (the "append" merge strategy keeps them all)."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.add, merge_strategy="append")

    def add(self, text, words):
        ctx = self.get_execution_context()
        ctx.job_state.update_routine_state(
            ctx.routine_id, {"lines": len(words), "words": sum(words)}
        )


flow = Flow(flow_id="word_count")
flow.add_routine(LineSource(), "source")
flow.add_routine(WordCounter(), "counter")
flow.add_routine(Report(), "report")
flow.connect("source", "line", "counter", "input")
flow.connect("counter", "counted", "report", "input")

job = flow.execute("source", entry_params={"text": TEXT})

print(f"Status: {job.status}")
print(f"Report: {job.get_routine_state('report')}")
for record in job.get_execution_history("counter"):
    print(f"  counter emitted {record.data}")

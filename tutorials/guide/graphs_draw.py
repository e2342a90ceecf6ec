"""Drawing a flow: Flow.to_mermaid and Flow.to_dot, for the flow of getting_started.py."""

from routilux import Flow, Routine


class LineSource(Routine):
    """Entry routine: emits one event per non-empty line of the text it is given."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.read)
        self.define_event("line", ["text"])

    def read(self, text=""):
        for line in text.splitlines():
            if line.strip():
                self.emit("line", text=line.strip())


class WordCounter(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.count)
        self.define_event("counted", ["text", "words"])

    def count(self, text):
        self.emit("counted", text=text, words=len(text.split()))


class Report(Routine):
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

# Both are plain text: nothing is rendered or sent anywhere.
print(flow.to_mermaid())
print(flow.to_dot(), end="")

"""Connecting routines, step 2: fan-in, several routines into one slot.

Run it with ``python tutorials/connecting/step2_fan_in.py``.
"""

from routilux import Flow, Routine


class Document(Routine):
    """Entry routine: sends the text it is given to the checks."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.load)
        self.define_event("document", ["text"])

    def load(self, text):
        self.emit("document", text=text)


class LengthCheck(Routine):
    """Reports texts longer than a limit."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.check)
        self.define_event("finding", ["check", "message"])

    def check(self, text):
        words = len(text.split())
        verdict = "too long" if words > 5 else "fine"
        self.emit("finding", check="length", message=f"{words} words: {verdict}")


class RepeatCheck(Routine):
    """Reports words that follow themselves ("the the")."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.check)
        self.define_event("finding", ["check", "message"])

    def check(self, text):
        words = text.lower().split()
        repeats = [a for a, b in zip(words, words[1:]) if a == b]
        self.emit("finding", check="repeats", message=f"repeated: {repeats}")


class Report(Routine):
    """Collects the findings of every check in its routine state."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.add)

    def add(self, check, message):
        print(f"  report received from {check}: {message}")
        ctx = self.get_execution_context()
        state = ctx.job_state.get_routine_state(ctx.routine_id) or {"findings": []}
        state["findings"].append(f"{check}: {message}")
        ctx.job_state.update_routine_state(ctx.routine_id, state)


flow = Flow(flow_id="fan_in")
flow.add_routine(Document(), "document")
flow.add_routine(LengthCheck(), "length")
flow.add_routine(RepeatCheck(), "repeats")
flow.add_routine(Report(), "report")

# Fan-out from the document to both checks ...
flow.connect("document", "document", "length", "input")
flow.connect("document", "document", "repeats", "input")
# ... and fan-in from both checks into the one slot of the report.
flow.connect("length", "finding", "report", "input")
flow.connect("repeats", "finding", "report", "input")

job = flow.execute("document", entry_params={"text": "Read the the manual before you start"})
print(f"Status: {job.status}")
print(f"Findings: {job.get_routine_state('report')['findings']}")

"""Data flow, step 3: renaming keys on a connection with param_mapping.

Run it with ``python tutorials/data_flow/step3_param_mapping.py``.
"""

from routilux import Flow, Routine


class Article(Routine):
    """Entry routine: emits an article with a title and a body."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("article", ["title", "body"])

    def send(self):
        self.emit("article", title="Routilux 1.0", body="Event-driven dataflow.")


class Mailer(Routine):
    """Expects "subject" and "text", not "title" and "body"."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.send_mail)

    def send_mail(self, subject, text):
        print(f"  mailer: subject={subject!r}, text={text!r}")


class Inspector(Routine):
    """Takes **kwargs, so it shows everything a delivery holds."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.inspect)

    def inspect(self, **kwargs):
        print(f"  inspector: {kwargs}")


flow = Flow(flow_id="param_mapping")
flow.add_routine(Article(), "article")
flow.add_routine(Mailer(), "mailer")
flow.add_routine(Inspector(), "inspector")

# source key -> slot key; the mapping belongs to the connection.
flow.connect(
    "article", "article", "mailer", "input", param_mapping={"title": "subject", "body": "text"}
)
flow.connect("article", "article", "inspector", "input", param_mapping={"title": "subject"})

job = flow.execute("article")
print(f"Status: {job.status}")
for record in job.get_execution_history("article"):
    if record.event_name == "article":
        print(f"History of the emission: {record.data}")

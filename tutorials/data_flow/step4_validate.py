"""Data flow, step 4: output_params document an event; flow.validate() checks them.

Run it with ``python tutorials/data_flow/step4_validate.py``.
"""

from routilux import Flow, Routine


class Article(Routine):
    """Entry routine: emits an article; the event declares the keys it carries."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("article", ["title", "body", "author"])

    def send(self):
        self.emit("article", title="Routilux 1.0", body="Event-driven dataflow.", author="Ada")


class Mailer(Routine):
    """Takes the subject and the text, but not the author."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.send_mail)

    def send_mail(self, subject, text):
        print(f"  mailer: subject={subject!r}, text={text!r}")


class SignedMailer(Routine):
    """Takes the author too."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.send_mail)

    def send_mail(self, subject, text, author):
        print(f"  mailer: subject={subject!r}, text={text!r}, author={author!r}")


def build(mailer, param_mapping):
    flow = Flow(flow_id="validate")
    flow.add_routine(Article(), "article")
    flow.add_routine(mailer, "mailer")
    flow.connect("article", "article", "mailer", "input", param_mapping=param_mapping)
    return flow


def report(flow):
    issues = flow.validate("article")
    for issue in issues:
        print(f"  {issue}")
    if not issues:
        print("  no issues")


# A typo in the mapping ("bodyy"), and a handler that does not take the author.
flow = build(Mailer(), {"title": "subject", "bodyy": "text"})
print(f"Declared keys: {flow.routines['article'].get_event('article').output_params}")
print("Mailer, mapping with a typo:")
report(flow)

flow = build(SignedMailer(), {"title": "subject", "body": "text"})
print("SignedMailer, mapping fixed:")
report(flow)
job = flow.execute("article")
print(f"Status: {job.status}")

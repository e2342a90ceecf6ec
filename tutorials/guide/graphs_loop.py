"""Drawing a flow with a loop, a fan-out and a param mapping."""

from routilux import Flow, Routine


class Download(Routine):
    """Entry routine; "again" takes the pages to try once more."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.fetch)
        self.define_slot("again", handler=self.fetch)
        self.define_event("fetched", ["url", "body", "attempt"])

    def fetch(self, url, attempt=0):
        body = "" if attempt == 0 else f"<html>{url}</html>"
        self.emit("fetched", url=url, body=body, attempt=attempt + 1)


class Check(Routine):
    """Sends empty pages back to "download" and the others on."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.check)
        self.define_event("empty", ["url", "attempt"])
        self.define_event("page", ["url", "body"])

    def check(self, url, body, attempt):
        if body or attempt >= 3:
            self.emit("page", url=url, body=body)
        else:
            self.emit("empty", url=url, attempt=attempt)


class Save(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.save)

    def save(self, url, text):
        print(f"  save {url}: {text}")


class Count(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.count)

    def count(self, url):
        print(f"  count {url}")


flow = Flow(flow_id="crawler")
flow.add_routine(Download(), "download")
flow.add_routine(Check(), "check")
flow.add_routine(Save(), "save")
flow.add_routine(Count(), "count")
flow.connect("download", "fetched", "check", "input")
flow.connect("check", "empty", "download", "again")  # closes the loop: drawn dashed
flow.connect("check", "page", "save", "input", {"body": "text"})
flow.connect("check", "page", "count", "input")

print(flow.to_mermaid())
print(flow.to_dot())
print("Running it:")
print("job:", flow.execute("download", {"url": "a.html"}).status)

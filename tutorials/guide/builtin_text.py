"""TextClipper and TextRenderer in a flow."""

from routilux import Flow, Routine, TextClipper, TextRenderer


class Feed(Routine):
    """Entry routine: emits each payload it is given, as it is."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.feed)
        self.define_event("out")

    def feed(self, payloads):
        for payload in payloads:
            self.emit("out", **payload)


class Show(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.show)

    def show(self, **data):
        print(f"{self.get_execution_context().routine_id}: {data}")


clipper = TextClipper()
clipper.set_config(max_length=12, truncation_message="...({remaining} more lines)")
renderer = TextRenderer()
markdown = TextRenderer()
markdown.set_config(tag_format="markdown")

flow = Flow(flow_id="text")
for routine_id, routine in [
    ("clip_feed", Feed()),
    ("render_feed", Feed()),
    ("clipper", clipper),
    ("renderer", renderer),
    ("markdown", markdown),
    ("show", Show()),
]:
    flow.add_routine(routine, routine_id)
flow.connect("clip_feed", "out", "clipper", "input")
flow.connect("clipper", "output", "show", "input")
flow.connect("render_feed", "out", "renderer", "input")
flow.connect("render_feed", "out", "markdown", "input")
flow.connect("renderer", "output", "show", "input")
flow.connect("markdown", "output", "show", "input")

flow.execute(
    "clip_feed",
    {
        "payloads": [
            {"text": "line1\nline2\nline3\nline4"},
            {"text": "short"},
            {"text": "Traceback (most recent call last):\n  ...long..."},
            {"content": "line1\nline2\nline3", "max_length": 8},
        ]
    },
)
flow.execute("render_feed", {"payloads": [{"data": {"name": "Ada", "langs": ["en", "fr"]}}]})
print(renderer.render_value({"a": 1, "b": [1, {"c": 2}]}))

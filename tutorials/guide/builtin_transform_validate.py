"""DataTransformer and DataValidator: clean records, then route them."""

from routilux import DataTransformer, DataValidator, Flow, Routine, register_serializable


@register_serializable(name="demo.title_name")
def title_name(record):
    return {**record, "name": record.get("name", "").strip().title()}


@register_serializable(name="demo.adult")
def adult(age):
    return (age >= 18, f"age {age} is under 18")


class Feed(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.feed)
        self.define_event("record", ["data"])

    def feed(self, records):
        for record in records:
            self.emit("record", data=record)


class Show(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.show)

    def show(self, **data):
        print(f"  {self.get_execution_context().routine_id}: {data}")


transformer = DataTransformer()
transformer.register_transformation("title_name", title_name)
transformer.set_config(transformations=["remove_none", "title_name"])

validator = DataValidator()
validator.register_validator("adult", adult)
validator.set_config(
    rules={"name": "not_empty", "age": "adult"},
    required_fields=["name", "age"],
    allow_extra_fields=False,
)

flow = Flow(flow_id="records")
for routine_id, routine in [
    ("feed", Feed()),
    ("transformer", transformer),
    ("validator", validator),
    ("accepted", Show()),
    ("rejected", Show()),
]:
    flow.add_routine(routine, routine_id)
flow.connect("feed", "record", "transformer", "input")
# The validator validates its "data" argument: rename the transformer's output key.
flow.connect("transformer", "output", "validator", "input", {"transformed_data": "data"})
flow.connect("validator", "valid", "accepted", "input")
flow.connect("validator", "invalid", "rejected", "input")

flow.execute(
    "feed",
    {
        "records": [
            {"name": "  ada lovelace ", "age": 36, "email": None},
            {"name": "tim", "age": 12},
            {"name": "", "age": 40, "role": "admin"},
        ]
    },
)

print("direct use:", transformer.apply("  MiXed ", ["strip_whitespace", "lowercase", "reverse"]))
print("direct use:", validator.check([1, True, "3"], {"items": "is_int"}))

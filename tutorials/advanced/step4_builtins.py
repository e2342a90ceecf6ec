"""Advanced patterns, step 4: a pipeline of builtin routines.

Run it with ``python tutorials/advanced/step4_builtins.py``.
"""

from routilux import (
    DataTransformer,
    DataValidator,
    Flow,
    ResultExtractor,
    Routine,
    register_serializable,
)

FENCE = "`" * 3
GOOD_REPLY = f"""Here is the record you asked for:

{FENCE}json
{{"name": "  ada LOVELACE ", "born": 1815, "email": null}}
{FENCE}
"""
BAD_REPLY = f"""Sorry, I am not sure:

{FENCE}json
{{"born": -5}}
{FENCE}
"""


@register_serializable
def tidy_name(record):
    return {**record, "name": record["name"].strip().title()}


class Reply(Routine):
    """Entry routine: stands for a language model's reply."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.reply)
        self.define_event("reply", ["data"])

    def reply(self, text):
        self.emit("reply", data=text)


class Show(Routine):
    """Returns what arrives: it becomes the routine's result in the job."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.show)

    def show(self, **data):
        return data


def build_flow():
    extractor = ResultExtractor()
    validator = DataValidator()
    validator.set_config(
        rules={"name": "is_string", "born": "is_positive"}, required_fields=["name", "born"]
    )
    transformer = DataTransformer()
    transformer.register_transformation("tidy_name", tidy_name)
    transformer.set_config(transformations=["remove_none", "tidy_name"])

    flow = Flow(flow_id="extract_validate_transform")
    flow.add_routine(Reply(), "reply")
    flow.add_routine(extractor, "extract")
    flow.add_routine(validator, "validate")
    flow.add_routine(transformer, "transform")
    flow.add_routine(Show(), "accepted")
    flow.add_routine(Show(), "rejected")
    flow.connect("reply", "reply", "extract", "input")
    flow.connect("extract", "output", "validate", "input", {"extracted_result": "data"})
    flow.connect("validate", "valid", "transform", "input", {"validated_data": "data"})
    flow.connect("validate", "invalid", "rejected", "input")
    flow.connect("transform", "output", "accepted", "input")
    return flow


flow = build_flow()
for number, text in enumerate((GOOD_REPLY, BAD_REPLY), start=1):
    job = flow.execute("reply", entry_params={"text": text})
    extracted = job.get_execution_history("extract")[0].data
    print(f"Reply {number}: {job.status}")
    print(
        f"  extract: {extracted['extracted_result']} "
        f"(by {extracted['metadata']['extraction_method']}, "
        f"confidence {extracted['confidence']})"
    )
    for routine_id in ("accepted", "rejected"):
        if routine_id in job.results:
            print(f"  {routine_id}: {job.get_result(routine_id)}")

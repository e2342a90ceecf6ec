"""Every builtin saves and loads with its flow, config included."""

import routilux
from routilux import Flow

names = [
    "TextClipper",
    "TextRenderer",
    "ResultExtractor",
    "TimeProvider",
    "DataFlattener",
    "DataTransformer",
    "DataValidator",
    "ConditionalRouter",
]
flow = Flow(flow_id="builtins")
for name in names:
    flow.add_routine(getattr(routilux, name)(), name)
flow.routines["DataTransformer"].set_config(transformations=["strip_whitespace", "uppercase"])
flow.routines["ConditionalRouter"].add_route("big", "data['n'] > 10")

document = flow.serialize()
print("classes:", [routine["class"] for routine in document["routines"]][:2], "...")
print(
    "a builtin transformation:",
    document["routines"][5]["config"]["transformation_map"]["uppercase"],
)
print("a route:", document["routines"][7]["config"]["routes"])

loaded = Flow.deserialize(document)
transformer = loaded.routines["DataTransformer"]
print("loaded transformer:", transformer.apply("  ok ", transformer.get_config("transformations")))
router = loaded.routines["ConditionalRouter"]
print("loaded router:", router.matching_routes({"n": 11}), router.get_event("big") is not None)

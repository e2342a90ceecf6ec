"""DataFlattener: nested data to one flat dict."""

from routilux import DataFlattener

flattener = DataFlattener()
nested = {"user": {"name": "Ada", "tags": ["x", "y"]}, "point": (3, 4), "empty": {}}
print(flattener.flatten_value(nested))

flattener.set_config(separator="/", preserve_lists=False)
print(flattener.flatten_value(nested))

flattener.set_config(separator=".", preserve_lists=True, max_depth=1)
print(flattener.flatten_value(nested))

print(flattener.flatten_value(7))

cycle = {"name": "loop"}
cycle["self"] = cycle
print(DataFlattener().flatten_value(cycle))

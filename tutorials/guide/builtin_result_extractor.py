"""ResultExtractor: structured results out of model or tool output."""

from routilux import ResultExtractor, register_serializable

extractor = ResultExtractor()
samples = [
    'The answer:\n```json\n{"city": "Oslo", "temp": 21}\n```',
    "[1, 2, 3]",
    "Run this:\n```python\nprint('hi')\n```",
    [{"format": "output", "content": "42"}, {"format": "image", "content": "..."}],
    {"already": "structured"},
    "just prose",
]
for sample in samples:
    result = extractor.extract_value(sample)
    print(
        f"{result['extraction_path']!s:<22} {result['format']:<18} "
        f"{result['confidence']:<4} {result['extracted_result']!r}"
    )


@register_serializable(name="demo.key_value")
def key_value(data, config):
    """A custom extractor: 'key=value' lines."""
    if isinstance(data, str) and "=" in data:
        pairs = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
        return pairs, "key_value", {"extraction_method": "key_value"}
    return None


extractor.register_extractor("key_value", key_value)
extractor.set_config(extractor_priority=["key_value"])
print(extractor.extract_value("city=Oslo\ntemp=21")["extracted_result"])

extractor.set_config(strategy="all", extractor_priority=[])
result = extractor.extract_value('{"a": 1}')
print(result["format"], result["extraction_path"], result["extracted_result"])

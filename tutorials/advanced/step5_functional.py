"""Advanced patterns, step 5: the functional layer.

Run it with ``python tutorials/advanced/step5_functional.py``.
"""

import json
import tempfile
from pathlib import Path

from routilux import Flow
from routilux.functional import routine


@routine
def tokenize(text):
    return {"words": text.split()}


@routine
def count_words(words):
    return len(words)


@routine
def longest_word(words):
    return max(words, key=len)


@routine(name="describe")
def describe_count(value, ctx):
    return f"{ctx.routine_id}: {value} words"


with Flow(flow_id="text_stats") as flow:
    tokenize >> [count_words, longest_word]  # fan-out
    count_words >> describe_count  # a chain goes on from any routine

print("Routines:", list(flow.routines))
for connection in flow.connections:
    print(f"  {connection.source_routine_id} -> {connection.target_routine_id}")

job = flow.execute("tokenize", entry_params={"text": "the functional layer wires functions"})
print(f"Status: {job.status}")
print("Results:")
for routine_id, result in job.results.items():
    print(f"  {routine_id}: {result!r}")
print("Emitted on 'output':")
for record in job.get_execution_history():
    if record.event_name == "output":
        print(f"  {record.routine_id}: {record.data}")

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "flow.json"
    flow.save(path)
    stored = json.loads(path.read_text())["routines"][0]
    print("Stored as:", stored["class"], json.dumps(stored["config"]))
    loaded = Flow.load(path)

again = loaded.execute("tokenize", entry_params={"text": "the functional layer wires functions"})
print("Loaded flow, same results:", again.results == job.results)

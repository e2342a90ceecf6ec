"""Routines from plain functions, wired with >> inside ``with Flow(...)``."""

from routilux import Flow
from routilux.functional import routine


@routine
def numbers(count):
    return {"values": list(range(1, count + 1))}


@routine
def total(values):
    return sum(values)


@routine(name="largest")
def biggest(values, ctx):
    ctx.job_state.update_shared_data("seen_by", ctx.routine_id)
    return max(values)


@routine
def report(value):
    print(f"  report received {value}")


with Flow("stats") as flow:
    numbers >> [total, biggest]
    [total, biggest] >> report

print("routines:", list(flow.routines))
job = flow.execute("numbers", {"count": 4})
print("status:", job.status)
print("results:", job.results)
print("shared data:", job.shared_data)
print("calling the function directly:", total([1, 2]))

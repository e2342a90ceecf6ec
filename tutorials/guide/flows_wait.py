"""Starting jobs without waiting, and waiting for them later."""

import threading
import time

from routilux import Flow, Routine


class Slow(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.work)

    def work(self, seconds, label):
        time.sleep(seconds)
        return label


flow = Flow(flow_id="background")
flow.add_routine(Slow(), "slow")

job = flow.execute("slow", {"seconds": 0.3, "label": "first"}, wait=False)
print("right after execute:", job.status)
print("done within 0.05 s?", job.wait_for_completion(timeout=0.05))
print("done eventually?", job.wait_for_completion())
print("then:", job.status, job.get_result("slow"))

# Jobs started from several threads at once run side by side, each in its own JobState.
jobs = {}


def start(label):
    jobs[label] = flow.execute("slow", {"seconds": 0.2, "label": label})


started = time.perf_counter()
threads = [threading.Thread(target=start, args=(label,)) for label in "xyz"]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(f"three waiting executes from three threads took {time.perf_counter() - started:.1f} s")
print({label: job.get_result("slow") for label, job in sorted(jobs.items())})

background = [flow.execute("slow", {"seconds": 0.1, "label": n}, wait=False) for n in range(3)]
print("flow.wait_for_completion():", flow.wait_for_completion(timeout=5))
print([job.status for job in background])
flow.shutdown()

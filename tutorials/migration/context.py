"""The execution context is a contextvars context: it follows the job into threads."""

import contextvars
import threading

from routilux import Flow, Routine


class Spawner(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)

    def run(self, **kwargs):
        def in_thread():
            ctx = self.get_execution_context()
            ctx.job_state.update_shared_data("seen_in_thread", ctx.routine_id)

        thread = threading.Thread(target=contextvars.copy_context().run, args=(in_thread,))
        thread.start()
        thread.join()


flow = Flow("threads")
flow.add_routine(Spawner(), "spawner")
job = flow.execute("spawner")
print("the thread saw routine:", job.shared_data["seen_in_thread"])

"""require_execution_context(): the context of the running job, never None."""

from routilux import ExecutionContext, Flow, Routine
from routilux.exceptions import NoExecutionContextError


class Greeter(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.greet)

    def greet(self, name: str) -> str:
        ctx: ExecutionContext = self.require_execution_context()  # no Optional to check
        ctx.get_channel().append("greeted", name)
        print(f"  {ctx.routine_id} in flow {ctx.flow.flow_id!r}: hello, {name}")
        print("  _current_flow is the job's flow:", self._current_flow is ctx.flow)
        return f"hello, {name}"


greeter = Greeter()
flow = Flow("greetings")
flow.add_routine(greeter, "greeter")
job = flow.execute("greeter", {"name": "Ada"})
print("result:", job.get_result("greeter"), "| channel:", job.get_shared_data("greeted"))

print("outside a job, get_execution_context():", greeter.get_execution_context())
print("outside a job, _current_flow:", greeter._current_flow)
try:
    greeter.require_execution_context()
except NoExecutionContextError as exc:
    print("outside a job, require_execution_context():", exc)

"""What an activation commits, and when: emissions and history records when the
handler returns (after its result), nothing of them if it raises; job state at once."""

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine


def names(job):
    return [record.event_name for record in job.get_execution_history()]


class Split(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.split)
        self.define_event("word", ["word"])

    def split(self, text):
        ctx = self.require_execution_context()
        job = ctx.job_state
        words = text.split()
        for word in words:
            self.emit("word", word=word)
        job.record_execution("split", "counted", {"words": len(words)})
        job.update_routine_state("split", {"words": len(words)})  # at once
        print("  in the handler, after emitting:")
        print(f"    history: {names(job)}")
        print(f"    routine state: {job.get_routine_state('split')}")
        return {"words": len(words)}  # recorded before the words go out


class Word(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, word):
        ctx = self.require_execution_context()
        total = ctx.get_result("split")["words"]
        ctx.get_channel().append("seen", f"{word} (1 of {total})")


flow = Flow(flow_id="effects")
flow.add_routine(Split(), "split")
flow.add_routine(Word(), "word")
flow.connect("split", "word", "word", "input")
print("a handler that returns:")
job = flow.execute("split", {"text": "three little words"})
print(f"  {job.status}: {job.get_shared_data('seen')}")
print(f"  history: {names(job)}")


class Flaky(Routine):
    """Emits (``emit`` or ``emit_now``), changes the job state, then fails on its first
    attempt."""

    def __init__(self, streaming):
        super().__init__()
        self.streaming = streaming
        self.define_slot("trigger", handler=self.send)
        self.define_event("sent", ["attempt"])

    def send(self):
        ctx = self.require_execution_context()
        attempt = ctx.get_channel().increment("attempts")  # at once: kept on failure
        if self.streaming:
            self.emit_now("sent", attempt=attempt)  # delivered at once, even if we fail
        else:
            self.emit("sent", attempt=attempt)
        ctx.job_state.record_execution("flaky", "tried", {"attempt": attempt})
        if attempt == 1:
            raise ConnectionError("lost the connection")


class Sink(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, attempt):
        self.require_execution_context().get_channel().append("received", attempt)


for streaming in [False, True]:
    flaky = Flaky(streaming)
    flaky.set_error_handler(ErrorHandler(ErrorStrategy.RETRY, max_retries=1, retry_delay=0))
    flow = Flow(flow_id="retrying")
    flow.add_routine(flaky, "flaky")
    flow.add_routine(Sink(), "sink")
    flow.connect("flaky", "sent", "sink", "input")
    job = flow.execute("flaky")
    print(f"a handler that fails once, then succeeds ({'emit_now' if streaming else 'emit'}):")
    print(f"  {job.status}: attempts {job.get_shared_data('attempts')}, ", end="")
    print(f"sink received {job.get_shared_data('received')}")
    print(f"  history: {names(job)}")

"""Lifecycle signals: receivers told when a job starts and settles, and when each
activation starts, emits, finishes, fails or is retried."""

import logging

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine, signals


class Numbers(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("output", ["value"])

    def send(self, values=(), **kwargs):
        for value in values:
            self.emit("output", value=value)


class Flaky(Routine):
    """Doubles; the first attempt for 2 fails."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.double)
        self.define_event("output", ["value"])
        self.failed_once = False

    def double(self, value):
        if value == 2 and not self.failed_once:
            self.failed_once = True
            raise ValueError("not yet")
        self.emit("output", value=value * 2)


flow = Flow(flow_id="signals")
flow.add_routine(Numbers(), "numbers")
flaky = Flaky()
flaky.set_error_handler(ErrorHandler(strategy=ErrorStrategy.RETRY, retry_delay=0.0))
flow.add_routine(flaky, "flaky")
flow.connect("numbers", "output", "flaky", "input")


def where(kw):
    return f"{kw['routine_id']}.{kw['slot']} (attempt {kw['attempt']})"


def on_job_started(job_state, **kw):
    print(f"job_started         flow {kw['flow_id']!r}, entry {kw['routine_id']!r}")


def on_job_settled(job_state, **kw):
    print(f"job_settled         {kw['status']} after {kw['duration'] * 1000:.1f} ms")


def on_started(job_state, **kw):
    print(f"activation_started  {where(kw)}")


def on_emitted(job_state, **kw):
    print(f"event_emitted         {kw['routine_id']}.{kw['event']} {kw['data']}")


def on_finished(job_state, **kw):
    print(f"activation_finished {where(kw)} in {kw['duration'] * 1000:.2f} ms")


def on_failed(job_state, **kw):
    error = kw["error"]
    print(f"activation_failed   {where(kw)}: {type(error).__name__}: {error}")


def on_retried(job_state, **kw):
    print(f"activation_retried  {where(kw)} after {kw['delay']:.1f} s")


connected = [
    (signals.job_started, on_job_started),
    (signals.job_settled, on_job_settled),
    (signals.activation_started, on_started),
    (signals.event_emitted, on_emitted),
    (signals.activation_finished, on_finished),
    (signals.activation_failed, on_failed),
    (signals.activation_retried, on_retried),
]
# Receivers are held weakly (blinker's default): these functions live as long as the
# module does.
for signal, receiver in connected:
    signal.connect(receiver)

job = flow.execute("numbers", entry_params={"values": [1, 2]})
print("status:", job.status)
for signal, receiver in connected:
    signal.disconnect(receiver)


# A receiver's exception is logged (logger "routilux", with its traceback) and goes no
# further: the job runs on.
class Show(logging.Handler):
    def emit(self, record):
        print(f"logged: {record.getMessage()} ({record.exc_info[0].__name__})")


logging.getLogger("routilux").addHandler(Show())


def broken(job_state, **kw):
    raise RuntimeError("a bug in a receiver")


with signals.job_started.connected_to(broken):
    job = flow.execute("numbers", entry_params={"values": [5]})
print("with a broken receiver:", job.status)

"""Connecting routines directly, without a flow, and disconnecting."""

from routilux import Routine


class Upper(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.upper)
        self.define_event("output", ["text"])

    def upper(self, text):
        self.emit("output", text=text.upper())


class Echo(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=lambda text: print(f"  echo: {text}"))


upper, echo = Upper(), Echo()
connection = upper.get_event("output").connect(echo.get_slot("input"))
print("connected slots:", upper.get_event("output").connected_slots)

upper.get_slot("input").receive({"text": "hello"})  # runs now, and so does echo
connection.disconnect()
upper.get_slot("input").receive({"text": "silence"})
print("after disconnect:", upper.get_event("output").connected_slots)

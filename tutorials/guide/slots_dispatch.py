"""How a handler's signature decides what it receives (one delivery, six handlers)."""

from routilux import Routine


class Handlers(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("kwargs", handler=self.with_kwargs)
        self.define_slot("data", handler=self.one_named_data)
        self.define_slot("one_key", handler=self.one_named_key)
        self.define_slot("one_other", handler=self.one_named_other)
        self.define_slot("several", handler=self.several)
        self.define_slot("none_match", handler=self.none_match)
        self.define_slot("no_params", handler=self.no_params)

    def with_kwargs(self, **kwargs):
        print(f"{'**kwargs':<24} -> {kwargs}")

    def one_named_data(self, data):
        print(f"{'(data)':<24} -> {data}")

    def one_named_key(self, city):
        print(f"{'(city)':<24} -> {city!r}")

    def one_named_other(self, payload):
        print(f"{'(payload)':<24} -> {payload}")

    def several(self, city, unit="C", note=None):
        print(f"{'(city, unit, note)':<24} -> city={city!r} unit={unit!r} note={note!r}")

    def none_match(self, a, b=None):
        print(f"{'(a, b) no key matches':<24} -> a={a}")

    def no_params(self):
        print(f"{'()':<24} -> called with nothing")


routine = Handlers()
delivery = {"city": "Oslo", "unit": "F", "temp": 21}
for name in ["kwargs", "data", "one_key", "one_other", "several", "none_match", "no_params"]:
    # Outside any job, receive() runs the handler at once.
    routine.get_slot(name).receive(delivery)

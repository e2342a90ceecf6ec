"""The rest of the dispatch rules: empty deliveries, keyword-only, positional-only and
``*args`` parameters, a parameter called ``data``, and a merge that returns a non-dict."""

from routilux import Routine


def show(label, value):
    print(f"{label:<30} -> {value}")


class Handlers(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("default", handler=self.one_with_default)
        self.define_slot("defaults", handler=self.two_with_defaults)
        self.define_slot("keyword_only", handler=self.keyword_only)
        self.define_slot("positional_only", handler=self.positional_only)
        self.define_slot("star_args", handler=self.star_args)
        self.define_slot("data", handler=self.named_data)
        self.define_slot("count", handler=self.count, merge_strategy=lambda old, new: len(new))

    def one_with_default(self, limit=10):
        show("(limit=10)", limit)

    def two_with_defaults(self, limit=10, unit="s"):
        show("(limit=10, unit='s')", (limit, unit))

    def keyword_only(self, *, limit=10):
        show("(*, limit=10)", limit)

    def positional_only(self, city, unit="C", /, note=None):
        show("(city, unit='C', /, note=None)", (city, unit, note))

    def star_args(self, *args):
        show("(*args)", args)

    def named_data(self, data):
        show("(data)", data)

    def count(self, n):
        show("(n) after a custom merge", n)


routine = Handlers()


def deliver(slot, *deliveries):
    for delivery in deliveries:
        routine.get_slot(slot).receive(delivery)


deliver("default", {}, {"limit": 3}, {"other": 1})
deliver("defaults", {}, {"unit": "ms"}, {"other": 1})
deliver("keyword_only", {}, {"limit": 3}, {"other": 1})
deliver("positional_only", {"city": "Oslo", "note": "x"}, {"unit": "F"})
deliver("star_args", {"args": 5}, {"x": 1})
deliver("data", {"data": 5}, {})
deliver("count", {"a": 1, "b": 2})

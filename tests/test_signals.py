"""Tests for routilux._signals: FanoutSignal and OrderedIdSet."""

import asyncio
import gc
import sys
import threading

import pytest

from routilux._signals import FanoutSignal, OrderedIdSet


class Sender:
    """A weak-referenceable, hashable sender object."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"Sender({self.name})"


class Collector:
    """An object whose bound method is used as a receiver."""

    def __init__(self, log, tag):
        self.log = log
        self.tag = tag

    def on(self, sender, **kwargs):
        self.log.append((self.tag, sender, kwargs))
        return self.tag


def make_receiver(log, tag):
    def receiver(sender, **kwargs):
        log.append((tag, sender, kwargs))
        return f"result-{tag}"

    receiver.__name__ = f"receiver_{tag}"
    return receiver


# -- OrderedIdSet -------------------------------------------------------------------


def test_ordered_id_set_keeps_insertion_order_and_ignores_duplicates():
    s = OrderedIdSet([3, 1, 2, 1, 3])
    assert list(s) == [3, 1, 2]
    s.add(0)
    s.add(3)  # already present: does not move
    assert list(s) == [3, 1, 2, 0]
    assert len(s) == 4


def test_ordered_id_set_discard_and_contains():
    s = OrderedIdSet(["a", "b", "c"])
    assert "b" in s
    s.discard("b")
    assert "b" not in s
    assert list(s) == ["a", "c"]
    s.discard("missing")  # no error
    assert list(s) == ["a", "c"]
    assert len(s) == 2


def test_ordered_id_set_bool_and_len_of_empty():
    s = OrderedIdSet()
    assert not s
    assert len(s) == 0
    assert list(s) == []
    s.add(1)
    assert s
    s.discard(1)
    assert not s


def test_ordered_id_set_copy_is_independent():
    s = OrderedIdSet([1, 2])
    c = s.copy()
    assert isinstance(c, OrderedIdSet)
    assert c is not s
    assert list(c) == [1, 2]
    c.add(3)
    s.discard(1)
    assert list(s) == [2]
    assert list(c) == [1, 2, 3]


def test_ordered_id_set_or_keeps_left_then_new_right_items():
    left = OrderedIdSet([5, 1, 4])
    right = OrderedIdSet([2, 1, 9])
    merged = left | right
    assert isinstance(merged, OrderedIdSet)
    assert list(merged) == [5, 1, 4, 2, 9]
    # operands unchanged
    assert list(left) == [5, 1, 4]
    assert list(right) == [2, 1, 9]
    # works with any iterable on the right
    assert list(left | [7, 5]) == [5, 1, 4, 7]


def test_ordered_id_set_iteration_is_over_a_snapshot():
    s = OrderedIdSet([1, 2, 3])
    seen = []
    for item in s:
        seen.append(item)
        s.discard(item)  # mutating while iterating must not raise
        s.add(item + 10)
    assert seen == [1, 2, 3]
    assert list(s) == [11, 12, 13]


def test_ordered_id_set_repr():
    assert repr(OrderedIdSet([1, "a"])) == "OrderedIdSet([1, 'a'])"


# -- FanoutSignal: order ------------------------------------------------------------


def test_receivers_called_in_connect_order():
    sig = FanoutSignal()
    log = []
    receivers = [make_receiver(log, i) for i in range(20)]
    # connect in a scrambled but known order
    order = [7, 3, 19, 0, 12, 5, 18, 1, 9, 14, 2, 16, 8, 11, 4, 17, 6, 13, 10, 15]
    for i in order:
        sig.connect(receivers[i], weak=False)
    sig.send("s", x=1)
    assert [tag for tag, _, _ in log] == order
    log.clear()
    sig.emit_data("s", {"x": 2}, None)
    assert [tag for tag, _, _ in log] == order


def test_connect_order_kept_with_weak_receivers_in_the_mix():
    sig = FanoutSignal()
    log = []
    keep = []
    expected = []
    for i in range(20):
        if i % 3 == 0:
            collector = Collector(log, i)
            keep.append(collector)
            sig.connect(collector.on)  # weak (blinker fallback path)
        else:
            sig.connect(make_receiver(log, i), weak=False)
        expected.append(i)
    sig.send("s")
    assert [tag for tag, _, _ in log] == expected


def test_reconnecting_a_receiver_does_not_move_it():
    sig = FanoutSignal()
    log = []
    a, b, c = (make_receiver(log, t) for t in "abc")
    for r in (a, b, c):
        sig.connect(r, weak=False)
    sig.send("s")
    sig.connect(a, weak=False)
    log.clear()
    sig.send("s")
    assert [t for t, _, _ in log] == ["a", "b", "c"]


def test_disconnect_then_reconnect_moves_receiver_to_the_end():
    sig = FanoutSignal()
    log = []
    a, b, c = (make_receiver(log, t) for t in "abc")
    for r in (a, b, c):
        sig.connect(r, weak=False)
    sig.disconnect(a)
    sig.connect(a, weak=False)
    sig.send("s")
    assert [t for t, _, _ in log] == ["b", "c", "a"]


def test_connect_order_with_a_sender_specific_receiver_in_the_middle():
    sig = FanoutSignal()
    log = []
    x = Sender("x")
    a, b, c = (make_receiver(log, t) for t in "abc")
    sig.connect(a, weak=False)
    sig.connect(b, sender=x, weak=False)
    sig.connect(c, weak=False)
    sig.send(x)
    assert [t for t, _, _ in log] == ["a", "b", "c"]


# -- strong and weak receivers --------------------------------------------------------


def test_strong_bound_method_of_temporary_survives_gc():
    sig = FanoutSignal()
    log = []
    sig.connect(Collector(log, "strong").on, weak=False)  # only the signal holds it
    gc.collect()
    results = sig.send("s", v=1)
    assert log == [("strong", "s", {"v": 1})]
    assert [r for _, r in results] == ["strong"]
    sig.emit_data("s", {"v": 2}, None)
    assert log[-1] == ("strong", "s", {"data": {"v": 2}, "job_state": None})


def test_strong_lambda_survives_gc():
    sig = FanoutSignal()
    log = []
    sig.connect(lambda sender, **kw: log.append(kw), weak=False)
    gc.collect()
    sig.send("s", v=1)
    assert log == [{"v": 1}]


def test_weak_bound_method_of_temporary_is_gone():
    # contrast with the strong case: blinker's default weak=True drops it
    sig = FanoutSignal()
    log = []
    sig.connect(Collector(log, "weak").on)
    gc.collect()
    assert sig.send("s") == []
    assert log == []


def test_weak_receiver_works_while_alive_and_disappears_after_gc():
    sig = FanoutSignal()
    log = []
    strong_log = []
    collector = Collector(log, "weak")
    sig.connect(collector.on)  # weak by default
    sig.connect(make_receiver(strong_log, "strong"), weak=False)

    results = sig.send("s", v=1)
    assert log == [("weak", "s", {"v": 1})]
    assert [r for _, r in results] == ["weak", "result-strong"]
    sig.emit_data("s", {"v": 2}, None)
    assert len(log) == 2

    del collector, results  # results holds the bound method too
    gc.collect()
    log.clear()
    strong_log.clear()
    results = sig.send("s", v=3)
    assert log == []
    assert [r for _, r in results] == ["result-strong"]
    assert len(sig.receivers) == 1
    sig.emit_data("s", {"v": 4}, None)
    assert log == []
    assert len(strong_log) == 2


def test_weak_function_receiver_disappears_after_gc():
    sig = FanoutSignal()
    log = []

    def receiver(sender, **kwargs):
        log.append(kwargs)

    sig.connect(receiver)
    sig.send("s", v=1)
    assert log == [{"v": 1}]
    del receiver
    gc.collect()
    assert sig.send("s", v=2) == []
    assert log == [{"v": 1}]
    assert not sig.receivers


# -- emit_data and send ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["strong", "weak", "sender_specific"])
def test_emit_data_and_send_call_receivers_identically(mode):
    sig = FanoutSignal()
    log = []
    keep = []
    sender = Sender("s")
    for i in range(4):
        if mode == "weak" and i == 1:
            c = Collector(log, i)
            keep.append(c)
            sig.connect(c.on)
        elif mode == "sender_specific" and i == 2:
            sig.connect(make_receiver(log, i), sender=sender, weak=False)
        else:
            sig.connect(make_receiver(log, i), weak=False)
    data = {"a": 1}
    job_state = object()

    assert sig.emit_data(sender, data, job_state) is None
    via_emit = list(log)
    log.clear()
    sig.send(sender, data=data, job_state=job_state)
    via_send = list(log)

    assert via_emit == via_send
    assert len(via_emit) == 4
    for _, got_sender, kwargs in via_emit:
        assert got_sender is sender
        assert kwargs["data"] is data  # the same dict, not a copy
        assert kwargs["job_state"] is job_state


def test_send_returns_receiver_result_pairs_in_order():
    sig = FanoutSignal()
    log = []
    receivers = [make_receiver(log, i) for i in range(5)]
    for r in receivers:
        sig.connect(r, weak=False)
    results = sig.send("s", k="v")
    assert results == [(r, f"result-{i}") for i, r in enumerate(receivers)]
    assert all(pair[0] is r for pair, r in zip(results, receivers, strict=True))


def test_send_with_no_receivers_returns_empty_list():
    sig = FanoutSignal()
    assert sig.send("s") == []
    assert sig.send() == []
    sig.emit_data("s", {}, None)  # no error


def test_send_default_sender_is_none():
    sig = FanoutSignal()
    log = []
    sig.connect(make_receiver(log, "a"), weak=False)
    sig.send()
    assert log == [("a", None, {})]


def test_receiver_exception_propagates_and_stops_the_rest():
    sig = FanoutSignal()
    log = []

    def boom(sender, **kwargs):
        raise KeyError("boom")

    sig.connect(make_receiver(log, "first"), weak=False)
    sig.connect(boom, weak=False)
    sig.connect(make_receiver(log, "last"), weak=False)
    with pytest.raises(KeyError):
        sig.send("s")
    assert [t for t, _, _ in log] == ["first"]
    log.clear()
    with pytest.raises(KeyError):
        sig.emit_data("s", {}, None)
    assert [t for t, _, _ in log] == ["first"]


# -- cache invalidation -----------------------------------------------------------------


def test_connect_after_send_is_seen_by_next_send():
    sig = FanoutSignal()
    log = []
    a, b = make_receiver(log, "a"), make_receiver(log, "b")
    sig.connect(a, weak=False)
    sig.send("s")
    sig.connect(b, weak=False)
    sig.send("s")
    assert [t for t, _, _ in log] == ["a", "a", "b"]
    log.clear()
    sig.emit_data("s", {}, None)
    assert [t for t, _, _ in log] == ["a", "b"]


def test_connect_after_emit_data_is_seen_by_next_emit_data():
    sig = FanoutSignal()
    log = []
    sig.emit_data("s", {}, None)  # resolves the empty cache
    sig.connect(make_receiver(log, "a"), weak=False)
    sig.emit_data("s", {}, None)
    assert [t for t, _, _ in log] == ["a"]


def test_disconnect_after_send_is_seen_by_next_send():
    sig = FanoutSignal()
    log = []
    a, b, c = (make_receiver(log, t) for t in "abc")
    for r in (a, b, c):
        sig.connect(r, weak=False)
    sig.send("s")
    sig.disconnect(b)
    log.clear()
    results = sig.send("s")
    assert [t for t, _, _ in log] == ["a", "c"]
    assert [r for r, _ in results] == [a, c]
    log.clear()
    sig.emit_data("s", {}, None)
    assert [t for t, _, _ in log] == ["a", "c"]
    sig.disconnect(a)
    sig.disconnect(c)
    log.clear()
    assert sig.send("s") == []
    sig.emit_data("s", {}, None)
    assert log == []


def test_fast_path_restored_after_weak_receiver_dies():
    sig = FanoutSignal()
    log = []
    collector = Collector(log, "weak")
    sig.connect(collector.on)
    sig.connect(make_receiver(log, "strong"), weak=False)
    sig.send("s")
    del collector
    gc.collect()
    log.clear()
    sig.send("s")
    sig.connect(make_receiver(log, "late"), weak=False)
    sig.send("s")
    assert [t for t, _, _ in log] == ["strong", "strong", "late"]


# -- sender-specific receivers ----------------------------------------------------------


def test_sender_specific_receiver_only_gets_that_senders_sends():
    sig = FanoutSignal()
    log = []
    x, y = Sender("x"), Sender("y")
    only_x = make_receiver(log, "only_x")
    anyone = make_receiver(log, "any")
    sig.connect(anyone, weak=False)
    sig.connect(only_x, sender=x, weak=False)

    sig.send(y, n=1)
    assert log == [("any", y, {"n": 1})]
    log.clear()
    sig.send(x, n=2)
    assert sorted(t for t, _, _ in log) == ["any", "only_x"]
    assert all(s is x for _, s, _ in log)
    log.clear()
    sig.emit_data(y, {}, None)
    assert [t for t, _, _ in log] == ["any"]
    log.clear()
    sig.emit_data(x, {}, None)
    assert sorted(t for t, _, _ in log) == ["any", "only_x"]


def test_sender_specific_receiver_connected_after_a_send():
    sig = FanoutSignal()
    log = []
    x, y = Sender("x"), Sender("y")
    sig.connect(make_receiver(log, "any"), weak=False)
    sig.send(y)  # cache resolved with only ANY receivers
    sig.connect(make_receiver(log, "only_x"), sender=x, weak=False)
    log.clear()
    sig.send(y)
    assert [t for t, _, _ in log] == ["any"]
    log.clear()
    sig.emit_data(y, {}, None)
    assert [t for t, _, _ in log] == ["any"]


def test_full_disconnect_of_sender_specific_receiver():
    sig = FanoutSignal()
    log = []
    x, y = Sender("x"), Sender("y")
    only_x = make_receiver(log, "only_x")
    sig.connect(only_x, sender=x, weak=False)
    sig.disconnect(only_x)
    assert sig.send(x) == []
    assert sig.send(y) == []
    assert log == []


def test_disconnect_from_one_sender_stops_delivery():
    sig = FanoutSignal()
    log = []
    x, y = Sender("x"), Sender("y")
    only_x = make_receiver(log, "only_x")
    sig.connect(only_x, sender=x, weak=False)
    sig.send(x)
    assert len(log) == 1
    sig.disconnect(only_x, sender=x)
    sig.send(y)
    sig.send(x)
    assert len(log) == 1


def test_receiver_of_a_collected_sender_is_not_called_for_others():
    sig = FanoutSignal()
    log = []
    x, y = Sender("x"), Sender("y")
    sig.connect(make_receiver(log, "only_x"), sender=x, weak=False)
    del x
    gc.collect()
    sig.send(y)
    assert log == []


# -- muted ----------------------------------------------------------------------------


@pytest.mark.parametrize("weak_one", [False, True])
def test_muted_signal_calls_nobody(weak_one):
    sig = FanoutSignal()
    log = []
    sig.connect(make_receiver(log, "a"), weak=False)
    collector = Collector(log, "w")
    if weak_one:
        sig.connect(collector.on)
    sig.send("s")  # resolve the cache before muting
    log.clear()
    with sig.muted():
        assert sig.send("s", v=1) == []
        assert sig.emit_data("s", {"v": 1}, None) is None
    assert log == []
    sig.send("s")
    assert [t for t, _, _ in log] == (["a", "w"] if weak_one else ["a"])


# -- coroutine receivers ----------------------------------------------------------------


async def async_receiver(sender, **kwargs):
    return ("async", kwargs)


def test_coroutine_receiver_without_async_wrapper_raises():
    sig = FanoutSignal()
    sig.connect(async_receiver, weak=False)
    with pytest.raises(RuntimeError, match="coroutine"):
        sig.send("s")
    with pytest.raises(RuntimeError, match="coroutine"):
        sig.emit_data("s", {}, None)


def test_coroutine_receiver_after_cached_send_falls_back():
    sig = FanoutSignal()
    log = []
    sig.connect(make_receiver(log, "sync"), weak=False)
    sig.send("s")  # fast path cached
    sig.connect(async_receiver, weak=False)
    with pytest.raises(RuntimeError, match="coroutine"):
        sig.send("s")
    sig.disconnect(async_receiver)
    log.clear()
    assert [r for _, r in sig.send("s")] == ["result-sync"]
    assert len(log) == 1


def test_coroutine_receiver_with_async_wrapper_is_called():
    sig = FanoutSignal()
    log = []
    sync = make_receiver(log, "sync")
    sig.connect(sync, weak=False)
    sig.connect(async_receiver, weak=False)
    wrapped = []

    def wrapper(fn):
        wrapped.append(fn)

        def call(sender, **kwargs):
            return asyncio.run(fn(sender, **kwargs))

        return call

    results = sig.send("s", _async_wrapper=wrapper, v=1)
    assert wrapped == [async_receiver]
    assert results == [(sync, "result-sync"), (async_receiver, ("async", {"v": 1}))]


def test_async_wrapper_with_only_sync_receivers_still_calls_them():
    sig = FanoutSignal()
    log = []
    sync = make_receiver(log, "sync")
    sig.connect(sync, weak=False)

    def wrapper(fn):  # never used: nothing is async
        raise AssertionError("wrapper must not be called for sync receivers")

    assert sig.send("s", _async_wrapper=wrapper) == [(sync, "result-sync")]


# -- threads ----------------------------------------------------------------------------


@pytest.fixture
def fast_switching():
    # switch threads very often so that races have a chance to show up
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def test_concurrent_sends_from_8_threads_all_deliver_in_order(fast_switching):
    sig = FanoutSignal()
    n_threads, n_sends, n_receivers = 8, 400, 5
    per_thread = {t: [] for t in range(n_threads)}
    per_receiver = {r: [] for r in range(n_receivers)}

    def make(r):
        def receiver(sender, *, data, job_state):
            per_thread[data["t"]].append(r)
            per_receiver[r].append((data["t"], data["i"]))

        return receiver

    for r in range(n_receivers):
        sig.connect(make(r), weak=False)
    # no send yet: the threads race to resolve the cache
    barrier = threading.Barrier(n_threads)
    errors = []

    def worker(t):
        try:
            barrier.wait()
            for i in range(n_sends):
                if i % 2:
                    sig.emit_data("s", {"t": t, "i": i}, None)
                else:
                    results = sig.send("s", data={"t": t, "i": i}, job_state=None)
                    assert len(results) == n_receivers
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()

    assert errors == []
    expected_pairs = sorted((t, i) for t in range(n_threads) for i in range(n_sends))
    for r in range(n_receivers):
        assert sorted(per_receiver[r]) == expected_pairs
    for t in range(n_threads):
        # each thread's sends call all receivers, in connect order, one send at a time
        assert per_thread[t] == list(range(n_receivers)) * n_sends

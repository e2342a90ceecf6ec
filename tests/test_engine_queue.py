"""Tests for routilux._engine.queue."""

import pytest

from routilux._engine.queue import ENTRY, MERGED, ActivationQueue, pack, unpack


def _queue(pushed: int, popped: int) -> ActivationQueue:
    queue = ActivationQueue()
    for number in range(pushed):
        queue.push(number, {"n": number})
    for _ in range(popped):
        queue.pop()
    return queue


@pytest.mark.parametrize("since", [0, 3, 5, 7, 9, 10, 12])
def test_entries_since_a_seq_are_the_queued_ones_from_there(since: int) -> None:
    """Issue 9 (a checkpoint reads only the activations queued since the last one): the
    tail of a queue whose head was taken, by sequence number."""
    queue = _queue(10, 5)
    expected = [(n, {"n": n}, n) for n in range(max(since, 5), 10)]
    assert queue.entries(since) == expected
    assert queue.first_seq == 5


def test_entries_of_an_empty_queue() -> None:
    assert _queue(4, 4).entries(0) == []
    assert ActivationQueue().entries(0) == []


def test_pop_returns_the_kept_id_of_a_restored_activation() -> None:
    queue = ActivationQueue()
    queue.push(1, "a", "kept-id")
    queue.push(2, "b")
    assert queue.pop() == (1, "a", 0, "kept-id")
    assert queue.pop() == (2, "b", 1, None)


@pytest.mark.parametrize("attempt", [0, 1, 7])
@pytest.mark.parametrize("flags", [0, ENTRY, MERGED, ENTRY | MERGED])
def test_pack_and_unpack_round_trip(attempt: int, flags: int) -> None:
    assert unpack(pack(12345, attempt, flags)) == (12345, attempt, flags)

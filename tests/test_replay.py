"""flash_ws.protocol.replay: the bounded buffer of unacknowledged sequenced frames."""

from __future__ import annotations

import pytest

from flash_ws.protocol.replay import ReplayBuffer


def filled(count: int, max_bytes: int = 1000, size: int = 10) -> ReplayBuffer:
    """A buffer holding frames 1..count, frame n being ``size`` characters of the digit n % 10."""
    buffer = ReplayBuffer(max_bytes)
    for seq in range(1, count + 1):
        buffer.append(seq, str(seq % 10) * size)
    return buffer


def test_an_empty_buffer() -> None:
    buffer = ReplayBuffer(100)

    assert len(buffer) == 0
    assert buffer.bytes == 0
    assert buffer.last_seq == 0
    assert buffer.first_seq == 1
    assert list(buffer.after(0)) == []


def test_append_takes_the_next_seq_only() -> None:
    buffer = filled(2)

    with pytest.raises(ValueError, match="expected seq 3, got 5"):
        buffer.append(5, "x")
    with pytest.raises(ValueError, match="expected seq 3, got 2"):
        buffer.append(2, "x")
    assert (len(buffer), buffer.last_seq) == (2, 2)

    buffer.append(3, "x")
    assert buffer.last_seq == 3


def test_the_first_seq_must_be_one() -> None:
    with pytest.raises(ValueError):
        ReplayBuffer(100).append(0, "x")


def test_ack_drops_up_to_seq_and_frees_their_bytes() -> None:
    buffer = ReplayBuffer(1000)
    for seq, text in enumerate(["a", "bb", "ccc", "dddd"], start=1):
        buffer.append(seq, text)
    assert buffer.bytes == 10

    assert buffer.ack(2) == 2

    assert buffer.bytes == 7
    assert len(buffer) == 2
    assert buffer.first_seq == 3
    assert list(buffer.after(0)) == ["ccc", "dddd"]


def test_ack_is_idempotent_and_ignores_older_seqs() -> None:
    buffer = filled(5)
    buffer.ack(3)

    assert buffer.ack(3) == 0
    assert buffer.ack(1) == 0
    assert (len(buffer), buffer.first_seq) == (2, 4)


def test_ack_of_everything_empties_the_buffer_but_keeps_last_seq() -> None:
    buffer = filled(4)

    assert buffer.ack(99) == 4

    assert (len(buffer), buffer.bytes, buffer.last_seq, buffer.first_seq) == (0, 0, 4, 5)
    buffer.append(5, "x")  # numbering goes on
    assert list(buffer.after(4)) == ["x"]


@pytest.mark.parametrize("seq, expected", [(0, [1, 2, 3, 4, 5]), (2, [3, 4, 5]), (4, [5]), (5, []), (9, [])])
def test_after_yields_the_frames_above_seq_in_order(seq: int, expected: list[int]) -> None:
    buffer = filled(5, size=1)

    assert list(buffer.after(seq)) == [str(n) for n in expected]


def test_after_counts_from_the_first_held_frame_once_some_are_acked() -> None:
    buffer = filled(6, size=1)
    buffer.ack(3)

    assert list(buffer.after(3)) == ["4", "5", "6"]
    assert list(buffer.after(4)) == ["5", "6"]


def test_has_room_flips_at_max_bytes_and_back_on_ack() -> None:
    buffer = ReplayBuffer(30)
    buffer.append(1, "x" * 10)
    buffer.append(2, "x" * 19)
    assert buffer.bytes == 29
    assert buffer.has_room()

    buffer.append(3, "x")
    assert buffer.bytes == 30
    assert not buffer.has_room()

    buffer.append(4, "x" * 50)  # appends are never refused: a run can always end
    assert buffer.bytes == 80

    buffer.ack(3)
    assert not buffer.has_room()
    buffer.ack(4)
    assert buffer.has_room()


def test_can_replay_from_bounds() -> None:
    buffer = filled(6)
    buffer.ack(2)  # holds 3..6

    assert not buffer.can_replay_from(0)
    assert not buffer.can_replay_from(1)  # frame 2 is gone
    assert buffer.can_replay_from(2)
    assert buffer.can_replay_from(4)
    assert buffer.can_replay_from(6)  # nothing missing
    assert not buffer.can_replay_from(7)  # a seq never issued


def test_can_replay_from_on_an_empty_buffer() -> None:
    fresh = ReplayBuffer(10)
    assert fresh.can_replay_from(0)
    assert not fresh.can_replay_from(1)

    drained = filled(3)
    drained.ack(3)
    assert drained.can_replay_from(3)
    assert not drained.can_replay_from(2)
    assert not drained.can_replay_from(4)

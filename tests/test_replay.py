"""flash_ws.protocol.replay: the bounded buffer of unacknowledged sequenced frames."""

from __future__ import annotations

import pytest

from flash_ws.protocol.errors import StateError
from flash_ws.protocol.replay import ByteBudget, ReplayBuffer


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

    with pytest.raises(StateError, match="expected seq 3, got 5"):
        buffer.append(5, "x")
    with pytest.raises(StateError, match="expected seq 3, got 2"):
        buffer.append(2, "x")
    assert (len(buffer), buffer.last_seq) == (2, 2)

    buffer.append(3, "x")
    assert buffer.last_seq == 3


def test_the_first_seq_must_be_one() -> None:
    with pytest.raises(StateError):
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
    assert list(buffer.after(0)) == [(3, "ccc"), (4, "dddd")]


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
    assert [text for _seq, text in buffer.after(4)] == ["x"]


@pytest.mark.parametrize("seq, expected", [(0, [1, 2, 3, 4, 5]), (2, [3, 4, 5]), (4, [5]), (5, []), (9, [])])
def test_after_yields_the_frames_above_seq_in_order(seq: int, expected: list[int]) -> None:
    buffer = filled(5, size=1)

    assert list(buffer.after(seq)) == [(n, str(n)) for n in expected]


def test_after_counts_from_the_first_held_frame_once_some_are_acked() -> None:
    buffer = filled(6, size=1)
    buffer.ack(3)

    assert [text for _seq, text in buffer.after(3)] == ["4", "5", "6"]
    assert [text for _seq, text in buffer.after(4)] == ["5", "6"]


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


# ----- the process-wide byte budget


def test_a_byte_budget_counts_what_is_taken_and_given_back() -> None:
    budget = ByteBudget(100)

    budget.take(60)
    assert budget.has_room() and budget.used == 60
    budget.take(40)
    assert not budget.has_room()
    budget.give_back(1)
    assert budget.has_room() and budget.used == 99
    with pytest.raises(StateError, match="giving back 100 bytes, but only 99 are taken"):
        budget.give_back(100)
    with pytest.raises(ValueError, match="must be positive, got 0"):
        ByteBudget(0)


def test_a_buffer_under_its_fair_share_has_room_whatever_the_others_hold() -> None:
    """Issue 24, item 3: the budget is shared fairly, not first come."""
    budget = ByteBudget(50)
    a, b = ReplayBuffer(1000, budget), ReplayBuffer(1000, budget)
    a.append(1, "x" * 30)
    b.append(1, "y" * 19)
    assert budget.used == 49 and budget.holders == 2 and a.has_room() and b.has_room()

    b.append(2, "y")
    assert budget.used == 50 and budget.fair_share() == 25  # one group (every page behind one proxy): half each
    assert not a.has_room()  # past its fair share of a spent budget: it waits (far below its own 1000 bytes)
    assert b.has_room()  # under its share: what the other holds never holds it back

    c = ReplayBuffer(1000, budget)
    assert c.has_room()  # an empty buffer always has room for one frame
    c.append(1, "z" * 10)
    assert budget.fair_share() == 16 and c.has_room() and not b.has_room()
    c.append(2, "z" * 10)
    assert not c.has_room()  # 20 bytes: past its share too, and the budget is spent

    a.ack(1)  # acknowledged bytes go back to the budget; an empty buffer no longer shares it
    assert (budget.used, budget.holders) == (40, 2) and b.has_room() and c.has_room()


def test_past_their_fair_shares_the_buffers_of_one_address_hold_at_most_its_cap() -> None:
    budget = ByteBudget(1200, max_group_bytes=500)
    first, second = ReplayBuffer(10_000, budget, "10.0.0.1"), ReplayBuffer(10_000, budget, "10.0.0.1")
    first.append(1, "x" * 200)
    second.append(1, "x" * 100)
    assert budget.group_bytes("10.0.0.1") == 300 and budget.fair_share("10.0.0.1") == 600

    first.append(2, "x" * 400)  # 600 bytes: its share, its address past the cap, the process not spent
    assert budget.used == 700 and not first.has_room()
    assert second.has_room()  # under its share: the cap never holds it (behind a proxy, every page's case)
    second.close()
    assert budget.group_bytes("10.0.0.1") == 600 and budget.holders == 1


def test_the_pages_of_one_address_share_its_part_of_the_budget() -> None:
    """34 pages of one client against another browser's page (the issue's attack), in small: the
    budget is split between the addresses holding output, then between each address's pages."""
    budget = ByteBudget(1000)
    many = [ReplayBuffer(10_000, budget, "10.0.0.1") for _ in range(10)]
    for buffer in many:
        buffer.append(1, "x" * 100)
    lone = ReplayBuffer(10_000, budget, "10.0.0.2")
    lone.append(1, "y" * 10)
    assert budget.used == 1010 and (budget.fair_share("10.0.0.1"), budget.fair_share("10.0.0.2")) == (50, 500)
    assert not any(buffer.has_room() for buffer in many) and lone.has_room()
    lone.append(2, "y" * 480)
    assert lone.has_room()  # 490 bytes, under its share, though the process is past its budget
    lone.append(3, "y" * 20)
    assert not lone.has_room()


def test_shares_never_take_the_process_past_twice_its_budget() -> None:
    budget = ByteBudget(100)
    hog, late = ReplayBuffer(1000, budget, "a"), ReplayBuffer(1000, budget, "b")
    hog.append(1, "x" * 150)
    late.append(1, "y" * 50)
    newcomer = ReplayBuffer(1000, budget, "c")
    newcomer.append(1, "z")
    assert budget.used == 201 and budget.fair_share("c") == 33
    assert not newcomer.has_room()  # under its share, but the process holds twice its budget
    hog.ack(1)
    assert newcomer.has_room()


def test_closing_a_buffer_gives_its_bytes_back_and_later_appends_stay_off_the_budget() -> None:
    budget = ByteBudget(100)
    buffer = ReplayBuffer(1000, budget)
    for seq in range(1, 4):
        buffer.append(seq, "x" * 20)
    assert budget.used == 60

    buffer.close()

    assert budget.used == 0 and (len(buffer), buffer.bytes, buffer.last_seq) == (0, 0, 3)
    buffer.append(4, "x" * 20)  # a run's end arriving after the session closed
    buffer.ack(4)
    assert budget.used == 0
    buffer.close()  # closing twice is harmless
    assert budget.used == 0


def test_a_jump_holds_the_void_frame_and_after_finds_frames_by_number_around_it() -> None:
    buffer = filled(3, size=1)
    buffer.append(1030, "v", jump=True)
    buffer.append(1031, "e")

    assert list(buffer.after(2)) == [(3, "3"), (1030, "v"), (1031, "e")]
    assert list(buffer.after(500)) == [(1030, "v"), (1031, "e")]  # a page that applied frames inside the void
    assert buffer.can_replay_from(500) and not buffer.can_replay_from(1032)
    buffer.ack(3)
    assert list(buffer.after(1030)) == [(1031, "e")]


def test_only_a_jump_may_skip_numbers() -> None:
    buffer = filled(3, size=1)

    with pytest.raises(StateError):
        buffer.append(9, "x")
    with pytest.raises(StateError):
        buffer.append(3, "x", jump=True)

"""flash_ws.protocol.client_session: feed server messages, assert on effects and replies."""

from __future__ import annotations

from typing import Any

import pytest

from flash_ws.protocol import Apply, ErrorInfo, Gap, Hello, RunEnded, ServerError, SessionLost, encode_message
from flash_ws.protocol.client_session import ClientSession
from flash_ws.protocol.frames import Ack, Cancel, End, Error, Frame, Ping, Pong, Start, Update, Welcome


def msg(*frames: Frame) -> str:
    return encode_message(frames)


def update(seq: int, run: int, k: int = 0) -> Update:
    return Update(seq, run, [["out", {"k": k}]])


def welcomed(**options: Any) -> ClientSession:
    """A client that has received the welcome of a new session 'tok'."""
    client = ClientSession(**options)
    effects, replies = client.receive_message(msg(Welcome("tok", "ep", False, 0)), 0.0)
    assert (effects, replies) == ([], [])
    assert client.session == "tok"
    return client


def applied(effects: list) -> list[tuple[int, int]]:
    return [(e.run, pair[1]["k"]) for e in effects if isinstance(e, Apply) for pair in e.props]


# ----- runs


def test_runs_are_numbered_upwards_from_1() -> None:
    client = welcomed()

    starts = [client.start(cb, [i])[0] for i, cb in enumerate(["a", "b", "c"])]

    assert starts == [Start(1, "a", [0]), Start(2, "b", [1]), Start(3, "c", [2])]
    assert client.runs == {1: "a", 2: "b", 3: "c"}


def test_starting_a_callback_again_replaces_its_run() -> None:
    client = welcomed()
    client.start("a", [])
    client.start("b", [])

    frame, replaced = client.start("a", ["again"])

    assert frame == Start(3, "a", ["again"])
    assert replaced == 1
    assert client.runs == {2: "b", 3: "a"}


def test_cancel_of_an_active_run_gives_a_cancel_frame_once() -> None:
    client = welcomed()
    client.start("a", [])

    assert client.cancel(1) == Cancel(1)
    assert client.cancel(1) is None
    assert client.cancel(99) is None
    assert client.runs == {}


def test_hello_names_the_session_and_the_last_applied_seq() -> None:
    client = ClientSession()
    assert client.hello() == Hello(None, 0)

    client = welcomed()
    client.start("a", [])
    client.receive_message(msg(update(1, 1), update(2, 1)), 0.0)

    assert client.hello() == Hello("tok", 2)


# ----- sequenced frames


def test_updates_of_an_active_run_are_applied_in_order() -> None:
    client = welcomed()
    client.start("a", [])

    effects, _ = client.receive_message(msg(update(1, 1, 0), update(2, 1, 1)), 0.0)

    assert applied(effects) == [(1, 0), (1, 1)]
    assert client.applied_seq == 2


def test_updates_of_one_run_that_follow_one_another_come_as_one_apply() -> None:
    client = welcomed()
    client.start("a", [])
    client.start("b", [])

    effects, _ = client.receive_message(msg(update(1, 1, 0), update(2, 1, 1), update(3, 2, 0), update(4, 1, 2)), 0.0)

    assert effects == [Apply(1, [["out", {"k": 0}], ["out", {"k": 1}]]), Apply(2, [["out", {"k": 0}]]),
                       Apply(1, [["out", {"k": 2}]])]


def test_duplicates_are_dropped() -> None:
    client = welcomed()
    client.start("a", [])
    client.receive_message(msg(update(1, 1, 0), update(2, 1, 1)), 0.0)

    effects, _ = client.receive_message(msg(update(1, 1, 0), update(2, 1, 1), update(3, 1, 2)), 0.0)
    again, _ = client.receive_message(msg(update(3, 1, 2)), 0.0)

    assert applied(effects) == [(1, 2)]
    assert again == []
    assert client.applied_seq == 3


def test_a_duplicate_end_ends_nothing_twice() -> None:
    client = welcomed()
    client.start("a", [])

    first, _ = client.receive_message(msg(End(1, 1, "done")), 0.0)
    second, _ = client.receive_message(msg(End(1, 1, "done")), 0.0)

    assert [type(e) for e in first] == [RunEnded]
    assert second == []


def test_a_gap_is_reported_and_nothing_after_it_is_applied() -> None:
    client = welcomed()
    client.start("a", [])
    client.receive_message(msg(update(1, 1, 0)), 0.0)

    effects, _ = client.receive_message(msg(update(3, 1, 2), update(4, 1, 3)), 0.0)

    assert effects == [Gap(expected=2, got=3)]
    assert client.applied_seq == 1
    assert client.hello() == Hello("tok", 1)


def test_frames_before_a_gap_in_the_same_message_are_applied() -> None:
    client = welcomed()
    client.start("a", [])

    effects, _ = client.receive_message(msg(update(1, 1, 0), update(2, 1, 1), update(5, 1, 4), update(6, 1, 5)), 0.0)

    assert applied(effects) == [(1, 0), (1, 1)]
    assert [e for e in effects if isinstance(e, Gap)] == [Gap(3, 5)]
    assert client.applied_seq == 2


def test_updates_of_a_locally_cancelled_run_are_dropped_but_advance_seq() -> None:
    client = welcomed()
    client.start("a", [])
    client.start("b", [])
    client.cancel(1)

    effects, _ = client.receive_message(msg(update(1, 1, 0), update(2, 2, 0), update(3, 1, 1)), 0.0)

    assert applied(effects) == [(2, 0)]
    assert client.applied_seq == 3


def test_the_end_of_a_locally_cancelled_run_asks_for_no_second_reset() -> None:
    client = welcomed()
    client.start("a", [])
    client.cancel(1)

    effects, _ = client.receive_message(msg(End(1, 1, "cancelled")), 0.0)

    assert not any(isinstance(e, RunEnded) and e.reset for e in effects)
    assert client.applied_seq == 1
    assert client.runs == {}


def test_updates_of_a_locally_replaced_run_are_dropped_but_advance_seq() -> None:
    client = welcomed()
    client.start("a", [])
    client.start("a", [])  # run 2 replaces run 1

    effects, _ = client.receive_message(msg(update(1, 1, 0), End(2, 1, "replaced"), update(3, 2, 0)), 0.0)

    assert applied(effects) == [(2, 0)]
    assert not any(isinstance(e, RunEnded) and e.reset for e in effects)
    assert client.applied_seq == 3
    assert client.runs == {2: "a"}


@pytest.mark.parametrize(
    "reason, reset",
    [("done", False), ("replaced", False), ("cancelled", True), ("error", True), ("refused", True)],
)
def test_run_ended_says_whether_to_reset(reason: str, reset: bool) -> None:
    client = welcomed()
    client.start("a", [])
    error = ErrorInfo("callback_error", "ValueError: x") if reason in ("error", "refused") else None

    effects, _ = client.receive_message(msg(End(1, 1, reason, error)), 0.0)  # type: ignore[arg-type]

    assert effects == [RunEnded(1, "a", reason, error, reset)]
    assert client.runs == {}


def test_updates_after_the_end_of_a_run_are_not_applied() -> None:
    client = welcomed()
    client.start("a", [])

    effects, _ = client.receive_message(msg(End(1, 1, "done"), update(2, 1, 9)), 0.0)

    assert applied(effects) == []
    assert client.applied_seq == 2


def test_the_end_of_an_unknown_run_has_no_effect() -> None:
    client = welcomed()

    effects, _ = client.receive_message(msg(End(1, 42, "error", ErrorInfo("x", "y"))), 0.0)

    assert effects == []
    assert client.applied_seq == 1


# ----- control frames


def test_an_error_frame_is_reported() -> None:
    client = welcomed()

    effects, _ = client.receive_message(msg(Error("unknown_run", "cancel names run 9", run=9)), 0.0)

    assert effects == [ServerError("unknown_run", "cancel names run 9")]


def test_a_server_ping_is_answered() -> None:
    client = welcomed()

    effects, replies = client.receive_message(msg(Ping(11)), 0.0)

    assert (effects, replies) == ([], [Pong(11)])


# ----- acks


def test_ack_is_due_by_time_from_the_first_unacknowledged_frame() -> None:
    client = welcomed(ack_every=64, ack_interval=0.25)  # binary-exact times: no float rounding at the boundary
    client.start("a", [])

    assert client.ack_deadline() is None
    _, replies = client.receive_message(msg(update(1, 1)), 10.0)
    assert replies == []
    _, replies = client.receive_message(msg(update(2, 1)), 10.125)  # does not restart the clock
    assert replies == []

    assert client.ack_deadline() == 10.25
    assert client.ack_due(10.24) is None
    assert client.ack_due(10.25) == Ack(2)
    assert client.ack_due(10.5) is None
    assert client.ack_deadline() is None


def test_frames_of_locally_ended_runs_are_acknowledged_too() -> None:
    client = welcomed(ack_every=2, ack_interval=1000.0)
    client.start("a", [])
    client.cancel(1)

    _, replies = client.receive_message(msg(update(1, 1), End(2, 1, "cancelled")), 0.0)

    assert replies == [Ack(2)]


# ----- welcome


def test_resumed_welcome_keeps_runs_and_seq() -> None:
    client = welcomed()
    client.start("a", [])
    client.receive_message(msg(update(1, 1)), 0.0)

    effects, _ = client.receive_message(msg(Welcome("tok", "ep", True, 1, 1)), 0.0)

    assert not any(isinstance(e, SessionLost) for e in effects)
    assert client.runs == {1: "a"}
    assert client.applied_seq == 1


def test_first_welcome_loses_nothing_even_with_runs_started_before_it() -> None:
    client = ClientSession()
    client.start("a", [])

    effects, _ = client.receive_message(msg(Welcome("tok", "ep", False, 0)), 0.0)

    assert effects == []
    assert client.runs == {1: "a"}


def test_welcome_not_resumed_after_a_session_existed_loses_the_open_runs() -> None:
    client = welcomed()
    client.start("a", [])
    client.start("b", [])
    client.start("c", [])
    client.cancel(3)
    client.receive_message(msg(update(1, 1), update(2, 2), End(3, 2, "done")), 0.0)

    effects, _ = client.receive_message(msg(Welcome("tok2", "ep2", False, 0)), 0.0)

    assert effects == [SessionLost({1: "a"}), RunEnded(3, "c", "cancelled", None, False)]  # 3 was cancelled here
    assert client.runs == {}
    assert client.cancelling == {}
    assert (client.session, client.epoch) == ("tok2", "ep2")
    assert client.applied_seq == 0
    assert client.hello() == Hello("tok2", 0)


def test_after_a_lost_session_the_new_one_counts_from_seq_1() -> None:
    client = welcomed()
    client.start("a", [])
    client.receive_message(msg(update(1, 1), update(2, 1), update(3, 1)), 0.0)
    client.receive_message(msg(Welcome("tok2", "ep2", False, 0)), 0.0)
    client.start("a", [])  # run 2 in the new session

    effects, _ = client.receive_message(msg(update(1, 2, 7)), 0.0)

    assert applied(effects) == [(2, 7)]
    assert client.applied_seq == 1


def test_welcome_not_resumed_without_open_runs_reports_nothing() -> None:
    client = welcomed()
    client.start("a", [])
    client.receive_message(msg(End(1, 1, "done")), 0.0)

    effects, _ = client.receive_message(msg(Welcome("tok2", "ep2", False, 0)), 0.0)

    assert effects == []
    assert client.applied_seq == 0


# ----- what a new connection sends again (flash_ws/client.py resends from this state)


def test_welcome_tells_the_highest_run_the_server_received() -> None:
    client = welcomed()
    assert client.server_run == 0

    client.receive_message(msg(Welcome("tok", "ep", True, 0, run=7)), 0.0)

    assert client.server_run == 7


def test_active_runs_keep_their_args_until_they_end() -> None:
    client = welcomed()
    client.start("a", [1, "x"])
    client.start("b", [2])

    client.receive_message(msg(End(1, 1, "done")), 0.0)

    assert client.args == {2: [2]}


def test_a_cancelled_run_awaits_its_end() -> None:
    client = welcomed()
    client.start("a", [])
    client.cancel(1)
    assert client.cancelling == {1: "a"}

    effects, _ = client.receive_message(msg(End(1, 1, "cancelled")), 0.0)

    assert effects == [RunEnded(1, "a", "cancelled", None, False)]
    assert client.cancelling == {}


def test_a_replaced_run_awaits_its_end_too() -> None:
    client = welcomed()
    client.start("a", [])
    client.start("a", [])

    assert client.cancelling == {1: "a"}  # if the new start is lost, the old run must still be stopped
    effects, _ = client.receive_message(msg(End(1, 1, "replaced")), 0.0)

    assert effects == [RunEnded(1, "a", "replaced", None, False)]
    assert client.cancelling == {}


def test_resume_forgets_runs_cancelled_before_the_server_received_their_start() -> None:
    client = welcomed()
    client.start("a", [])  # run 1: the server got it
    client.start("b", [])  # run 2: lost with the connection
    client.start("c", [])  # run 3: lost with the connection
    client.cancel(1)
    client.cancel(2)

    effects, _ = client.receive_message(msg(Welcome("tok", "ep", True, 0, run=1)), 0.0)

    assert effects == [RunEnded(2, "b", "cancelled", None, False)]  # no end will ever come for it
    assert client.cancelling == {1: "a"}  # its cancel is sent again
    assert client.runs == {3: "c"}  # its start is sent again (3 > server_run)
    assert client.server_run == 1

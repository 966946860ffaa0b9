"""flash_ws.protocol.server_session: feed client messages, assert on commands and output frames."""

from __future__ import annotations

from typing import Any

import pytest

from flash_ws.protocol import (
    CancelRun,
    ErrorInfo,
    Hello,
    Limits,
    Misbehaved,
    PageLeft,
    Refused,
    ServerSession,
    StartRun,
    decode_message,
    encode_message,
    join_frames,
)
from flash_ws.protocol.frames import Ack, Bye, Cancel, End, Error, Frame, Ping, Pong, Start, Update, Void, Welcome


def new_session(callbacks: tuple[str, ...] = ("a", "b", "c"), **limits: Any) -> ServerSession:
    """A session bound to its first connection, its welcome already taken."""
    session = ServerSession("tok", "ep", frozenset(callbacks), Limits(**limits))
    session.attach(Hello())
    welcome = decode_message(session.take_output(), "server")
    assert len(welcome) == 1 and isinstance(welcome[0], Welcome) and not welcome[0].resumed
    return session


def send(session: ServerSession, *frames: Frame) -> list:
    return session.receive_message(encode_message(frames))


def messages(session: ServerSession) -> list[list[Frame]]:
    """Every message the session has to send now, decoded."""
    out = []
    while session.has_output():
        text = session.take_output()
        assert text is not None
        out.append(decode_message(text, "server"))
    assert session.take_output() is None
    return out


def frames(session: ServerSession) -> list[Frame]:
    return [frame for message in messages(session) for frame in message]


def props(k: int) -> str:
    return f'[["out",{{"k":{k}}}]]'


# ----- start


def test_start_of_a_known_callback_gives_a_start_run_command() -> None:
    session = new_session()

    commands = send(session, Start(1, "a", [3, "x"]))

    assert commands == [StartRun(1, "a", [3, "x"])]
    assert session.is_active(1)
    assert session.callback_of(1) == "a"
    assert frames(session) == []  # a start is answered by the run's frames, not by an ack


def test_updates_and_end_of_a_run_are_sequenced_from_1() -> None:
    session = new_session()
    send(session, Start(1, "a", []))

    assert session.emit_update(1, props(0))
    assert session.emit_update(1, props(1))
    assert session.end_run(1, "done")

    assert frames(session) == [
        Update(1, 1, [["out", {"k": 0}]]),
        Update(2, 1, [["out", {"k": 1}]]),
        End(3, 1, "done"),
    ]
    assert not session.is_active(1)
    assert not session.end_run(1, "done")
    assert not session.emit_update(1, props(2))
    assert frames(session) == []


def test_end_run_with_an_error_carries_it() -> None:
    session = new_session()
    send(session, Start(1, "a", []))

    session.end_run(1, "error", ErrorInfo("callback_error", "ValueError: boom"))

    assert frames(session) == [End(1, 1, "error", ErrorInfo("callback_error", "ValueError: boom"))]


def test_start_of_an_unknown_callback_is_refused_with_an_end_frame() -> None:
    session = new_session()

    commands = send(session, Start(1, "nope", []))

    assert len(commands) == 1 and isinstance(commands[0], Refused)
    assert (commands[0].code, commands[0].run, commands[0].cb) == ("unknown_callback", 1, "nope")
    (end,) = frames(session)
    assert isinstance(end, End)
    assert (end.seq, end.run, end.reason) == (1, 1, "refused")
    assert end.error is not None and end.error.code == "unknown_callback"
    assert "'nope'" in end.error.message
    assert not session.is_active(1)


@pytest.mark.parametrize("second", [1, 0])
def test_a_run_id_not_above_the_highest_is_refused_as_a_bad_frame(second: int) -> None:
    session = new_session()
    send(session, Start(1, "a", []))

    commands = send(session, Start(second, "b", []))

    assert len(commands) == 1 and isinstance(commands[0], Refused)
    assert (commands[0].code, commands[0].run, commands[0].cb) == ("bad_frame", second, "b")
    (error,) = frames(session)
    assert isinstance(error, Error)
    assert (error.code, error.run, error.cb) == ("bad_frame", second, "b")
    assert f"run {second}" in error.message and "reuses a run id" in error.message
    assert session.active_runs() == [1]
    assert session.callback_of(1) == "a"


def test_run_zero_is_refused_even_first() -> None:
    session = new_session()

    commands = send(session, Start(0, "a", []))

    assert [c.code for c in commands] == ["bad_frame"]
    assert session.active_runs() == []


def test_a_refused_run_id_is_used_up() -> None:
    session = new_session()
    send(session, Start(5, "nope", []))
    frames(session)

    assert [type(c) for c in send(session, Start(5, "a", []))] == [Refused]
    assert send(session, Start(6, "a", [])) == [StartRun(6, "a", [])]


def test_a_new_start_of_the_same_callback_replaces_the_running_one() -> None:
    session = new_session()
    send(session, Start(1, "a", ["old"]))
    session.emit_update(1, props(0))

    commands = send(session, Start(2, "a", ["new"]))

    assert commands == [CancelRun(1, "replaced"), StartRun(2, "a", ["new"])]
    assert not session.emit_update(1, props(1))
    assert session.emit_update(2, props(0))
    assert session.active_runs() == [2]
    assert frames(session) == [
        Update(1, 1, [["out", {"k": 0}]]),
        End(2, 1, "replaced"),
        Update(3, 2, [["out", {"k": 0}]]),
    ]


def test_a_start_of_another_callback_replaces_nothing() -> None:
    session = new_session()
    send(session, Start(1, "a", []))

    assert send(session, Start(2, "b", [])) == [StartRun(2, "b", [])]
    assert sorted(session.active_runs()) == [1, 2]


def test_too_many_runs_are_refused_naming_the_callback() -> None:
    session = new_session(max_active_runs=2)
    send(session, Start(1, "a", []), Start(2, "b", []))

    commands = send(session, Start(3, "c", []))

    assert len(commands) == 1 and isinstance(commands[0], Refused)
    assert (commands[0].code, commands[0].run, commands[0].cb) == ("too_many_runs", 3, "c")
    (end,) = frames(session)
    assert isinstance(end, End) and (end.run, end.reason) == (3, "refused")
    assert end.error is not None and end.error.code == "too_many_runs"
    assert "'c'" in end.error.message and "2" in end.error.message
    assert sorted(session.active_runs()) == [1, 2]


def test_a_run_ending_frees_a_slot_and_replacing_needs_none() -> None:
    session = new_session(max_active_runs=2)
    send(session, Start(1, "a", []), Start(2, "b", []))

    assert send(session, Start(3, "a", [])) == [CancelRun(1, "replaced"), StartRun(3, "a", [])]
    session.end_run(2, "done")
    assert send(session, Start(4, "c", [])) == [StartRun(4, "c", [])]


# ----- cancel


def test_cancel_stops_the_run_and_ends_it_cancelled() -> None:
    session = new_session()
    send(session, Start(1, "a", []))
    session.emit_update(1, props(0))

    commands = send(session, Cancel(1))

    assert commands == [CancelRun(1, "cancelled")]
    assert not session.is_active(1)
    assert not session.emit_update(1, props(1))
    assert not session.end_run(1, "done")
    assert frames(session) == [Update(1, 1, [["out", {"k": 0}]]), End(2, 1, "cancelled")]


def test_cancel_of_a_run_never_started_is_an_unknown_run_error() -> None:
    session = new_session()
    send(session, Start(1, "a", []))

    commands = send(session, Cancel(9))

    assert len(commands) == 1 and isinstance(commands[0], Refused)
    assert (commands[0].code, commands[0].run) == ("unknown_run", 9)
    (error,) = frames(session)
    assert isinstance(error, Error) and (error.code, error.run) == ("unknown_run", 9)
    assert "9" in error.message
    assert session.is_active(1)


def test_cancel_of_an_ended_run_is_ignored_silently() -> None:
    session = new_session()
    send(session, Start(1, "a", []))
    session.end_run(1, "done")
    frames(session)

    assert send(session, Cancel(1)) == []
    assert not session.has_output()


def test_cancel_of_a_refused_run_is_ignored_silently() -> None:
    session = new_session()
    send(session, Start(1, "nope", []))
    frames(session)

    assert send(session, Cancel(1)) == []
    assert not session.has_output()


# ----- malformed input, control frames


def test_a_malformed_message_gets_a_bad_frame_error_and_the_session_goes_on() -> None:
    session = new_session()

    commands = session.receive_message('[{"t":"start","run":"1","cb":"a","args":[]}]')

    assert len(commands) == 1 and isinstance(commands[0], Refused) and commands[0].code == "bad_frame"
    (error,) = frames(session)
    assert isinstance(error, Error) and error.code == "bad_frame"
    assert "'run'" in error.message
    assert send(session, Start(1, "a", [])) == [StartRun(1, "a", [])]


@pytest.mark.parametrize("text", ["not json", "{}", "[1]", '[{"t":"nope"}]', b"\xff"])
def test_garbage_never_raises(text: Any) -> None:
    session = new_session()

    commands = session.receive_message(text)

    assert [c.code for c in commands] == ["bad_frame"]
    assert [f.code for f in frames(session)] == ["bad_frame"]  # type: ignore[union-attr]


def test_a_message_over_the_limit_gets_a_too_large_error() -> None:
    session = new_session(max_message_bytes=100)

    commands = send(session, Start(1, "a", ["x" * 100]))

    assert [c.code for c in commands] == ["too_large"]
    (error,) = frames(session)
    assert isinstance(error, Error) and error.code == "too_large"
    assert session.active_runs() == []


def test_a_bad_frame_refuses_the_whole_message() -> None:
    session = new_session()

    session.receive_message('[{"t":"start","run":1,"cb":"a","args":[]},{"t":"cancel"}]')

    assert session.active_runs() == []


def test_ping_is_answered_by_pong() -> None:
    session = new_session()

    assert send(session, Ping(7)) == []
    assert frames(session) == [Pong(7)]


def test_pong_is_accepted_silently() -> None:
    session = new_session()

    assert send(session, Pong(3)) == []
    assert not session.has_output()


def test_server_ping_is_queued_as_a_control_frame() -> None:
    session = new_session()

    session.ping(4)

    assert frames(session) == [Ping(4)]


def test_bye_says_the_page_left() -> None:
    session = new_session()
    send(session, Start(1, "a", []))

    assert send(session, Bye()) == [PageLeft()]


def test_hello_after_the_first_frame_is_a_bad_frame() -> None:
    session = new_session()

    commands = send(session, Hello("tok", 0))

    assert [c.code for c in commands] == ["bad_frame"]
    (error,) = frames(session)
    assert isinstance(error, Error) and "'hello'" in error.message


def test_frames_of_one_message_are_processed_in_order() -> None:
    session = new_session()

    commands = send(session, Start(1, "a", []), Cancel(1), Start(2, "a", []))

    assert commands == [StartRun(1, "a", []), CancelRun(1, "cancelled"), StartRun(2, "a", [])]
    assert frames(session) == [End(1, 1, "cancelled")]


# ----- acks and output


def test_ack_trims_the_replay_buffer() -> None:
    session = new_session()
    send(session, Start(1, "a", []))
    for k in range(5):
        session.emit_update(1, props(k))
    frames(session)

    send(session, Ack(3))

    assert len(session.replay) == 2
    assert session.replay.first_seq == 4


def test_ack_never_trims_beyond_what_was_sent() -> None:
    session = new_session()
    send(session, Start(1, "a", []))
    for k in range(3):
        session.emit_update(1, props(k))
    frames(session)  # 1..3 sent
    for k in range(3, 6):
        session.emit_update(1, props(k))  # 4..6 not sent yet

    send(session, Ack(100))

    assert session.replay.first_seq == 4
    assert [f.seq for f in frames(session)] == [4, 5, 6]  # type: ignore[union-attr]


def test_control_and_sequenced_frames_travel_in_one_message() -> None:
    session = new_session()
    send(session, Start(1, "a", []))
    session.emit_update(1, props(0))
    send(session, Ping(1))
    session.end_run(1, "done")

    assert messages(session) == [[Pong(1), Update(1, 1, [["out", {"k": 0}]]), End(2, 1, "done")]]


def test_output_is_cut_near_the_limit_and_continued_on_the_next_call() -> None:
    session = new_session(max_output_message_bytes=120)
    send(session, Start(1, "a", []))
    for k in range(20):
        session.emit_update(1, props(k))
    frame_size = len('{"t":"update","seq":10,"run":1,"props":[["out",{"k":10}]]}')

    texts = []
    while session.has_output():
        texts.append(session.take_output())

    assert len(texts) > 3
    assert all(len(text) <= 120 + frame_size for text in texts)  # type: ignore[arg-type]
    decoded = [decode_message(text, "server") for text in texts]  # type: ignore[arg-type]
    assert all(1 <= len(message) <= 120 // (frame_size - 2) + 1 for message in decoded)
    assert [f.props[0][1]["k"] for m in decoded for f in m] == list(range(20))  # type: ignore[union-attr]
    assert [f.seq for m in decoded for f in m] == list(range(1, 21))  # type: ignore[union-attr]
    assert session.sent_seq == 20


def test_a_frame_larger_than_the_output_limit_still_goes_alone() -> None:
    session = new_session(max_output_message_bytes=10)
    send(session, Start(1, "a", []))
    session.emit_update(1, props(0))
    session.emit_update(1, props(1))
    send(session, Ping(1))

    assert messages(session) == [[Pong(1)], [Update(1, 1, [["out", {"k": 0}]])], [Update(2, 1, [["out", {"k": 1}]])]]


def test_no_output_gives_none() -> None:
    session = new_session()

    assert not session.has_output()
    assert session.take_output() is None


# ----- resume


def emitted(count: int, **limits: Any) -> ServerSession:
    """A session that has sent updates 1..count of run 1."""
    session = new_session(**limits)
    send(session, Start(1, "a", []))
    for k in range(count):
        session.emit_update(1, props(k))
    frames(session)
    return session


def test_attach_with_a_resuming_hello_replays_exactly_the_frames_after_its_seq() -> None:
    session = emitted(5)
    send(session, Ack(2))
    session.emit_update(1, props(5))  # seq 6, never sent on the old connection

    assert session.can_resume(Hello("tok", 3))
    session.attach(Hello("tok", 3))

    (message,) = messages(session)
    welcome, *rest = message
    assert isinstance(welcome, Welcome)
    assert (welcome.session, welcome.epoch, welcome.resumed, welcome.seq) == ("tok", "ep", True, 6)
    assert [f.seq for f in rest] == [4, 5, 6]  # type: ignore[union-attr]
    assert [f.props[0][1]["k"] for f in rest] == [3, 4, 5]  # type: ignore[union-attr]


def test_welcome_names_the_highest_run_received() -> None:
    session = emitted(1)
    send(session, Start(4, "nope", []))  # refused, but received

    session.attach(Hello("tok", 1))

    (welcome, *_) = frames(session)
    assert isinstance(welcome, Welcome) and welcome.run == 4


def test_resume_trims_what_the_hello_says_was_applied() -> None:
    session = emitted(5)

    session.attach(Hello("tok", 4))

    assert session.replay.first_seq == 5
    assert not session.can_resume(Hello("tok", 3))


def test_resume_with_everything_applied_sends_only_the_welcome() -> None:
    session = emitted(3)

    session.attach(Hello("tok", 3))

    assert [type(f) for f in frames(session)] == [Welcome]


def test_can_resume_is_false_when_the_buffer_no_longer_holds_the_frames() -> None:
    session = emitted(5)
    send(session, Ack(3))

    assert not session.can_resume(Hello("tok", 2))
    assert not session.can_resume(Hello("tok", 0))
    assert session.can_resume(Hello("tok", 3))
    assert session.can_resume(Hello("tok", 5))


def test_can_resume_is_false_for_another_session_or_a_seq_never_issued() -> None:
    session = emitted(5)

    assert not session.can_resume(Hello("other", 5))
    assert not session.can_resume(Hello(None, 5))
    assert not session.can_resume(Hello("tok", 6))


def test_attach_drops_control_frames_meant_for_the_old_connection() -> None:
    session = emitted(1)
    send(session, Ping(1))

    session.attach(Hello("tok", 1))

    assert [type(f) for f in frames(session)] == [Welcome]


def test_after_resume_acks_are_bounded_by_what_the_new_connection_sent() -> None:
    session = emitted(5)
    session.attach(Hello("tok", 2))  # 3..5 will be sent again

    send(session, Ack(5))  # a late ack of the old connection: nothing resent yet

    assert session.replay.first_seq == 3
    assert [f.seq for f in frames(session)[1:]] == [3, 4, 5]  # type: ignore[union-attr]


# ----- backpressure


def test_has_room_is_false_while_the_replay_buffer_is_over_its_bound() -> None:
    session = new_session(replay_buffer_bytes=200)
    send(session, Start(1, "a", []))

    emits = 0
    while session.has_room():
        assert session.emit_update(1, props(emits))
        emits += 1
        assert emits < 100

    assert session.replay.bytes >= 200
    assert emits > 1
    assert session.end_run(1, "done")  # a run can always end, room or not
    frames(session)
    send(session, Ack(emits + 1))
    assert session.has_room()
    assert session.replay.bytes == 0


def test_a_session_closed_with_frames_not_yet_sent_has_no_output_left() -> None:
    session = new_session()
    send(session, Start(1, "a", []))
    for k in range(3):
        session.emit_update(1, props(k))
    session.close()  # e.g. a misbehaving page: its writer may still be waiting for its turn
    assert not session.has_output()
    assert session.take_output() is None  # before: an empty message, again and again


# ----- shared with other workers (the Redis store)


def test_take_output_holds_back_frames_above_upto() -> None:
    session = new_session()
    send(session, Start(1, "a", []))
    for k in range(5):
        session.emit_update(1, props(k))
    first = decode_message(session.take_output(upto=2), "server")
    assert [f.seq for f in first] == [1, 2]
    assert session.take_output(upto=2) is None  # frames 3..5 are not stored yet: held back
    session.ping(7)
    assert decode_message(session.take_output(upto=2), "server") == [Ping(7)]  # control frames are never held
    assert [f.seq for f in frames(session)] == [3, 4, 5]


def test_has_output_upto_ignores_frames_held_back() -> None:
    session = new_session()
    send(session, Start(1, "a", []))
    session.emit_update(1, props(0))
    assert session.has_output() and not session.has_output(upto=0)
    session.ping(1)
    assert session.has_output(upto=0)  # control frames are never held


def test_a_connection_held_elsewhere_gets_its_welcome_from_the_session_and_nothing_queued_before() -> None:
    session = new_session()
    send(session, Start(1, "a", []))
    for k in range(3):
        session.emit_update(1, props(k))
    session.ping(9)  # queued for the previous connection: dropped
    welcome = session.attach_elsewhere(1, sent_seq=2)
    assert decode_message(join_frames([welcome]), "server") == [Welcome("tok", "ep", True, 2, 1)]
    assert session.replay.first_seq == 2  # acknowledged up to the resume point
    assert [f.seq for f in frames(session)] == [3]  # 1..2 reach the page from the shared store
    session.emit_update(1, props(3))
    session.sent_elsewhere(4)
    assert not session.has_output()


def test_restore_rebuilds_a_session_and_lose_runs_ends_what_nobody_drives() -> None:
    donor = new_session()
    send(donor, Start(1, "a", []), Start(2, "b", []))
    donor.emit_update(1, props(0))
    donor.emit_update(2, props(1))
    donor.end_run(2, "done")
    held = list(donor.replay.after(0))
    session = ServerSession.restore("tok", "ep", frozenset("abc"), Limits(), held[1:], last_seq=3,
                                    highest_run=2, runs=donor.active_run_callbacks())
    assert session.can_resume(Hello("tok", 1)) and not session.can_resume(Hello("tok", 0))
    assert session.lose_runs(ErrorInfo("worker_lost", "gone")) == [1]
    session.attach(Hello("tok", 1))
    out = frames(session)
    assert isinstance(out[0], Welcome) and out[0].resumed and out[0].run == 2
    assert [f.seq for f in out[1:]] == [2, 3, 4]
    assert out[-1] == End(4, 1, "error", ErrorInfo("worker_lost", "gone"))
    assert send(session, Start(2, "a", []))[0].code == "bad_frame"  # run ids keep counting from the donor's


@pytest.mark.parametrize("page_seq", [1, 3, 50, 103])
def test_a_survivor_voids_what_the_dead_owner_may_have_sent_and_the_page_resumes_past_it(page_seq: int) -> None:
    """The dead owner stored up to 3 and could send 100 more (its ahead window): the survivor
    numbers on from 104, after a void frame, whatever the page applied meanwhile."""
    donor = new_session()
    send(donor, Start(1, "a", []))
    for n in range(3):
        donor.emit_update(1, props(n))
    session = ServerSession.restore("tok", "ep", frozenset("abc"), Limits(), list(donor.replay.after(0)), last_seq=3,
                                    highest_run=1, runs=donor.active_run_callbacks())
    assert session.void(100) == 104
    session.lose_runs(ErrorInfo("worker_lost", "gone"))
    assert session.can_resume(Hello("tok", page_seq))
    session.attach(Hello("tok", page_seq))
    out = frames(session)
    assert isinstance(out[0], Welcome) and out[0].resumed and out[0].seq == 105
    assert [f.seq for f in out[1:]] == [seq for seq in (2, 3) if seq > page_seq] + [104, 105]
    assert out[-2] == Void(104, 4) and out[-1] == End(105, 1, "error", ErrorInfo("worker_lost", "gone"))


def test_a_page_that_acknowledges_nothing_has_its_starts_refused_and_its_replay_stays_bounded() -> None:
    """Issue 24, item 2: start-and-cancel churn never acknowledged. Each pair adds an end frame
    while the page has room; then starts are refused as counted refusals (sequenced ends, so the
    page learns of them in order), and once those pass an eighth over the bound the session
    closes: the replay never holds more than that, whatever the page sends."""
    session = new_session(replay_buffer_bytes=4096, max_refused_frames=10_000)
    bound = 4096 + 4096 // 8
    commands: list = []
    run = 0
    while not any(isinstance(c, Misbehaved) for c in commands):
        run += 1
        commands = send(session, Start(run, "a", []), Cancel(run))
        assert session.replay.bytes < bound + 200, run  # at most one frame past the eighth
        assert run < 10_000
    refusals = [c for c in commands if isinstance(c, Refused)]
    assert session.replay.bytes >= 4096
    assert all(c.code == "no_room" for c in refusals)
    ends = [f for f in frames(session) if isinstance(f, End) and f.reason == "refused"]
    assert ends and "has not acknowledged its output" in ends[-1].error.message


def test_a_page_with_room_again_starts_again() -> None:
    session = new_session(replay_buffer_bytes=2000)
    send(session, Start(1, "a", []))
    while session.has_room():
        session.emit_update(1, props(0))
    [refused] = [c for c in send(session, Start(2, "b", [])) if isinstance(c, Refused)]
    assert refused.code == "no_room" and "replay_buffer_bytes 2000" in refused.message
    frames(session)
    send(session, Ack(session.replay.last_seq))  # the page caught up
    assert [type(c).__name__ for c in send(session, Start(3, "b", []))] == ["StartRun"]


def test_starts_past_the_rate_limit_are_refused_as_counted_refusals_and_time_allows_more() -> None:
    """Issue 24, item 2: a token bucket per page, refilled by the adapter's clock (``now``)."""
    session = new_session(max_starts_per_second=10, start_burst=3)
    pairs = [frame for run in range(1, 6) for frame in (Start(run, "a", []), Cancel(run))]

    commands = session.receive_message(encode_message(pairs), now=100.0)

    assert [type(c).__name__ for c in commands] == ["StartRun", "CancelRun"] * 3 + ["Refused"] * 2
    refused = commands[-1]
    assert refused.code == "too_many_starts" and "faster than 10 a second (max_starts_per_second, a burst of 3)" in refused.message
    assert session.refused_frames == 2
    ends = [f for f in frames(session) if isinstance(f, End) and f.reason == "refused"]
    assert [(e.run, e.error.code) for e in ends] == [(4, "too_many_starts"), (5, "too_many_starts")]
    assert isinstance(session.receive_message(encode_message([Start(6, "a", [])]), now=100.05)[0], Refused)
    assert session.receive_message(encode_message([Start(7, "a", [])]), now=100.2) == [StartRun(7, "a", [])]


def test_a_flood_of_start_and_cancel_pairs_starts_only_what_the_page_is_allowed() -> None:
    """The cost follows the limits, not the flood: 5,000 pairs in one message start the burst's
    runs, then their refusals reach max_refused_frames and the session stops processing."""
    session = new_session(max_refused_frames=100)
    flood = encode_message([frame for run in range(1, 5001) for frame in (Start(run, "a", []), Cancel(run))])

    commands = session.receive_message(flood, now=1.0)

    assert sum(isinstance(c, StartRun) for c in commands) == Limits().start_burst
    assert sum(isinstance(c, Refused) for c in commands) == 101 and isinstance(commands[-1], Misbehaved)
    assert session.replay.last_seq == Limits().start_burst + 101  # an end per run, not 5,000


def test_the_active_runs_map_is_one_object_until_a_run_starts_or_ends() -> None:
    """The Redis store sends a session's runs again only when this object changed (identity)."""
    session = new_session()
    send(session, Start(1, "a", []), Start(2, "b", []))
    first = session.active_run_callbacks()
    assert first == {1: "a", 2: "b"} and session.active_run_callbacks() is first
    assert session.emit_update(1, '[["x",{"n":1}]]') and session.active_run_callbacks() is first
    session.end_run(1, "done")
    ended = session.active_run_callbacks()
    assert ended == {2: "b"} and ended is not first
    send(session, Start(3, "b", []))  # replaces run 2
    assert session.active_run_callbacks() == {3: "b"}
    assert session.lose_runs(ErrorInfo("worker_lost", "gone")) == [3] and session.active_run_callbacks() == {}

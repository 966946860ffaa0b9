"""A ServerSession and a ClientSession paired over a fake link that drops, duplicates, reorders and
cuts: whatever the link does, every update the server emitted is applied exactly once, in order.

The link models what the transports do:

- server -> client: messages in flight on the current connection can be delivered in any order,
  dropped, duplicated or truncated (a corrupt message); the client finds out by ``seq`` (a duplicate
  is dropped, a gap makes it reconnect) or by a ProtocolError (it reconnects);
- client -> server: in order (a WebSocket, or POSTs sent one at a time), but a cut loses what is
  still in flight;
- a cut loses everything in flight and reconnects, exactly like the adapters: ``client.hello()``,
  then ``server.attach(hello)`` when ``server.can_resume(hello)``; the welcome (the handshake) is
  delivered, and the client sends its replies to it: the starts and cancels the server may have
  missed (ClientSession's rule, tests/vectors/resume.json; flash_ws/client.py sends them the same way).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flash_ws.protocol import (
    Apply,
    CancelRun,
    ClientSession,
    Gap,
    Limits,
    ProtocolError,
    Refused,
    RunEnded,
    ServerError,
    ServerSession,
    StartRun,
    decode_message,
    encode_message,
)
from flash_ws.protocol.frames import Ack, ClientFrame

CALLBACKS = tuple(f"cb{i}" for i in range(4))


class Harness:
    """One server session, one client session and the link between them."""

    def __init__(self, max_output_message_bytes: int = 256 << 10, ack_every: int = 4) -> None:
        self.server = ServerSession("tok", "ep", frozenset(CALLBACKS), Limits(max_output_message_bytes=max_output_message_bytes))
        self.client = ClientSession(ack_every=ack_every, ack_interval=0.1)
        self.now = 0.0
        self.down: list[str] = []  # server -> client, in flight on the current connection
        self.up: list[str] = []  # client -> server, in flight on the current connection
        self.stale: list[str] = []  # acks of an old connection, read by the server after a new one attached
        self.started: list[int] = []  # runs the client started, in order
        self.cb_of: dict[int, str] = {}
        self.cancelled: set[int] = set()  # runs the client cancelled or replaced
        self.emitted: dict[int, list[int]] = {}  # run -> the k of every update the server emitted
        self.applied: dict[int, list[int]] = {}  # run -> the k of every update the client applied
        self.ended: dict[int, list[RunEnded]] = {}
        self.server_ended: dict[int, str] = {}
        self.server_errors: list[ServerError] = []
        self.refused: list[Refused] = []
        self.reconnects = self.gaps = self.corrupt = 0
        self._connect(first=True)

    # ----- the client side

    def start(self, index: int) -> None:
        frame, replaced = self.client.start(CALLBACKS[index % len(CALLBACKS)], [index])
        if replaced is not None:  # a new run of the same callback replaces the running one
            assert replaced in self.started
            self.cancelled.add(replaced)
        self.started.append(frame.run)
        self.cb_of[frame.run] = frame.cb
        self._send_up([frame])

    def cancel(self, index: int) -> None:
        if not self.started:
            return
        run = self.started[index % len(self.started)]
        frame = self.client.cancel(run)
        if frame is not None:
            self.cancelled.add(run)
            self._send_up([frame])

    def tick(self, seconds: float) -> None:
        self.now += seconds
        ack = self.client.ack_due(self.now)
        if ack is not None:
            self._send_up([ack])

    def _send_up(self, frames: list[ClientFrame]) -> None:
        self.up.append(encode_message(frames))

    def _receive(self, text: str) -> None:
        try:
            effects, replies = self.client.receive_message(text, self.now)
        except ProtocolError:  # a truncated message: the adapter closes the connection and resumes
            self.corrupt += 1
            self.reconnect()
            return
        gap = self._carry_out(effects)
        if replies:
            self._send_up(replies)
        if gap:
            self.gaps += 1
            self.reconnect()

    def _carry_out(self, effects: list) -> bool:
        """Record what the client applies; True when it found a gap."""
        gap = False
        for effect in effects:
            if isinstance(effect, Apply):
                assert effect.run not in self.ended, f"an update of run {effect.run} applied after its end"
                for _id, props in effect.props:
                    self.applied.setdefault(effect.run, []).append(props["k"])
            elif isinstance(effect, RunEnded):
                self.ended.setdefault(effect.run, []).append(effect)
            elif isinstance(effect, ServerError):
                self.server_errors.append(effect)
            elif isinstance(effect, Gap):
                gap = True
            else:
                raise AssertionError(f"unexpected effect {effect!r}")  # SessionLost: the session must resume
        return gap

    # ----- the server side

    def emit(self, index: int) -> None:
        active = self.server.active_runs()
        if not active:
            return
        run = active[index % len(active)]
        k = len(self.emitted.get(run, []))
        if self.server.emit_update(run, f'[["out",{{"k":{k}}}]]'):
            self.emitted.setdefault(run, []).append(k)

    def end(self, index: int) -> None:
        active = self.server.active_runs()
        if active:
            run = active[index % len(active)]
            assert self.server.end_run(run, "done")
            self.server_ended[run] = "done"

    def pump(self) -> None:
        """The server's writer sends one message."""
        text = self.server.take_output()
        if text is not None:
            self.down.append(text)

    def deliver_up(self) -> None:
        if not self.up:
            return
        for command in self.server.receive_message(self.up.pop(0)):
            if isinstance(command, StartRun):
                assert command.cb == self.cb_of[command.run]
            elif isinstance(command, CancelRun):
                self.server_ended[command.run] = command.reason
            elif isinstance(command, Refused):
                self.refused.append(command)
            else:
                raise AssertionError(f"unexpected command {command!r}")

    def deliver_stale(self) -> None:
        """The adapter of an old connection hands the server a message it read before closing."""
        if self.stale:
            self.up.insert(0, self.stale.pop(0))
            self.deliver_up()

    # ----- the link

    def deliver(self, index: int) -> None:
        if self.down:
            self._receive(self.down.pop(index % len(self.down)))

    def drop(self, index: int) -> None:
        if self.down:
            self.down.pop(index % len(self.down))

    def duplicate(self, index: int) -> None:
        if self.down:
            text = self.down[index % len(self.down)]
            self.down.insert((index * 7) % (len(self.down) + 1), text)

    def truncate(self, index: int) -> None:
        if self.down:
            i = index % len(self.down)
            text = self.down[i]
            self.down[i] = text[: max(1, len(text) * (index % 4 + 1) // 5)]

    def reconnect(self) -> None:
        """The connection is cut: what is in flight is lost; the client resumes on a new one."""
        self.reconnects += 1
        self.down.clear()
        self.stale += [text for text in self.up if all(isinstance(f, Ack) for f in decode_message(text, "client"))]
        self.up.clear()
        self.client.disconnected()
        self._connect(first=False)

    def _connect(self, first: bool) -> None:
        hello = self.client.hello()
        if first:
            assert not self.server.can_resume(hello)
        else:
            assert self.server.can_resume(hello), f"cannot resume {hello} (replay holds from {self.server.replay.first_seq})"
        self.server.attach(hello)
        handshake = self.server.take_output()
        assert handshake is not None
        # the replies to a welcome carry what the server never received: starts above its run and
        # cancels of runs not yet ended (ClientSession's rule, as flash_ws/client.py sends them)
        effects, replies = self.client.receive_message(handshake, self.now)
        assert not self._carry_out(effects), "a gap right after the welcome"
        if replies:
            self._send_up(replies)

    def settle(self) -> None:
        """A clean reconnect, then everything delivered until both sides are quiet."""
        self.reconnect()
        for _ in range(10_000):
            if self.up:
                self.deliver_up()
            elif self.server.has_output():
                self.pump()
                self._receive(self.down.pop())
            else:
                self.tick(1.0)  # the last ack falls due
                if not self.up:
                    return
        raise AssertionError("the link did not settle")

    # ----- what must hold

    def check(self) -> None:
        self.settle()
        assert self.refused == [], self.refused
        assert self.server_errors == [], self.server_errors
        for run in self.started:
            emitted, applied = self.emitted.get(run, []), self.applied.get(run, [])
            if run in self.cancelled:  # updates after the local cancel/replace are dropped, the rest applied once
                assert applied == emitted[: len(applied)], (run, emitted, applied)
            else:
                assert applied == emitted, (run, emitted, applied)
            ended = [(e.reason, e.reset) for e in self.ended.get(run, [])]
            if run in self.cancelled:  # its reset was applied when it was cancelled here
                assert len(ended) <= 1 and not any(reset for _, reset in ended), (run, ended)
            elif run in self.server_ended:
                assert ended == [("done", False)], (run, ended)
            else:
                assert ended == [] and run in self.client.runs, (run, ended)
        # every run is either still running on both sides, or over on both
        assert sorted(self.server.active_runs()) == sorted(self.client.runs)
        assert self.client.cancelling == {}
        # everything was acknowledged, so nothing is held for a replay
        assert self.client.applied_seq == self.server.replay.last_seq == self.server.sent_seq
        assert self.client.acked_seq == self.client.applied_seq
        assert len(self.server.replay) == 0 and self.server.replay.bytes == 0


# How often each step is drawn, among the steps that can do something now.
WEIGHTS = {"start": 2, "cancel": 1, "emit": 4, "end": 1, "pump": 3, "deliver": 4, "deliver_up": 3,
           "drop": 1, "duplicate": 1, "truncate": 1, "tick": 1, "reconnect": 1, "deliver_stale": 1}


def possible_steps(harness: Harness) -> list[str]:
    can = {
        "start": len(harness.started) < 6,
        "cancel": bool(harness.client.runs),
        "emit": bool(harness.server.active_runs()),
        "end": bool(harness.server.active_runs()),
        "pump": harness.server.has_output(),
        "deliver": bool(harness.down), "drop": bool(harness.down),
        "duplicate": bool(harness.down), "truncate": bool(harness.down),
        "deliver_up": bool(harness.up),
        "deliver_stale": bool(harness.stale),
        "tick": True, "reconnect": True,
    }
    return [name for name, weight in WEIGHTS.items() if can[name] for _ in range(weight)]


def play(harness: Harness, data: st.DataObject, steps: int) -> None:
    """``steps`` steps, each drawn among those that can do something now (so few are wasted)."""
    for _ in range(steps):
        name = data.draw(st.sampled_from(possible_steps(harness)), label="step")
        if name in ("pump", "deliver_up", "deliver_stale", "reconnect"):
            getattr(harness, name)()
        elif name == "tick":
            harness.tick(data.draw(st.sampled_from([0.01, 0.05, 0.1, 1.0]), label="seconds"))
        else:
            getattr(harness, name)(data.draw(st.integers(0, 15), label="which"))


def scenario(data: st.DataObject) -> Harness:
    harness = Harness(data.draw(st.sampled_from([1, 150, 400, 256 << 10]), label="max_output_message_bytes"),
                      data.draw(st.sampled_from([1, 4, 64]), label="ack_every"))
    play(harness, data, data.draw(st.integers(0, 80), label="steps"))
    return harness


@settings(max_examples=100, deadline=None, derandomize=True)
@given(data=st.data())
def test_every_emitted_update_is_applied_exactly_once_and_in_order(data: st.DataObject) -> None:
    harness = scenario(data)

    harness.check()


# ----- the harness itself: faults really happen and really get caught


def scripted() -> Harness:
    harness = Harness(max_output_message_bytes=150)
    harness.start(0)
    harness.start(1)
    harness.deliver_up()
    harness.deliver_up()
    for _ in range(6):
        harness.emit(0)
        harness.emit(1)
    while harness.server.has_output():
        harness.pump()
    assert len(harness.down) >= 3
    return harness


def test_a_dropped_message_is_noticed_as_a_gap_and_resumed() -> None:
    harness = scripted()

    harness.drop(0)
    harness.deliver(0)

    assert harness.gaps == 1 and harness.reconnects == 1
    harness.check()
    assert sum(len(v) for v in harness.applied.values()) == 12


def test_duplicated_and_reordered_messages_are_applied_once() -> None:
    harness = scripted()
    first = harness.down[0]

    harness.down.append(first)
    harness.deliver(0)
    harness.deliver(len(harness.down) - 1)  # the duplicate of the first
    harness.deliver(1)  # out of order: a gap

    assert harness.gaps == 1
    harness.check()
    assert harness.applied == harness.emitted


def test_a_truncated_message_makes_the_client_reconnect() -> None:
    harness = scripted()

    harness.truncate(0)
    harness.deliver(0)

    assert harness.corrupt == 1 and harness.reconnects == 1
    harness.check()
    assert harness.applied == harness.emitted


def test_a_start_lost_with_its_connection_is_sent_again() -> None:
    harness = Harness()
    harness.start(0)
    harness.reconnect()  # the start was still in flight

    harness.deliver_up()
    harness.emit(0)

    assert harness.server.active_runs() == [1]
    harness.check()
    assert harness.applied == {1: [0]}


def test_a_cancel_lost_with_its_connection_is_sent_again() -> None:
    harness = Harness()
    harness.start(0)
    harness.deliver_up()
    harness.cancel(0)
    harness.reconnect()  # the cancel was still in flight

    harness.deliver_up()

    assert harness.server.active_runs() == []
    harness.check()
    assert [e.reason for e in harness.ended[1]] == ["cancelled"]


def test_a_run_cancelled_before_its_start_reached_the_server_is_forgotten() -> None:
    harness = Harness()
    harness.start(0)
    harness.cancel(0)
    harness.reconnect()  # the start and the cancel were still in flight

    assert harness.up == []  # no cancel of a run the server never had (it would be refused: unknown_run)
    assert [(e.reason, e.reset) for e in harness.ended[1]] == [("cancelled", False)]
    harness.check()


def test_a_run_replaced_by_a_start_that_was_lost_is_cancelled_on_resume() -> None:
    harness = Harness()
    harness.start(0)
    harness.deliver_up()  # run 1 runs on the server
    harness.start(0)  # run 2 replaces it here...
    harness.cancel(1)  # ...and is cancelled at once
    harness.reconnect()  # ...but neither frame reached the server

    harness.deliver_up()

    assert harness.server.active_runs() == []  # run 1 does not run on forever
    harness.check()


def test_the_check_catches_a_lost_update() -> None:
    harness = scripted()
    harness.emitted[1].append(99)  # an update the client can never apply

    with pytest.raises(AssertionError, match="99"):
        harness.check()


def test_the_check_catches_a_run_left_running_on_the_server() -> None:
    harness = scripted()
    harness.client.runs.pop(1)  # as if the client had forgotten it without a cancel

    with pytest.raises(AssertionError):
        harness.check()


def test_updates_carry_the_k_they_were_emitted_with() -> None:
    harness = Harness()
    harness.start(0)
    harness.deliver_up()
    harness.emit(0)
    harness.emit(0)
    harness.pump()

    assert [json.loads(f)["props"] for _seq, f in harness.server.replay.after(0)] == [[["out", {"k": 0}]], [["out", {"k": 1}]]]

"""The server side of one session, sans I/O: feed it client messages, ask it for output.

The adapter (WebSocket, SSE + POST) passes every client message to ``receive_message`` and acts on
the returned commands (start or cancel a run); producers call ``emit_update`` / ``end_run``; the
adapter's writer sends ``take_output()`` whenever ``has_output()`` is true.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field

from .codec import DEFAULT_MAX_BYTES, DEFAULT_MAX_NESTING, decode_message, encode_frame, join_frames
from .errors import ProtocolError
from .frames import (
    Ack,
    Bye,
    Cancel,
    End,
    EndReason,
    Error,
    ErrorInfo,
    Frame,
    Hello,
    Ping,
    Pong,
    RawJson,
    Start,
    Update,
    Welcome,
)
from .replay import ReplayBuffer, utf8_size


@dataclass(frozen=True)
class Limits:
    """Per-session limits; every one is configurable on the app."""

    max_message_bytes: int = DEFAULT_MAX_BYTES
    max_active_runs: int = 32
    replay_buffer_bytes: int = 8 << 20
    max_output_message_bytes: int = 256 << 10
    max_nesting: int = DEFAULT_MAX_NESTING


@dataclass(frozen=True)
class StartRun:
    """Command: run callback ``cb`` with ``args`` as run ``run``."""

    run: int
    cb: str
    args: list


@dataclass(frozen=True)
class CancelRun:
    """Command: stop run ``run`` (its generator must be closed); ``reason`` is cancelled or replaced."""

    run: int
    reason: EndReason


@dataclass(frozen=True)
class Refused:
    """Something the client sent was refused; an error or end frame already tells the client."""

    code: str
    message: str
    run: int | None = None
    cb: str | None = None


@dataclass(frozen=True)
class PageLeft:
    """Command: the page said bye; close the session now."""


Command = StartRun | CancelRun | Refused | PageLeft


@dataclass
class _Run:
    cb: str


@dataclass
class ServerSession:
    """State of one page's session: runs, sequence numbers, replay buffer and pending output."""

    token: str
    epoch: str
    callbacks: Container[str]
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        self.replay = ReplayBuffer(self.limits.replay_buffer_bytes)
        self.sent_seq = 0
        self._control: list[str] = []
        self._runs: dict[int, _Run] = {}
        self._active_by_cb: dict[str, int] = {}
        self._highest_run = 0

    # ----- transport lifecycle

    def can_resume(self, hello: Hello) -> bool:
        """True when ``hello`` names this session and every frame after its ``seq`` is held."""
        return hello.session == self.token and self.replay.can_replay_from(hello.seq)

    def attach(self, hello: Hello) -> None:
        """Bind a transport connection that said ``hello``: queue the welcome, then replay.

        A ``hello`` that resumes gets the frames after its ``seq``; a new one gets everything.
        """
        resumed = self.can_resume(hello)
        start = hello.seq if resumed else 0
        self.replay.ack(start)
        self.sent_seq = start
        self._control = [encode_frame(Welcome(self.token, self.epoch, resumed, self.replay.last_seq, self._highest_run))]

    # ----- input

    def receive_message(self, text: str | bytes) -> list[Command]:
        """Process one client message; return what the adapter must do."""
        try:
            frames = decode_message(text, "client", self.limits.max_message_bytes, self.limits.max_nesting)
        except ProtocolError as exc:
            self._queue_control(Error(exc.code, exc.message))
            return [Refused(exc.code, exc.message)]
        commands: list[Command] = []
        for index, frame in enumerate(frames):
            commands.extend(self._receive_frame(index, frame))
        return commands

    def _receive_frame(self, index: int, frame: Frame) -> list[Command]:
        if isinstance(frame, Start):
            return self._start(index, frame)
        if isinstance(frame, Cancel):
            return self._cancel(frame)
        if isinstance(frame, Ack):
            self.replay.ack(min(frame.seq, self.sent_seq))
            return []
        if isinstance(frame, Ping):
            self._queue_control(Pong(frame.id))
            return []
        if isinstance(frame, Pong):
            return []
        if isinstance(frame, Bye):
            return [PageLeft()]
        message = f"frame {index}: 'hello' is only allowed as the first frame of a connection"
        self._queue_control(Error("bad_frame", message))
        return [Refused("bad_frame", message)]

    def _start(self, index: int, frame: Start) -> list[Command]:
        if frame.run <= self._highest_run:
            message = f"frame {index}: run {frame.run} of {frame.cb!r} reuses a run id (highest so far {self._highest_run})"
            self._queue_control(Error("bad_frame", message, run=frame.run, cb=frame.cb))
            return [Refused("bad_frame", message, frame.run, frame.cb)]
        self._highest_run = frame.run
        if frame.cb not in self.callbacks:
            return [self._refuse(frame, "unknown_callback", f"no event callback {frame.cb!r} in this app")]
        commands: list[Command] = []
        previous = self._active_by_cb.get(frame.cb)
        if previous is not None:
            self._finish(previous, "replaced")
            commands.append(CancelRun(previous, "replaced"))
        if len(self._runs) >= self.limits.max_active_runs:
            limit = self.limits.max_active_runs
            message = f"{frame.cb!r} refused: this page already has {limit} active runs (the limit)"
            return commands + [self._refuse(frame, "too_many_runs", message)]
        self._runs[frame.run] = _Run(frame.cb)
        self._active_by_cb[frame.cb] = frame.run
        return commands + [StartRun(frame.run, frame.cb, frame.args)]

    def _refuse(self, frame: Start, code: str, message: str) -> Refused:
        self._sequence(End(0, frame.run, "refused", ErrorInfo(code, message)))
        return Refused(code, message, frame.run, frame.cb)

    def _cancel(self, frame: Cancel) -> list[Command]:
        if frame.run in self._runs:
            self._finish(frame.run, "cancelled")
            return [CancelRun(frame.run, "cancelled")]
        if frame.run > self._highest_run:
            message = f"cancel names run {frame.run}, which this session never started"
            self._queue_control(Error("unknown_run", message, run=frame.run))
            return [Refused("unknown_run", message, frame.run)]
        return []  # the run ended already: the cancel crossed its end frame

    # ----- output from producers

    def is_active(self, run: int) -> bool:
        return run in self._runs

    def active_runs(self) -> list[int]:
        return list(self._runs)

    def callback_of(self, run: int) -> str | None:
        record = self._runs.get(run)
        return record.cb if record else None

    def has_room(self) -> bool:
        """False while the replay buffer is full: producers should wait (backpressure)."""
        return self.replay.has_room()

    def emit_update(self, run: int, props_json: str) -> bool:
        """Queue an update of ``run`` (``props_json`` is the encoded [id, props] pairs).

        Returns False, queuing nothing, when the run is no longer active.
        """
        if run not in self._runs:
            return False
        self._sequence(Update(0, run, RawJson(props_json)))
        return True

    def end_run(self, run: int, reason: EndReason, error: ErrorInfo | None = None) -> bool:
        """End an active run (done or error); False when it had already ended."""
        if run not in self._runs:
            return False
        self._finish(run, reason, error)
        return True

    def _finish(self, run: int, reason: EndReason, error: ErrorInfo | None = None) -> None:
        record = self._runs.pop(run)
        if self._active_by_cb.get(record.cb) == run:
            del self._active_by_cb[record.cb]
        self._sequence(End(0, run, reason, error))

    def _sequence(self, frame: Update | End) -> None:
        seq = self.replay.last_seq + 1
        self.replay.append(seq, encode_frame(_with_seq(frame, seq)))

    def _queue_control(self, frame: Error | Pong | Ping) -> None:
        self._control.append(encode_frame(frame))

    # ----- output to the transport

    def has_control(self) -> bool:
        return bool(self._control)

    def has_output(self) -> bool:
        return bool(self._control) or self.sent_seq < self.replay.last_seq

    def take_output(self, upto: int | None = None) -> str | None:
        """One message with the control frames and the unsent sequenced frames, or None.

        Messages are cut near ``max_output_message_bytes``; call again while ``has_output()``.
        ``upto`` holds back sequenced frames above it (those not yet stored where others can resume).
        """
        limit = self.replay.last_seq if upto is None else min(upto, self.replay.last_seq)
        if not self._control and self.sent_seq >= limit:
            return None
        parts, size = self._control, sum(len(p) for p in self._control)
        self._control = []
        for text in self.replay.after(self.sent_seq):
            if self.sent_seq >= limit or (parts and size + utf8_size(text) > self.limits.max_output_message_bytes):
                break
            parts.append(text)
            size += utf8_size(text)
            self.sent_seq += 1
        return join_frames(parts)

    def ping(self, ping_id: int) -> None:
        self._queue_control(Ping(ping_id))

    def take_control(self) -> list[str]:
        """The queued control frames (encoded), for a connection served elsewhere."""
        control, self._control = self._control, []
        return control

    # ----- state shared with other workers

    @property
    def highest_run(self) -> int:
        return self._highest_run

    def active_run_callbacks(self) -> dict[int, str]:
        return {run: record.cb for run, record in self._runs.items()}

    @classmethod
    def restore(cls, token: str, epoch: str, callbacks: Container[str], limits: Limits, frames: list[tuple[int, str]],
                last_seq: int, highest_run: int, runs: dict[int, str]) -> ServerSession:
        """A session rebuilt from what another worker stored: its unacknowledged ``frames``, its
        numbering and its active ``runs`` (which nobody drives any more: see ``lose_runs``)."""
        session = cls(token, epoch, callbacks, limits)
        first = frames[0][0] if frames else last_seq + 1
        session.replay.last_seq = first - 1
        for seq, text in frames:
            session.replay.append(seq, text)
        session.replay.last_seq = last_seq
        session.sent_seq = last_seq
        session._highest_run = highest_run
        for run, cb in runs.items():
            session._runs[run] = _Run(cb)
            session._active_by_cb[cb] = run
        return session

    def lose_runs(self, error: ErrorInfo) -> list[int]:
        """End every active run with ``error`` (their producer is gone); return their ids."""
        lost = list(self._runs)
        for run in lost:
            self._finish(run, "error", error)
        return lost


def _with_seq(frame: Update | End, seq: int) -> Update | End:
    if isinstance(frame, Update):
        return Update(seq, frame.run, frame.props)
    return End(seq, frame.run, frame.reason, frame.error)

"""The server side of one session, sans I/O: feed it client messages, ask it for output.

The adapter (WebSocket, SSE + POST) passes every client message to ``receive_message`` and acts on
the returned commands (start or cancel a run); producers call ``emit_update`` / ``end_run``; the
adapter's writer sends ``take_output()`` whenever ``has_output()`` is true.

What one client costs is bounded here, whatever the adapter: control frames queued while the
writer is blocked (the pong of the latest ping only, at most ``max_queued_errors`` error frames),
refusals (a short escaped excerpt of client input; past ``max_refused_frames`` per connection the
session answers ``Misbehaved``), and replay memory (per session, and per process through a shared
``ByteBudget``).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field, replace

from .codec import DEFAULT_MAX_BYTES, DEFAULT_MAX_NESTING, decode_message, encode_frame, encode_update, join_frames
from .commands import CancelRun, Command, Misbehaved, PageLeft, Refused, StartRun
from .errors import ProtocolError
from .excerpt import clipped, excerpt
from .frames import Ack, Bye, Cancel, End, EndReason, Error, ErrorInfo, Frame, Hello, Ping, Pong, Start, Update, Void, Welcome
from .rate import TokenBucket, TokenBuckets
from .replay import ByteBudget, ReplayBuffer, utf8_size


@dataclass(frozen=True)
class Limits:
    """Per-session limits; every one is configurable on the app."""

    max_message_bytes: int = DEFAULT_MAX_BYTES
    max_active_runs: int = 32
    replay_buffer_bytes: int = 8 << 20
    max_output_message_bytes: int = 256 << 10
    max_refused_frames: int = 100  # per connection; past it the session answers Misbehaved
    max_queued_errors: int = 8  # error frames held while the writer is blocked; later ones are dropped
    max_nesting: int = DEFAULT_MAX_NESTING  # how deep a start's args may nest arrays and objects
    max_starts_per_second: float = 100.0  # starts one page may make, on average (a token bucket): a slider dragged at 60 Hz stays below
    start_burst: int = 200  # of which this many at once

    def __post_init__(self) -> None:
        for name in ("max_message_bytes", "max_active_runs", "replay_buffer_bytes", "max_output_message_bytes", "max_nesting",
                     "max_starts_per_second", "start_burst"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("max_refused_frames", "max_queued_errors"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")


@dataclass
class _Run:
    cb: str
    key: str = ""  # its instance (Start.key): a start replaces the active run of the same cb and key


@dataclass
class ServerSession:
    """State of one page's session: runs, sequence numbers, replay buffer and pending output."""

    token: str
    epoch: str
    callbacks: Container[str]
    limits: Limits = field(default_factory=Limits)
    budget: ByteBudget | None = None  # the replay memory shared by every session of the process
    group: str = ""  # whose share of ``budget`` it takes (the client address: see ByteBudget)
    group_starts: TokenBuckets | None = None  # the starts of every page of ``group``, shared (none without a group)

    def __post_init__(self) -> None:
        self.replay = ReplayBuffer(self.limits.replay_buffer_bytes, self.budget, self.group)
        self._starts = TokenBucket(self.limits.max_starts_per_second, self.limits.start_burst)
        self._now = 0.0  # the adapter's clock when the message being processed came
        self.sent_seq = 0
        self.refused_frames = 0  # on this connection (since the last attach)
        self.dropped_errors = 0  # error frames not queued on this connection (over max_queued_errors)
        self._misbehaved: Misbehaved | None = None
        self._control: list[str] = []  # the welcome, then at most max_queued_errors error frames
        self._queued_errors = 0
        self._ping: str | None = None  # the latest server ping not yet sent
        self._pong: str | None = None  # the answer to the latest client ping not yet sent
        self._runs: dict[int, _Run] = {}
        self._run_callbacks: dict[int, str] | None = None  # active_run_callbacks() until the runs change
        self._active_by_identity: dict[tuple[str, str], int] = {}  # (cb, key) -> its active run
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
        self._new_connection()
        self._control = [self._welcome(resumed, self.replay.last_seq)]

    def attach_elsewhere(self, seq: int, sent_seq: int) -> str:
        """A connection held by another process resumed after ``seq``: the frames up to ``sent_seq``
        reach it from a shared store, not from ``take_output``. Control frames queued for the previous
        connection are dropped; returns the welcome (encoded) that the other process sends first."""
        self.replay.ack(seq)
        self.sent_seq = sent_seq
        self._new_connection()
        return self._welcome(True, sent_seq)

    def _new_connection(self) -> None:
        """What belongs to one connection starts afresh: control frames queued for the previous one
        are dropped, and the refusal budgets (``max_refused_frames``, ``max_queued_errors``) count again."""
        self._control, self._ping, self._pong, self._misbehaved = [], None, None, None
        self._queued_errors = self.refused_frames = self.dropped_errors = 0

    def sent_elsewhere(self, seq: int) -> None:
        """The frames up to ``seq`` reached the page through another process (see ``attach_elsewhere``)."""
        self.sent_seq = max(self.sent_seq, seq)

    def _welcome(self, resumed: bool, last_seq: int) -> str:
        return encode_frame(Welcome(self.token, self.epoch, resumed, last_seq, self._highest_run))

    def close(self) -> None:
        """The session is over: give its replay memory back to the process budget; frames not
        sent yet are dropped with it (nothing is left to take)."""
        self.replay.close()
        self.sent_seq = max(self.sent_seq, self.replay.last_seq)

    # ----- input

    def receive_message(self, text: str | bytes, now: float = 0.0) -> list[Command]:
        """Process one client message that came at ``now`` (the adapter's monotonic clock, in
        seconds: it refills the start rate limit; a clock that stands still allows only the burst);
        return what the adapter must do.

        Once the connection has misbehaved, nothing more is processed: ``[Misbehaved]`` again."""
        if self._misbehaved is not None:
            return [self._misbehaved]
        try:
            frames = decode_message(text, "client", self.limits.max_message_bytes, self.limits.max_nesting)
        except ProtocolError as exc:
            return self._refused([self._error(exc.code, clipped(exc.message))])
        return self.receive_frames(frames, now)

    def receive_frames(self, frames: list[Frame], now: float = 0.0) -> list[Command]:
        """Process the frames of one client message that the adapter decoded already (with
        ``decode_message`` and this session's limits); ``now`` as for ``receive_message``."""
        if self._misbehaved is not None:
            return [self._misbehaved]
        self._now = now
        commands: list[Command] = []
        for index, frame in enumerate(frames):
            commands.extend(self._refused(self._receive_frame(index, frame)))
            if self._misbehaved is not None:
                break
        return commands

    def _refused(self, commands: list[Command]) -> list[Command]:
        """Count the refusals among ``commands``; add ``Misbehaved`` once past the limit."""
        self.refused_frames += sum(isinstance(c, Refused) for c in commands)
        if self._misbehaved is None and self.refused_frames > self.limits.max_refused_frames:
            self._misbehaved = Misbehaved(f"more than {self.limits.max_refused_frames} refused frames on one connection")
            commands = [*commands, self._misbehaved]
        return commands

    def refuse_run(self, run: int, code: str, message: str) -> list[Command]:
        """End active run ``run`` as refused for a reason the adapter found (e.g. its argument
        count); it counts as a refused frame. Returns ``[Misbehaved]`` when that was one too many."""
        if run not in self._runs:
            return []
        cb = self._runs[run].cb
        self._finish(run, "refused", ErrorInfo(code, message))
        return self._refused([Refused(code, message, run, cb)])

    def _receive_frame(self, index: int, frame: Frame) -> list[Command]:
        if isinstance(frame, Start):
            return self._start(index, frame)
        if isinstance(frame, Cancel):
            return self._cancel(frame)
        if isinstance(frame, Ack):
            self.replay.ack(min(frame.seq, self.sent_seq))
            return []
        if isinstance(frame, Ping):
            self._pong = encode_frame(Pong(frame.id))  # only the latest ping is answered
            return []
        if isinstance(frame, Pong):
            return []
        if isinstance(frame, Bye):
            return [PageLeft()]
        message = f"frame {index}: 'hello' is only allowed as the first frame of a connection"
        return [self._error("bad_frame", message)]

    def _start(self, index: int, frame: Start) -> list[Command]:
        if frame.run <= self._highest_run:
            message = (f"frame {index}: run {frame.run} of {excerpt(frame.cb)} reuses a run id "
                       f"(highest so far {self._highest_run})")
            return [self._error("bad_frame", message, frame.run, frame.cb)]
        self._highest_run = frame.run
        held, bound = self.replay.bytes, self.limits.replay_buffer_bytes
        if held >= bound:  # the page has not acknowledged its output: a start would only add more
            if held >= bound + bound // 8:  # and refusals' own end frames stay within an eighth more
                self._misbehaved = Misbehaved(f"starts while {held} bytes wait for acknowledgement "
                                              f"(replay_buffer_bytes {bound})")
                return [self._misbehaved]
            message = (f"{excerpt(frame.cb)} refused: the page has not acknowledged its output "
                       f"({held} bytes held, replay_buffer_bytes {bound})")
            return [self._refuse(frame, "no_room", message)]
        if not self._starts.take(self._now):  # refused at once: the cost follows what the page may do
            rate, burst = self.limits.max_starts_per_second, self.limits.start_burst
            message = (f"{excerpt(frame.cb)} refused: this page starts runs faster than {rate:g} a second "
                       f"(max_starts_per_second, a burst of {burst})")
            return [self._refuse(frame, "too_many_starts", message)]
        if self.group_starts is not None and self.group and not self.group_starts.take(self.group, self._now):
            rate, burst = self.group_starts.rate, self.group_starts.burst
            message = (f"{excerpt(frame.cb)} refused: the pages of this client address start runs faster than {rate:g} "
                       f"a second (max_starts_per_address_per_second, a burst of {burst})")
            return [self._refuse(frame, "too_many_starts", message)]
        if frame.cb not in self.callbacks:
            return [self._refuse(frame, "unknown_callback", f"no event callback {excerpt(frame.cb)} in this app")]
        commands: list[Command] = []
        previous = self._active_by_identity.get((frame.cb, frame.key))
        if previous is not None:
            self._finish(previous, "replaced")
            commands.append(CancelRun(previous, "replaced"))
        if len(self._runs) >= self.limits.max_active_runs:
            limit = self.limits.max_active_runs
            message = f"{excerpt(frame.cb)} refused: this page already has {limit} active runs (the limit)"
            return commands + [self._refuse(frame, "too_many_runs", message)]
        self._runs[frame.run] = _Run(frame.cb, frame.key)
        self._run_callbacks = None
        self._active_by_identity[(frame.cb, frame.key)] = frame.run
        return commands + [StartRun(frame.run, frame.cb, frame.args)]

    def _refuse(self, frame: Start, code: str, message: str) -> Refused:
        """Refuse a start with a sequenced end (it counts against the replay bound like any frame)."""
        self._sequence(End(0, frame.run, "refused", ErrorInfo(code, message)))
        return Refused(code, message, frame.run, frame.cb)

    def _error(self, code: str, message: str, run: int | None = None, cb: str | None = None) -> Refused:
        """Refuse with an error frame; past ``max_queued_errors`` unsent ones it is only counted.
        The frame names ``cb`` only when it is a callback of this app (never echoes client input)."""
        if self._queued_errors < self.limits.max_queued_errors:
            self._control.append(encode_frame(Error(code, message, run, cb if cb in self.callbacks else None)))
            self._queued_errors += 1
        else:
            self.dropped_errors += 1
        return Refused(code, message, run, cb)

    def _cancel(self, frame: Cancel) -> list[Command]:
        if frame.run in self._runs:
            self._finish(frame.run, "cancelled")
            return [CancelRun(frame.run, "cancelled")]
        if frame.run > self._highest_run:
            message = f"cancel names run {frame.run}, which this session never started"
            return [self._error("unknown_run", message, frame.run)]
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
        seq = self.replay.last_seq + 1
        self.replay.append(seq, encode_update(seq, run, props_json))
        return True

    def end_run(self, run: int, reason: EndReason, error: ErrorInfo | None = None) -> bool:
        """End an active run (done or error); False when it had already ended."""
        if run not in self._runs:
            return False
        self._finish(run, reason, error)
        return True

    def _finish(self, run: int, reason: EndReason, error: ErrorInfo | None = None) -> None:
        record = self._runs.pop(run)
        self._run_callbacks = None
        if self._active_by_identity.get((record.cb, record.key)) == run:
            del self._active_by_identity[(record.cb, record.key)]
        self._sequence(End(0, run, reason, error))

    def _sequence(self, frame: Update | End) -> None:
        seq = self.replay.last_seq + 1
        self.replay.append(seq, encode_frame(replace(frame, seq=seq)))

    # ----- output to the transport

    def has_control(self) -> bool:
        return bool(self._control) or self._ping is not None or self._pong is not None

    def has_output(self, upto: int | None = None) -> bool:
        """Whether ``take_output(upto)`` has something to give."""
        limit = self.replay.last_seq if upto is None else min(upto, self.replay.last_seq)
        return self.has_control() or self.sent_seq < limit

    def queued_control_bytes(self) -> int:
        """Bytes of control frames waiting for the writer (bounded: see the module's docstring)."""
        return sum(utf8_size(text) for text in self._control_frames())

    def _control_frames(self) -> list[str]:
        return [*self._control, *(text for text in (self._ping, self._pong) if text is not None)]

    def take_output(self, upto: int | None = None) -> str | None:
        """One message with the control frames and the unsent sequenced frames, or None.

        Messages are cut near ``max_output_message_bytes``; call again while ``has_output()``.
        ``upto`` holds back sequenced frames above it (those not yet stored where others can resume).
        """
        limit = self.replay.last_seq if upto is None else min(upto, self.replay.last_seq)
        if not self.has_control() and self.sent_seq >= limit:
            return None
        parts = self.take_control()
        size = sum(utf8_size(p) for p in parts)
        for seq, text, frame_size in self.replay.sized_after(self.sent_seq):
            if seq > limit or (parts and size + frame_size > self.limits.max_output_message_bytes):
                break
            parts.append(text)
            size += frame_size
            self.sent_seq = seq
        return join_frames(parts) if parts else None  # None too once close() dropped the frames

    def ping(self, ping_id: int) -> None:
        """Queue a server ping (it replaces one not sent yet)."""
        self._ping = encode_frame(Ping(ping_id))

    def take_control(self) -> list[str]:
        """The queued control frames (encoded), for a connection served elsewhere."""
        control = self._control_frames()
        self._control, self._ping, self._pong, self._queued_errors = [], None, None, 0
        return control

    # ----- state shared with other workers

    @property
    def highest_run(self) -> int:
        return self._highest_run

    def active_run_callbacks(self) -> dict[int, str]:
        """``{run: callback}`` of the active runs: the same object until they change (not to be modified)."""
        if self._run_callbacks is None:
            self._run_callbacks = {run: record.cb for run, record in self._runs.items()}
        return self._run_callbacks

    @classmethod
    def restore(cls, token: str, epoch: str, callbacks: Container[str], limits: Limits, frames: list[tuple[int, str]],
                last_seq: int, highest_run: int, runs: dict[int, str], budget: ByteBudget | None = None) -> ServerSession:
        """A session rebuilt from what another worker stored: its unacknowledged ``frames``, its
        numbering and its active ``runs`` (which nobody drives any more: see ``lose_runs``)."""
        session = cls(token, epoch, callbacks, limits, budget)
        first = frames[0][0] if frames else last_seq + 1
        session.replay.last_seq = first - 1
        for seq, text in frames:
            session.replay.append(seq, text)
        session.replay.last_seq = last_seq
        session.sent_seq = last_seq
        session._highest_run = highest_run
        for run, cb in runs.items():
            session._runs[run] = _Run(cb)  # lost at once (lose_runs): their keys do not matter
        session._run_callbacks = None
        return session

    def void(self, count: int) -> int:
        """Skip ``count`` sequence numbers, declared by a ``void`` frame: the previous owner may have
        sent up to that many frames it never stored. Returns the void frame's number."""
        first, seq = self.replay.last_seq + 1, self.replay.last_seq + count + 1
        self.replay.append(seq, encode_frame(Void(seq, first)), jump=True)
        return seq

    def lose_runs(self, error: ErrorInfo) -> list[int]:
        """End every active run with ``error`` (their producer is gone); return their ids."""
        lost = list(self._runs)
        for run in lost:
            self._finish(run, "error", error)
        return lost

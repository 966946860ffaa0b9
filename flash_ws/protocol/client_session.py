"""The client side of one session, sans I/O: what the Python reference client (and, in JS, the
browser client) does with server frames: exactly-once, in-order application and batched acks, and
what a new connection sends again after its welcome (the rule shared with client/src/session.js
through tests/vectors/resume.json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .codec import decode_message
from .frames import Ack, Cancel, ClientFrame, End, Error, ErrorInfo, Hello, Ping, Pong, Start, Update, Void, Welcome


@dataclass(frozen=True)
class Apply:
    """Effect: apply these [id, props] pairs of ``run`` in one render (the updates of one run
    that follow one another in a message come as one Apply)."""

    run: int
    props: list[Any]


@dataclass(frozen=True)
class RunEnded:
    run: int
    cb: str
    reason: str
    error: ErrorInfo | None
    reset: bool  # True when the caller must apply the callback's reset_props now


@dataclass(frozen=True)
class ServerError:
    code: str
    message: str


@dataclass(frozen=True)
class Gap:
    """Frames were lost between ``expected`` and ``got``: reconnect and resume."""

    expected: int
    got: int


@dataclass(frozen=True)
class SessionLost:
    """These runs are lost (apply their reset_props): the server could not resume the session
    (``reason`` "session_lost"), or resumed it without runs the page saw frames of: their worker
    died before Redis held them ("worker_lost")."""

    runs: dict[int, str]
    reason: str = "session_lost"


Effect = Apply | RunEnded | ServerError | Gap | SessionLost


@dataclass
class ClientSession:
    """Runs started by this client and the sequence numbers applied so far."""

    ack_every: int = 64
    ack_interval: float = 3.0
    ack_bytes: int = 1 << 20
    session: str | None = None
    epoch: str | None = None
    applied_seq: int = 0
    acked_seq: int = 0
    runs: dict[int, str] = field(default_factory=dict)  # active runs: run -> cb
    args: dict[int, list[Any]] = field(default_factory=dict)  # args of the active runs
    keys: dict[int, str] = field(default_factory=dict)  # instance keys of the runs started with one (Start.key)
    cancelling: dict[int, str] = field(default_factory=dict)  # cancelled or replaced here, end not yet received: run -> cb
    server_run: int = 0  # the highest run id the server said it received
    unsent: set[int] = field(default_factory=set)  # runs started while no connection was welcomed
    seen: set[int] = field(default_factory=set)  # active runs of which a frame was applied
    connected: bool = False  # a connection is welcomed: starts go out as they are made
    _next_run: int = 1
    _unacked_since: float | None = None
    _unacked_bytes: int = 0  # size of the messages that brought the unacknowledged frames

    def hello(self) -> Hello:
        return Hello(self.session, self.applied_seq)

    def disconnected(self) -> None:
        """The connection is gone: runs started from now on wait for the next welcome."""
        self.connected = False

    def start(self, cb: str, args: list[Any], key: str = "") -> tuple[Start, int | None]:
        """A start frame for ``cb``'s instance ``key`` (to send now when ``connected``; otherwise the
        next welcome's replies carry it); also the run it replaces: the active run of the same
        callback and key, if any (tests/vectors/run_identity.json)."""
        replaced = next((run for run, name in self.runs.items() if name == cb and self.keys.get(run, "") == key), None)
        if replaced is not None:
            del self.runs[replaced]
            self.seen.discard(replaced)
            self.args.pop(replaced, None)
            self.keys.pop(replaced, None)
            self.cancelling[replaced] = cb  # until its end comes: if the new start is lost, cancel it
        run, self._next_run = self._next_run, self._next_run + 1
        self.runs[run] = cb
        self.args[run] = args
        if key:
            self.keys[run] = key
        if not self.connected:
            self.unsent.add(run)
        return Start(run, cb, args, key), replaced

    def runs_of(self, cb: str, key: str | None = None) -> list[int]:
        """The active runs of ``cb``: of its instance ``key``, or of every instance when None."""
        return [run for run, name in self.runs.items() if name == cb and (key is None or self.keys.get(run, "") == key)]

    def cancel(self, run: int) -> Cancel | None:
        cb = self.runs.pop(run, None)
        if cb is None:
            return None
        self.seen.discard(run)
        self.args.pop(run, None)
        self.keys.pop(run, None)
        self.cancelling[run] = cb
        return Cancel(run)

    def receive_message(self, text: str | bytes, now: float) -> tuple[list[Effect], list[ClientFrame]]:
        """Process one server message: effects to carry out, frames to send back."""
        effects: list[Effect] = []
        replies: list[ClientFrame] = []
        applied = self.applied_seq
        for frame in decode_message(text, "server", max_bytes=1 << 30):
            if isinstance(frame, Welcome):
                welcome_effects, again = self._welcome(frame)
                effects.extend(welcome_effects)
                replies.extend(again)
            elif isinstance(frame, (Update, End, Void)):
                if frame.seq <= self.applied_seq:
                    continue  # a duplicate: already applied
                if frame.seq != self.applied_seq + 1 and not (isinstance(frame, Void) and frame.first <= self.applied_seq + 1):
                    effects.append(Gap(self.applied_seq + 1, frame.seq))
                    break
                self.applied_seq = frame.seq
                if self._unacked_since is None:
                    self._unacked_since = now
                if isinstance(frame, Update):
                    self._apply(frame, effects)
                elif isinstance(frame, End):
                    effects.extend(self._ended(frame))
            elif isinstance(frame, Error):
                effects.append(ServerError(frame.code, frame.message))
            elif isinstance(frame, Ping):
                replies.append(Pong(frame.id))
        if self.applied_seq > applied:
            self._unacked_bytes += len(text)
        ack = self.ack_due(now)
        if ack is not None:
            replies.append(ack)
        return effects, replies

    def _welcome(self, frame: Welcome) -> tuple[list[Effect], list[ClientFrame]]:
        """Adopt the session of ``frame``; return the effects and the frames to send again.

        Resumed: ``frame.run`` is the highest run the server received. Starts above it are sent
        again, unless a frame of the run was applied: then its worker died before Redis held it and
        the run is lost; cancels of runs cancelled or replaced here at or below it are sent again (a
        repeated cancel is harmless); those above it never reached the server and are over. Not
        resumed: the runs the server had are lost (SessionLost). Either way, starts made while no
        connection was welcomed go out last, in run order.
        """
        effects: list[Effect] = []
        again: list[ClientFrame] = []
        lost: dict[int, str] = {}
        for run in sorted((self.runs.keys() | self.cancelling.keys()) - self.unsent):
            if frame.resumed and run <= frame.run:
                if run in self.cancelling:
                    again.append(Cancel(run))
            elif frame.resumed and run in self.runs and run not in self.seen:
                again.append(Start(run, self.runs[run], self.args[run], self.keys.get(run, "")))
            elif run in self.runs:  # the server lost it with the session, or with its worker
                lost[run] = self.runs.pop(run)
                self.args.pop(run, None)
                self.keys.pop(run, None)
                self.seen.discard(run)
            else:  # cancelled or replaced here, and the server does not have it: no end will come
                effects.append(RunEnded(run, self.cancelling.pop(run), "cancelled", None, False))
        for run in sorted(self.unsent):
            if run in self.runs:
                again.append(Start(run, self.runs[run], self.args[run], self.keys.get(run, "")))
            elif run in self.cancelling:
                effects.append(RunEnded(run, self.cancelling.pop(run), "cancelled", None, False))
        if lost:
            effects.insert(0, SessionLost(lost, "worker_lost" if frame.resumed else "session_lost"))
        if not frame.resumed:
            self.applied_seq = frame.seq
        self.acked_seq = self.applied_seq  # the hello named it: the server dropped what it held up to there
        self._unacked_since, self._unacked_bytes = None, 0
        self.unsent.clear()
        self.connected = True
        self.session, self.epoch, self.server_run = frame.session, frame.epoch, frame.run
        return effects, again

    def _apply(self, frame: Update, effects: list[Effect]) -> None:
        """Add the pairs of ``frame`` to the effects: to the last Apply when it is of the same
        run (one render for a batch), else as a new one; none for a run no longer active here."""
        if frame.run not in self.runs:
            return
        self.seen.add(frame.run)
        pairs = frame.props
        assert isinstance(pairs, list)  # as decoded (RawJson is the server's)
        last = effects[-1] if effects else None
        if isinstance(last, Apply) and last.run == frame.run:
            last.props.extend(pairs)
        else:
            effects.append(Apply(frame.run, list(pairs)))

    def _ended(self, frame: End) -> list[Effect]:
        self.seen.discard(frame.run)
        self.args.pop(frame.run, None)
        self.keys.pop(frame.run, None)
        cancelled_here = self.cancelling.pop(frame.run, None)
        if cancelled_here is not None:  # its reset was applied when it was cancelled here
            return [RunEnded(frame.run, cancelled_here, frame.reason, frame.error, False)]
        cb = self.runs.pop(frame.run, None)
        if cb is None:
            return []
        return [RunEnded(frame.run, cb, frame.reason, frame.error, frame.reason in ("cancelled", "error", "refused"))]

    def ack_due(self, now: float) -> Ack | None:
        """An ack frame when one is due (tests/vectors/acks.json): ``ack_every`` frames or
        ``ack_bytes`` of messages are unacknowledged, or the first of them came ``ack_interval``
        ago; else None."""
        if self.applied_seq == self.acked_seq or self._unacked_since is None:
            return None
        if (self.applied_seq - self.acked_seq >= self.ack_every or self._unacked_bytes >= self.ack_bytes
                or now - self._unacked_since >= self.ack_interval):
            self.acked_seq = self.applied_seq
            self._unacked_since, self._unacked_bytes = None, 0
            return Ack(self.applied_seq)
        return None

    def ack_deadline(self) -> float | None:
        """When the next ack falls due by time (None when nothing is unacknowledged)."""
        return None if self._unacked_since is None else self._unacked_since + self.ack_interval

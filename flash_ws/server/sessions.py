"""Live sessions and where they are kept: the ``SessionHandle`` a transport holds, the
``SessionStore`` interface and its in-process store.

A session outlives its transport connection: when the connection drops for another reason than
the page leaving, the store keeps the session (and its running streams) for ``resume_grace``
seconds so a reconnecting page can resume it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Callable, Container, Iterator
from typing import Protocol

from ..protocol import ByteBudget, Command, ErrorInfo, Hello, Limits, ServerSession
from ..protocol.errors import FlashWsError
from ..protocol.frames import EndReason, Frame
from ..protocol.tokens import new_token, same_secret, session_id


class SessionStoreError(FlashWsError):
    """The session store cannot serve a session right now; the message says why."""


class StoreUnavailable(SessionStoreError):
    """The shared store (Redis) cannot be reached: the page should retry later."""


class SessionGone(SessionStoreError):
    """The session's stored state was lost (the store restarted, or another worker took it over)."""


class SessionMoved(SessionStoreError):
    """The page must reconnect to go on with its session (it resumes, on any worker)."""


class TooManySessions(SessionStoreError):
    """A new session would exceed a cap (the message names the setting): the page retries later."""


def names_session(named: str, token: str) -> bool:
    """Whether ``named`` (a whole token, or a bare sid from the event stream's URL) names the
    session of ``token``; a whole token must be the same secret."""
    if "." in named:
        return same_secret(named, token)
    return named == session_id(token)


def presents(hello: Hello, binding: str, token: str, stored_binding: str) -> bool:
    """Whether ``hello`` (with the browser's ``binding``) may resume the session of ``token``."""
    return hello.session is not None and same_secret(binding, stored_binding) and names_session(hello.session, token)


class SessionCaps:
    """Caps on new sessions: ``max_sessions`` in this process, ``max_sessions_per_address`` per
    client address, counted over open sessions (connected or in their grace period)."""

    def __init__(self, max_sessions: int, max_sessions_per_address: int) -> None:
        self.max_sessions = max_sessions
        self.max_per_address = max_sessions_per_address
        self._by_address: Counter[str] = Counter()

    def admit(self, address: str, open_sessions: int) -> None:
        """Raise ``TooManySessions`` when a new session from ``address`` would exceed a cap."""
        if open_sessions >= self.max_sessions:
            raise TooManySessions(f"this server holds {open_sessions} sessions, its limit (max_sessions); try again later")
        if self._by_address[address] >= self.max_per_address:
            raise TooManySessions(f"{self._by_address[address]} sessions are open from this address, its limit "
                                  "(max_sessions_per_address); try again later")

    def opened(self, address: str) -> None:
        self._by_address[address] += 1

    def closed(self, address: str) -> None:
        self._by_address[address] -= 1
        if self._by_address[address] <= 0:
            del self._by_address[address]


class Connection:
    """One transport connection bound to a session; its writer waits on ``wakeup``."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.replaced = False
        self.closing: SessionStoreError | None = None  # set when the store ends this connection
        self.wakeup = asyncio.Event()
        self.last_heard = time.monotonic()  # when the client was last heard from (heartbeats)
        self.behind = False  # output came as soon as the last messages were written: gather the next
        self.stalled_by_owner = False  # the session's owner (another worker) ended it as stalled: redis_stalls

    async def written(self) -> None:
        """The writer wrote what it took: let producers run one loop turn; output that came
        meanwhile means the page is behind, and the next messages gather (see take_messages)."""
        await asyncio.sleep(0)
        self.behind = self.wakeup.is_set()

    def __repr__(self) -> str:
        return f"<Connection {self.description}>"


RunHere = Callable[["LiveSession", str | bytes, list[Frame] | None], list[Command]]
"""Runs what a page sent on a session of this process (the service's ``receive_local``)."""


class SessionHandle(Protocol):
    """What a transport holds once its connection is attached: a session of this process
    (``LiveSession``) or a handle on one another worker owns (``redis_remote.RemoteSession``).
    Whatever queues output wakes the connection's writer by itself."""

    connection: Connection | None

    @property
    def sid(self) -> str:
        """The session's public id."""
        ...

    @property
    def token(self) -> str: ...

    def bind(self, connection: Connection) -> None:
        """Make ``connection`` the one that writes; the previous one, if any, is replaced."""
        ...

    def ping(self, ping_id: int) -> None:
        """Queue a heartbeat ping for the connection."""
        ...

    async def take_messages(self, connection: Connection) -> list[str]:
        """After ``connection`` was woken: every message ready for it."""
        ...

    async def deliver(self, text: str | bytes, frames: list[Frame] | None, run_here: RunHere) -> list[Command]:
        """Hand a message of the page (``frames``: decoded already, or None) to where the session
        runs: ``run_here`` in this process, else the owner (what the page must be told comes back)."""
        ...


class LiveSession:
    """A ServerSession plus the asyncio signals its writer and producers wait on; its producers
    (the runner) queue output with ``emit`` and ``end``, which wake the writer."""

    def __init__(self, core: ServerSession, binding: str = "", address: str = "") -> None:
        self.core = core
        self.binding = binding  # tokens.binding() of the browser (and user) that opened it
        self.address = address  # the client address that opened it (for max_sessions_per_address)
        self._room = asyncio.Event()
        self._room.set()
        self.connection: Connection | None = None  # the transport currently attached
        self.expiry: asyncio.TimerHandle | None = None
        self.ending: str | None = None  # why the service closes it, when it is the one ending it ("stalled")

    def bind(self, connection: Connection) -> None:
        """Make ``connection`` the one that writes; the previous one, if any, is replaced."""
        if self.connection is not None:
            self.connection.replaced = True
            self.connection.wakeup.set()
        self.connection = connection
        connection.wakeup.set()

    @property
    def token(self) -> str:
        return self.core.token

    @property
    def sid(self) -> str:
        """The session's public id (stores key sessions by it)."""
        return session_id(self.core.token)

    def resume(self, hello: Hello) -> bool:
        """Attach the connection that said ``hello`` (its ``session`` may be a bare sid) when every
        frame after its ``seq`` is still held; False (nothing changed) when not."""
        named = Hello(self.core.token, hello.seq, hello.v)
        if not self.core.can_resume(named):
            return False
        self.cancel_expiry()
        self.core.attach(named)
        return True

    def cancel_expiry(self) -> None:
        """A connection came back, or the session closes: the grace period is over."""
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None

    def notify(self) -> None:
        """Tell the writer there is output, and producers whether there is room."""
        connection = self.connection
        if connection is not None and not connection.wakeup.is_set() and self.core.has_output():
            connection.wakeup.set()
        self.wake_producers()

    def wake_producers(self) -> None:
        """Wake producers waiting for room (``wait_for_room``) when there is some. Only a waiter
        clears ``_room``: while it is set nobody waits, and room is not even looked at."""
        if not self._room.is_set() and self.core.has_room():
            self._room.set()

    async def gather_output(self, max_ticks: int = 4096) -> None:
        """Let the loop run while producers keep adding frames, until a turn adds none or a message's
        worth (``max_output_message_bytes``) is waiting: a burst leaves as a few large messages."""
        replay, cap = self.core.replay, self.core.limits.max_output_message_bytes
        start = replay.bytes
        for _ in range(max_ticks):
            before = replay.last_seq
            await asyncio.sleep(0)
            if replay.last_seq == before or replay.bytes - start >= cap:
                return

    async def take_messages(self, connection: Connection) -> list[str]:
        """After ``connection`` was woken: take every message ready for it (none once it has been
        replaced). While the page is behind (``connection.behind``: output came as soon as the
        last messages were written), first gather what producers are adding; otherwise send at once.
        Both transports' writers use this."""
        if connection.behind:
            await self.gather_output()
        connection.wakeup.clear()
        if connection.closing is not None:
            raise connection.closing
        messages: list[str] = []
        while not connection.replaced and (message := self.core.take_output(self.sendable_seq())) is not None:
            messages.append(message)
        return messages

    def sendable_seq(self) -> int | None:
        """The highest sequenced frame that may be sent now (None: all of them)."""
        return None

    def is_stored(self) -> bool:
        """Whether every frame is where another worker would find it (always, with no shared store)."""
        return True

    def ping(self, ping_id: int) -> None:
        self.core.ping(ping_id)
        self.notify()

    async def deliver(self, text: str | bytes, frames: list[Frame] | None, run_here: RunHere) -> list[Command]:
        return run_here(self, text, frames)

    def emit(self, run: int, props_json: str) -> bool:
        """Queue an update of ``run``; False (nothing queued) once the run has ended."""
        queued = self.core.emit_update(run, props_json)
        self.notify()
        return queued

    def end(self, run: int, reason: EndReason, error: ErrorInfo | None = None) -> bool:
        """End run ``run``; False when it had already ended."""
        ended = self.core.end_run(run, reason, error)
        self.notify()
        return ended

    def is_active(self, run: int) -> bool:
        return self.core.is_active(run)

    def callback_of(self, run: int) -> str | None:
        return self.core.callback_of(run)

    def has_room(self) -> bool:
        """False while the replay buffer is full (see ``wait_for_room``)."""
        return self.core.has_room()

    async def wait_for_room(self) -> None:
        """Wait while the replay buffer is full (backpressure)."""
        while not self.core.has_room():
            self._room.clear()
            await self._room.wait()


def expire_later(live: LiveSession, grace: float, close: Callable[[], object]) -> None:
    """Call ``close`` after ``grace`` seconds (at once when 0) unless a connection binds ``live``
    meanwhile; the timer is ``live.expiry`` (a resume cancels it)."""

    def expire() -> None:
        if live.connection is None:
            close()

    if grace <= 0:
        expire()
    else:
        live.expiry = asyncio.get_running_loop().call_later(grace, expire)


class SessionStore(Protocol):
    """Where sessions live. The in-process store is the default; the Redis store shares them
    between workers. Its methods raise ``SessionStoreError`` when the store cannot serve."""

    async def open(self, hello: Hello, binding: str, address: str) -> tuple[SessionHandle, bool]:
        """The session ``hello`` resumes (and True), or a new one (and False).

        ``hello.session`` is a whole token or a bare sid; it resumes only with the session's own
        ``binding`` (tokens.binding of the browser key). A wrong token or binding opens a new session
        and leaves the named one alone. A new session from ``address`` may raise ``TooManySessions``."""
        ...

    async def get(self, token: str, binding: str) -> SessionHandle | None:
        """The session of ``token`` (possibly a handle on one owned elsewhere) when ``binding`` is its
        own, else None."""
        ...

    def detach(self, live: SessionHandle) -> None:
        """The transport of ``live`` went away: keep it for the grace period, then close it."""
        ...

    def close(self, live: SessionHandle) -> None:
        """Forget ``live`` now (the page left, or it expired) and stop its runs."""
        ...

    async def start(self) -> None:
        """Begin background work (the server started serving)."""
        ...

    async def stop(self) -> None:
        """End background work (the server stops)."""
        ...

    def __iter__(self) -> Iterator[LiveSession]:
        """The sessions this process owns."""
        ...

    def __len__(self) -> int: ...


class InProcessSessionStore:
    """Sessions in a dict of this process, keyed by sid; ``on_close`` stops the runs of a closed session."""

    def __init__(self, callbacks: Container[str], limits: Limits, resume_grace: float, on_close: Callable[[LiveSession], None],
                 max_sessions: int = 10_000, max_sessions_per_address: int = 256, budget: ByteBudget | None = None) -> None:
        self._callbacks = callbacks
        self._budget = budget  # replay memory shared by the sessions of this process
        self._on_close = on_close
        self._limits = limits
        self._grace = resume_grace
        self._sessions: dict[str, LiveSession] = {}
        self.caps = SessionCaps(max_sessions, max_sessions_per_address)

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[LiveSession]:
        return iter(list(self._sessions.values()))

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def open(self, hello: Hello, binding: str, address: str) -> tuple[LiveSession, bool]:
        live = self._sessions.get(session_id(hello.session)) if hello.session else None
        if live is not None and presents(hello, binding, live.token, live.binding):
            if live.resume(hello):
                return live, True
            self.close(live)  # its own browser cannot resume it: its runs are lost
        self.caps.admit(address, len(self._sessions))
        core = ServerSession(new_token(), secrets.token_hex(4), self._callbacks, self._limits, self._budget, address)
        live = LiveSession(core, binding, address)
        core.attach(Hello(None, 0))
        self._sessions[live.sid] = live
        self.caps.opened(address)
        return live, False

    async def get(self, token: str, binding: str) -> LiveSession | None:
        live = self._sessions.get(session_id(token))
        if live is None or not (same_secret(token, live.token) and same_secret(binding, live.binding)):
            return None
        return live

    def detach(self, live: SessionHandle) -> None:
        live.connection = None
        found = self._sessions.get(live.sid)
        if found is not None and found is live:
            expire_later(found, self._grace, lambda: self.close(found))  # unless closed or resumed meanwhile

    def close(self, live: SessionHandle) -> None:
        found = self._sessions.get(live.sid)
        if found is None or found is not live:
            return
        found.cancel_expiry()
        del self._sessions[found.sid]
        self.caps.closed(found.address)
        self._on_close(found)

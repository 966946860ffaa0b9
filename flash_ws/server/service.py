"""The transport-independent server side: one place that runs the commands of every session."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from ..callbacks import EventCallbackRegistry
from ..protocol import ByteBudget, CancelRun, Command, ErrorInfo, Hello, Misbehaved, PageLeft, Refused, StartRun
from ..protocol.frames import Frame
from ..protocol.rate import TokenBuckets
from ..protocol.refusals import Refusal
from . import heartbeat, observe
from .draining import WorkerDraining
from .log import RefusalLog, session_name
from .runner import AsyncioStreamRunner, StreamRunner
from .sessions import Connection, InProcessSessionStore, LiveSession, SessionHandle, SessionStore
from .settings import Settings
from .stalls import stalled_refusal
from .sync_steps import SyncSteps

log = logging.getLogger("flash_ws")


class FlashWsService:
    """Owns the session store and the stream runner; transports hand it what clients send.

    ``debug`` (from ``settings.debug``, settable later) lets the page see exception text;
    ``replay_budget`` is the replay memory shared by every session of this process."""

    def __init__(self, callbacks: EventCallbackRegistry, settings: Settings,
                 store: SessionStore | None = None, runner: StreamRunner | None = None) -> None:
        self.callbacks = callbacks
        self.settings = settings
        self.debug = settings.debug
        self.replay_budget = ByteBudget(settings.replay_memory_budget, settings.replay_memory_per_address)
        self._refusals = RefusalLog()
        # the starts of all pages of one client address (a session's core takes from its address's bucket)
        self.address_starts = TokenBuckets(settings.max_starts_per_address_per_second, settings.start_burst_per_address)
        self.draining = False  # set by draining.Drain: no new sessions or runs
        self.connections: dict[Connection, SessionHandle] = {}  # this worker's attached connections
        self.runner: StreamRunner = runner or AsyncioStreamRunner(
            debug=lambda: self.debug, steps=SyncSteps(settings.sync_threads, settings.sync_threads_per_page))
        self.store: SessionStore = store or self._default_store()
        self.key_secret: bytes = settings.secret or secrets.token_bytes(32)  # signs browser keys

    async def share_key_secret(self) -> None:
        """Without ``$FLASH_WS_SECRET``, the workers sharing a Redis sign browser keys with one secret:
        the first to start puts its own there, the others take it."""
        share = getattr(self.store, "share_secret", None)
        if self.settings.secret is None and share is not None:
            self.key_secret = await share(self.key_secret)

    @property
    def worker_id(self) -> str | None:
        """This worker's id in the shared store (None with the in-process store)."""
        return getattr(self.store, "worker", None)

    def _default_store(self) -> SessionStore:
        settings = self.settings
        if settings.redis_url:
            try:
                from .redis_store import RedisSessionStore  # imports redis only when asked for
            except ImportError as exc:
                raise ImportError(f"redis_url needs the redis package: pip install 'flash_ws[redis]' ({exc})") from exc

            made = RedisSessionStore(settings.redis_url, self.callbacks, settings.limits, settings.resume_grace,
                                     settings.worker_ttl, self._closed, self.receive_local,
                                     settings.max_sessions, settings.max_sessions_per_address, settings.redis_inbox_bytes,
                                     self.replay_budget, cluster=settings.redis_cluster,
                                     ahead=settings.redis_ahead_frames, store_interval=settings.redis_store_interval)
            made.stalls.timeout = settings.stalled_session_timeout  # the owner judges pages connected elsewhere
            return made
        return InProcessSessionStore(self.callbacks, settings.limits, settings.resume_grace, self._closed,
                                     settings.max_sessions, settings.max_sessions_per_address, self.replay_budget)

    def _closed(self, live: LiveSession) -> None:
        """A store dropped ``live``: stop its runs, give its replay memory back to the budget, say why."""
        self.runner.cancel_all(live)
        live.core.close()
        reason = live.ending or ("worker_shutdown" if self.draining else "page_left" if live.connection is not None else "expired")
        observe.session_ended(live.token, self.worker_id, reason)

    async def attach(self, hello: Hello, connection: Connection, binding: str, address: str) -> SessionHandle:
        """Open or resume the session ``hello`` names (for the browser of ``binding``, from the client
        ``address``) and bind ``connection`` to it.

        Raises ``SessionStoreError`` when the store cannot serve it now (``TooManySessions`` over a
        cap, ``WorkerDraining`` while this worker shuts down)."""
        if self.draining:
            observe.session_refused(observe.transport_of(connection), self.worker_id, "worker_draining")
            raise WorkerDraining("this worker is shutting down: connect again")
        live, resumed = await self.store.open(hello, binding, address)
        if isinstance(live, LiveSession):  # one of this process: it starts within its address's limit too
            live.core.group_starts = self.address_starts
        live.bind(connection)
        self.connections[connection] = live
        observe.session_attached(live, connection, resumed, hello.seq, self.worker_id, self.settings.transport)
        log.debug("flash_ws: %s %s session %s", connection, "resumed" if resumed else "opened", session_name(live.token))
        return live

    def detach(self, live: SessionHandle, connection: Connection, page_left: bool) -> None:
        """``connection`` ended: close the session if the page left, else keep it to be resumed."""
        self._refusals.summarize(connection, live.token)
        if self.connections.pop(connection, None) is not None:
            observe.connection_closed(connection)
        if live.connection is not connection:
            return  # a newer connection has taken over
        if page_left:
            self.store.close(live)
        else:
            self.store.detach(live)

    def watch(self, live: SessionHandle, connection: Connection) -> asyncio.Task[str]:
        """The heartbeat of ``connection`` (heartbeat.py), which also watches its session for a stall:
        a task whose result says why it ended. A stalled session is ended at once (its replay memory
        goes back), even while the connection's writer is blocked; the connection then closes with
        ``stalled_refusal``."""
        settings = self.settings
        task = asyncio.get_running_loop().create_task(heartbeat.watch(
            live, connection, settings.heartbeat_interval, settings.heartbeat_timeout, settings.stalled_session_timeout))

        def ended(task: asyncio.Task[str]) -> None:
            if not task.cancelled() and task.exception() is None and task.result() == "stalled":
                log.warning("flash_ws: ending session %s of %s: %s", session_name(live.token), connection,
                            self.stalled_refusal().message)
                observe.refused_frame("stalled")
                if isinstance(live, LiveSession):
                    live.ending = "stalled"
                self.store.close(live)
                connection.wakeup.set()

        task.add_done_callback(ended)
        return task

    def stalled_refusal(self) -> Refusal:
        return stalled_refusal(self.settings.stalled_session_timeout)

    async def receive(self, live: SessionHandle, text: str | bytes, frames: list[Frame] | None = None) -> list[Command]:
        """Feed one client message to the session (or to its owner, when another worker owns it);
        ``frames``: the message, decoded already by the admission guard."""
        if live.connection is not None:
            live.connection.last_heard = time.monotonic()
        return await live.deliver(text, frames, self.receive_local)

    def receive_local(self, live: LiveSession, text: str | bytes, frames: list[Frame] | None = None) -> list[Command]:
        """Feed one client message to a session of this process and run the resulting commands."""
        if live.connection is not None:
            live.connection.last_heard = time.monotonic()
        now = time.monotonic()
        pending = live.core.receive_message(text, now) if frames is None else live.core.receive_frames(frames, now)
        observe.acknowledged(live)
        commands: list[Command] = []
        while pending:
            command = pending.pop(0)
            commands.append(command)
            if isinstance(command, (PageLeft, Misbehaved)):
                if isinstance(command, Misbehaved):
                    log.warning("flash_ws: closing session %s: %s", session_name(live.token), command.reason)
                self._refusals.summarize(live.connection or live, live.token)
                self.store.close(live)
                if isinstance(command, PageLeft) and live.connection is not None:  # its event stream ends too
                    live.connection.replaced = True
                    live.connection.wakeup.set()
                return commands  # a Misbehaved connection is closed by its transport (1008, 403 policy)
            if isinstance(command, StartRun) and self.draining:
                live.end(command.run, "refused", ErrorInfo("worker_draining", "this worker is shutting down"))
            elif isinstance(command, StartRun):
                callback = self.callbacks.get(command.cb)
                assert callback is not None  # the session refuses unknown callbacks
                why = callback.arity_refusal(command.args)
                lingering = self.runner.lingering(live)
                limit = self.settings.limits.max_active_runs
                if why is not None:
                    pending[:0] = live.core.refuse_run(command.run, "bad_frame", why)
                elif lingering and len(live.core.active_runs()) + lingering > limit:
                    pending[:0] = live.core.refuse_run(command.run, "too_many_runs", (
                        f"{callback.name} refused: this page has {limit} active runs (the limit), counting {lingering} "
                        "ended run(s) whose sync step still holds a thread"))
                else:
                    self.runner.start(live, command.run, callback, command.args)
            elif isinstance(command, CancelRun):
                self.runner.cancel(live, command.run)
            elif isinstance(command, Refused):
                observe.refused_frame(command.code)
                self._refusals.refused(live.connection or live, live.token, command)
        live.notify()
        return commands

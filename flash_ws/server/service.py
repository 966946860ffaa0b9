"""The transport-independent server side: one place that runs the commands of every session."""

from __future__ import annotations

import logging
import time

from ..callbacks import EventCallbackRegistry
from ..protocol import CancelRun, Command, ErrorInfo, Hello, PageLeft, Refused, StartRun
from . import observe
from .draining import WorkerDraining
from .runner import AsyncioStreamRunner, StreamRunner
from .sessions import Connection, InProcessSessionStore, LiveSession, SessionStore
from .settings import Settings

log = logging.getLogger("flash_ws")


class FlashWsService:
    """Owns the session store and the stream runner; transports hand it what clients send."""

    def __init__(self, callbacks: EventCallbackRegistry, settings: Settings,
                 store: SessionStore | None = None, runner: StreamRunner | None = None) -> None:
        self.callbacks = callbacks
        self.settings = settings
        self.runner: StreamRunner = runner or AsyncioStreamRunner()
        self.store: SessionStore = store or self._default_store()
        self.draining = False  # set by draining.Drain: no new sessions or runs
        self.connections: dict[Connection, LiveSession] = {}  # this worker's attached connections

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

            return RedisSessionStore(settings.redis_url, self.callbacks, settings.limits, settings.resume_grace,
                                     settings.worker_ttl, self._session_closed, self.receive_local)
        return InProcessSessionStore(self.callbacks, settings.limits, settings.resume_grace, self._session_closed)

    def _session_closed(self, live: LiveSession) -> None:
        self.runner.cancel_all(live)
        reason = "worker_shutdown" if self.draining else "page_left" if live.connection is not None else "expired"
        observe.session_ended(live.token, self.worker_id, reason)

    async def attach(self, hello: Hello, connection: Connection) -> LiveSession:
        """Open or resume the session ``hello`` names and bind ``connection`` to it.

        Raises ``SessionStoreError`` when the store cannot serve it now."""
        if self.draining:
            observe.session_refused(observe.transport_of(connection), self.worker_id, "worker_draining")
            raise WorkerDraining("this worker is shutting down: connect again")
        live, resumed = await self.store.open(hello)
        live.bind(connection)
        self.connections[connection] = live
        observe.session_attached(live, connection, resumed, hello.seq, self.worker_id, self.settings.transport)
        log.debug("flash_ws: %s %s session %.6s…", connection, "resumed" if resumed else "opened", live.token)
        return live

    def detach(self, live: LiveSession, connection: Connection, page_left: bool) -> None:
        """``connection`` ended: close the session if the page left, else keep it to be resumed."""
        if self.connections.pop(connection, None) is not None:
            observe.connection_closed(connection)
        if live.connection is not connection:
            return  # a newer connection has taken over
        if page_left:
            self.store.close(live)
        else:
            self.store.detach(live)

    async def receive(self, live: LiveSession, text: str | bytes) -> list[Command]:
        """Feed one client message to the session (or to its owner, when another worker owns it)."""
        if live.connection is not None:
            live.connection.last_heard = time.monotonic()
        if getattr(live, "remote", False):
            return await live.forward(text)  # type: ignore[attr-defined]
        return self.receive_local(live, text)

    def receive_local(self, live: LiveSession, text: str | bytes) -> list[Command]:
        """Feed one client message to a session of this process and run the resulting commands."""
        if live.connection is not None:
            live.connection.last_heard = time.monotonic()
        commands = live.core.receive_message(text)
        observe.acknowledged(live)
        for command in commands:
            if isinstance(command, PageLeft):
                self.store.close(live)
                return commands
            if isinstance(command, StartRun) and self.draining:
                live.core.end_run(command.run, "refused", ErrorInfo("worker_draining", "this worker is shutting down"))
            elif isinstance(command, StartRun):
                callback = self.callbacks.get(command.cb)
                assert callback is not None  # the session refuses unknown callbacks
                self.runner.start(live, command.run, callback, command.args)
            elif isinstance(command, CancelRun):
                self.runner.cancel(live, command.run)
            elif isinstance(command, Refused):
                observe.refused_frame(command.code)
                where = f" ({command.cb} run {command.run})" if command.cb else ""
                log.warning("flash_ws: refused from session %.6s…%s: %s: %s", live.token, where, command.code, command.message)
        live.notify()
        return commands

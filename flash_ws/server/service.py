"""The transport-independent server side: one place that runs the commands of every session."""

from __future__ import annotations

import logging
import time

from ..callbacks import EventCallbackRegistry
from ..protocol import CancelRun, Command, Hello, PageLeft, Refused, StartRun
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
        self.store: SessionStore = store or InProcessSessionStore(
            callbacks, settings.limits, settings.resume_grace, self.runner.cancel_all)

    def attach(self, hello: Hello, connection: Connection) -> LiveSession:
        """Open or resume the session ``hello`` names and bind ``connection`` to it."""
        live, resumed = self.store.open(hello)
        live.bind(connection)
        log.debug("flash_ws: %s %s session %.6s…", connection, "resumed" if resumed else "opened", live.token)
        return live

    def detach(self, live: LiveSession, connection: Connection, page_left: bool) -> None:
        """``connection`` ended: close the session if the page left, else keep it to be resumed."""
        if live.connection is not connection:
            return  # a newer connection has taken over
        if page_left:
            self.store.close(live)
        else:
            self.store.detach(live)

    def receive(self, live: LiveSession, text: str | bytes) -> list[Command]:
        """Feed one client message to the session and run the resulting commands."""
        if live.connection is not None:
            live.connection.last_heard = time.monotonic()
        commands = live.core.receive_message(text)
        for command in commands:
            if isinstance(command, PageLeft):
                self.store.close(live)
                return commands
            if isinstance(command, StartRun):
                callback = self.callbacks.get(command.cb)
                assert callback is not None  # the session refuses unknown callbacks
                self.runner.start(live, command.run, callback, command.args)
            elif isinstance(command, CancelRun):
                self.runner.cancel(live, command.run)
            elif isinstance(command, Refused):
                where = f" ({command.cb} run {command.run})" if command.cb else ""
                log.warning("flash_ws: refused from session %.6s…%s: %s: %s", live.token, where, command.code, command.message)
        live.notify()
        return commands

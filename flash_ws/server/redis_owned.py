"""The owner side: sessions this worker owns (``OwnedSession``) and the ``Recorder`` that stores
every sequenced frame they produce in Redis.

A page connected to the owner gets a frame as soon as it exists, at most ``ahead`` frames past what
Redis confirmed (docs/protocol.md, "Frames sent before Redis holds them"); a page connected to another
worker reads stored frames only. The recorder stores what changed every ``interval`` seconds, one
pipeline for every owned session: their new frames, their state (``redis_keys.APPEND``: one call for
all on one Redis, one per session on a cluster) and, for a page connected to another worker, its
control frames and a ``Wake``. What the page acknowledged is trimmed with the next output, or within
a second, and never stored if it was not yet. While Redis fails, output is stored later and pages
get at most ``ahead`` frames past the store. A session Redis forgot (it restarted) is stored again
from memory and its page reconnects; a session another worker took over is given up here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from redis.exceptions import NoScriptError, RedisError

from ..protocol import ServerSession
from . import redis_keys as keys
from .redis_bus import Bus, Control, Reconnect, Replaced, Wake, Welcomed
from .redis_client import is_cluster
from .redis_outage import Outage
from .redis_remote import RemoteConnection
from .sessions import Connection, LiveSession, SessionMoved

log = logging.getLogger("flash_ws")


class OwnedSession(LiveSession):
    """A session this worker owns: frames go to a page connected here before they are stored in
    Redis (``ahead`` of it at most), to a page connected elsewhere once stored."""

    def __init__(self, core: ServerSession, recorder: Recorder, binding: str, address: str = "") -> None:
        super().__init__(core, binding, address)
        self.recorder = recorder
        self.stored_seq = core.replay.last_seq
        self.trimmed_seq = core.replay.first_seq - 1  # frames up to it are trimmed in Redis too
        self.trim_timer: asyncio.TimerHandle | None = None
        self.refreshed_at = time.monotonic()  # when its keys' TTLs were last renewed
        self.stored_runs: dict[int, str] | None = None  # the active runs as last sent to Redis (None: send them)
        self.closed = False

    def sendable_seq(self) -> int:
        """The last frame a page connected here may have: at most ``ahead`` past what Redis holds
        (a run's frames do not wait until Redis knows the run: docs/protocol.md, "Resume")."""
        return self.stored_seq + self.recorder.ahead

    def is_stored(self) -> bool:
        """Whether Redis holds every frame a survivor would need (acknowledged ones are not needed)."""
        return self.stored_seq >= self.core.replay.last_seq or self.core.replay.first_seq > self.core.replay.last_seq

    def notify(self) -> None:
        core, connection = self.core, self.connection
        remote = isinstance(connection, RemoteConnection)
        if core.replay.last_seq > self.stored_seq or (remote and core.has_control()):
            self.recorder.mark_dirty(self)
        elif core.replay.first_seq - 1 > self.trimmed_seq:
            self.recorder.trim_soon(self)  # acknowledged frames: trimmed with the next output, or in a second
        if connection is not None and not remote and not connection.wakeup.is_set() and core.has_output(self.sendable_seq()):
            connection.wakeup.set()
        self.wake_producers()

    def bind(self, connection: Connection) -> None:
        previous = self.connection
        super().bind(connection)
        if isinstance(previous, RemoteConnection):
            self.recorder.bus.send(previous.worker, Replaced(self.sid, previous.conn_id))
        self.recorder.mark_dirty(self)  # the state in Redis names where the connection is

    def connection_worker(self) -> str:
        """The worker holding the page's connection ("" when none)."""
        if self.connection is None:
            return ""
        return self.connection.worker if isinstance(self.connection, RemoteConnection) else self.recorder.worker

    def attach_remote(self, worker: str, conn_id: str, seq: int) -> bool:
        """The page resumed on ``worker`` after frame ``seq``: serve it from Redis, welcome first.
        False (nothing changed) when this worker never issued ``seq`` or dropped what follows it."""
        if not self.core.replay.can_replay_from(seq):
            return False
        self.cancel_expiry()
        self.bind(RemoteConnection(worker, conn_id))
        welcome = self.core.attach_elsewhere(seq, max(seq, self.stored_seq))  # frames after seq: stored next
        self.recorder.bus.send(worker, Welcomed(self.sid, conn_id, welcome))
        self.notify()
        return True

    def stored(self, seq: int) -> None:
        """Frames up to ``seq`` are stored: they may go to the page (read from Redis when remote)."""
        held_back = self.sendable_seq() < self.core.replay.last_seq  # by the window
        self.stored_seq = max(self.stored_seq, seq)
        if isinstance(self.connection, RemoteConnection):
            self.core.sent_elsewhere(self.stored_seq)
            self.notify()
        elif held_back or self.core.replay.last_seq > self.stored_seq:
            self.notify()  # frames may go out now, or more are to be stored

    def reconnect(self, why: str) -> None:
        """Close the page's connection, wherever it is, so that it reconnects and resumes."""
        connection = self.connection
        if isinstance(connection, RemoteConnection):
            self.recorder.bus.send(connection.worker, Reconnect(self.sid, why))
        elif connection is not None:
            connection.closing = SessionMoved(why)
            connection.wakeup.set()


class Recorder:
    """Stores what owned sessions produce (``run``); ``on_taken`` gives up a session that another
    worker owns now. Keys are kept ``key_ttl`` seconds, renewed whenever a session is stored."""

    def __init__(self, redis: Any, bus: Bus, outage: Outage, key_ttl: int,
                 on_taken: Callable[[OwnedSession], None], ahead: int = 1024, interval: float = 0.02) -> None:
        self.redis, self.bus, self.outage = redis, bus, outage
        self.worker = bus.worker
        self.key_ttl = key_ttl
        self.ahead = ahead  # frames a page connected here may get past what Redis confirmed
        self.interval = interval  # seconds between two stores (each of every session that changed)
        self._per_session = is_cluster(redis)  # a script touches one slot: one APPEND call per session
        self._on_taken = on_taken
        self._append = redis.register_script(keys.APPEND)
        self._restore = redis.register_script(keys.RESTORE)
        self._dirty: dict[OwnedSession, None] = {}
        self._dirty_event = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()

    def mark_dirty(self, live: OwnedSession) -> None:
        """Store ``live`` with the next batch."""
        if live not in self._dirty and not live.closed:  # every update of a burst comes here: once is enough
            self._dirty[live] = None
            self._dirty_event.set()

    def discard(self, live: OwnedSession) -> None:
        """``live`` closed: nothing of it is stored any more."""
        self._dirty.pop(live, None)

    def trim_soon(self, live: OwnedSession, delay: float = 1.0) -> None:
        """Trim what the page acknowledged within ``delay`` (sooner when output is stored meanwhile)."""
        def due() -> None:
            live.trim_timer = None
            if live.core.replay.first_seq - 1 > live.trimmed_seq:
                self.mark_dirty(live)

        if live.trim_timer is None and not live.closed:
            live.trim_timer = asyncio.get_running_loop().call_later(delay, due)

    def refresh_idle(self, sessions: Iterable[OwnedSession]) -> None:
        """Sessions with no output for a while: store them again so their keys' TTLs are renewed."""
        stale = time.monotonic() - self.key_ttl / 4
        for live in sessions:
            if live.refreshed_at < stale:
                self.mark_dirty(live)

    async def run(self) -> None:
        """Store what owned sessions produced, a batch every ``interval``; on failure keep it and retry.
        The append script is loaded first, so that the first batch is not refused ``NOSCRIPT``."""
        try:
            await self.redis.script_load(keys.APPEND)
        except RedisError:
            pass  # Redis is not reachable yet: the first batch fails, waits for it and loads the script then
        delay = 0.05
        while True:
            await self._dirty_event.wait()
            await asyncio.sleep(self.interval)
            self._dirty_event.clear()
            batch, self._dirty = list(self._dirty), {}
            try:
                if await self._record(batch):
                    self.outage.recovered()
                delay = 0.05
            except RedisError as exc:
                self.outage.failed(exc, f"output of {len(batch)} session(s) held until it returns")
                for live in batch:
                    live.stored_runs = None  # perhaps not stored: sent again
                    self.mark_dirty(live)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _record(self, batch: list[OwnedSession]) -> bool:
        """Store the batch's new frames (the script's SHA alone: no check per pipeline that Redis has
        it; loaded again when Redis says it lost it); False when there was nothing to store."""
        plan: list[tuple[OwnedSession, int]] = []  # session and the last seq sent along
        calls: list[tuple[list[str], list[Any]]] = []  # APPEND's keys and its entry, per session
        messages: list[tuple[str, Control | Wake]] = []  # for remote connections, after the frames are stored
        now = time.monotonic()
        for live in batch:
            if live.closed:
                continue
            core = live.core
            acked = core.replay.first_seq - 1
            seq = max(live.stored_seq, acked)  # acknowledged frames are never stored
            pairs: list[Any] = [item for number, text, _size in core.replay.sized_after(seq) for item in (number, text)]
            if pairs:
                seq = pairs[-2]  # the last one sent along
            runs = core.active_run_callbacks()
            runs_arg = "" if runs is live.stored_runs else json.dumps(runs)  # the same object: unchanged
            live.stored_runs = runs
            renew = now - live.refreshed_at >= self.key_ttl / 4
            if renew:
                live.refreshed_at = now  # if this store fails, renewed a quarter of the TTL later: in time
            sid = live.sid
            calls.append(([keys.meta(sid), keys.frames(sid)],
                          [core.epoch, core.highest_run, runs_arg, acked, live.connection_worker(), self.key_ttl if renew else 0, pairs]))
            plan.append((live, seq))
            live.trimmed_seq = acked
            connection = live.connection
            if isinstance(connection, RemoteConnection):
                messages += [(connection.worker, Control(live.sid, connection.conn_id, control))
                             for control in core.take_control()]
                if seq > live.stored_seq:
                    messages.append((connection.worker, Wake(live.sid)))
        if not plan:
            return False
        pipe = self.redis.pipeline(transaction=False)
        groups = [[call] for call in calls] if self._per_session else [calls]
        for group in groups:
            names = [name for call_keys, _entry in group for name in call_keys]
            pipe.evalsha(self._append.sha, len(names), *names, self.worker, orjson.dumps([entry for _keys, entry in group]))
        for worker, message in messages:
            await self.bus.queue(pipe, worker, message)
        results = (await pipe.execute(raise_on_error=False))[:len(groups)]
        if any(isinstance(result, NoScriptError) for result in results):  # Redis restarted and lost its scripts
            await self.redis.script_load(keys.APPEND)
            for live, _seq in plan:
                live.stored_runs = None
                self.mark_dirty(live)
            return True
        failed = next((result for result in results if isinstance(result, Exception)), None)
        if failed is not None:
            raise failed if isinstance(failed, RedisError) else RedisError(str(failed))
        replies = [reply for result in results for reply in result]
        restoring: list[OwnedSession] = []
        for (live, seq), result in zip(plan, replies, strict=True):
            if live.closed:
                continue  # closed meanwhile: its keys are being deleted, never put back
            if result == -1:
                restoring.append(live)
            elif result == -2:
                self._on_taken(live)
            else:
                live.stored(min(seq, int(result)))
        if restoring:
            await self.restore(restoring)
        return True

    async def restore(self, sessions: list[OwnedSession]) -> None:
        """Redis forgot these sessions (it restarted): store them again from this worker's memory,
        then make their pages reconnect, so they resume exactly and re-send what Redis lost."""
        sessions = [live for live in sessions if not live.closed]
        await self.redis.script_load(keys.RESTORE)  # a restarted Redis lost it; on a cluster, every master gets it
        pipe = self.redis.pipeline(transaction=False)
        for live in sessions:
            core = live.core
            args: list[Any] = [self.worker, core.epoch, core.replay.first_seq - 1, core.highest_run,
                               json.dumps(core.active_run_callbacks()), live.connection_worker(), self.key_ttl,
                               live.token, live.binding]
            for seq, text in core.replay.after(core.replay.first_seq - 1):
                args += [seq, text]
            await self._restore(keys=[keys.meta(live.sid), keys.frames(live.sid)], args=args, client=pipe)
        for live in sessions:
            pipe.sadd(keys.owned(self.worker), live.sid)  # another slot on a cluster: not in the script
        results = (await pipe.execute())[:len(sessions)]
        restored = [live for live, result in zip(sessions, results, strict=True) if result == 1]
        for live in restored:
            if live.closed:  # closed while being restored: delete it again
                self.forget(live.sid)
        restored = [live for live in restored if not live.closed]
        if restored:
            log.warning("flash_ws: Redis had forgotten %d session(s) of this worker (it restarted): stored them again", len(restored))
        for live in restored:
            self.mark_dirty(live)
            live.reconnect("the session store restarted: reconnect to resume")

    def forget(self, sid: str) -> None:
        """Delete the keys of a closed session (in the background; they expire anyway)."""
        task = asyncio.get_running_loop().create_task(self._forget(sid))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _forget(self, sid: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(keys.meta(sid), keys.frames(sid))
        pipe.srem(keys.owned(self.worker), sid)
        try:
            await pipe.execute()
        except RedisError as exc:
            log.warning("flash_ws: could not delete session %s from Redis (%s); its keys expire by themselves", sid, exc)

"""Sessions shared by several workers through Redis, with no sticky routing.

Each session is *owned* by the worker that opened it: that worker keeps its ``ServerSession``, runs
its streams and stores every sequenced frame in Redis before any page sees it (see
``redis_keys``). A page that (re)connects to another worker is served from Redis by a
``RemoteSession``; what it sends is forwarded to the owner's inbox. Workers refresh a liveness key;
when one disappears, a survivor takes its sessions over and ends their runs with the error
``worker_lost`` (the page applies their ``reset_props``). When Redis fails, output is held (never
sent unstored) and connections are refused with a clear reason until it returns; a session Redis
forgot (it restarted) ends honestly: the page is told its session was lost. Redis names sessions by
their public id (sid); a page resumes only with its session's browser binding, on any worker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ..protocol import ByteBudget, ErrorInfo, Hello, Limits, ServerSession, encode_frame
from ..protocol.frames import Welcome
from ..protocol.tokens import new_token, same_secret, session_id
from . import redis_keys as keys
from .redis_inbox import Inboxes
from .redis_remote import RemoteConnection, RemoteSession
from .sessions import Connection, LiveSession, SessionCaps, SessionMoved, StoreUnavailable, expire_later, presents

log = logging.getLogger("flash_ws")
READ_COUNT = 1000
UNAVAILABLE = "the session store (Redis) is unavailable"  # what a page may read: no host, port or password


class OwnedSession(LiveSession):
    """A session this worker owns: frames go to the page only once they are stored in Redis."""

    def __init__(self, core: ServerSession, store: RedisSessionStore, binding: str, address: str = "") -> None:
        super().__init__(core, binding, address)
        self.store = store
        self.stored_seq = core.replay.last_seq
        self.trimmed_seq = core.replay.first_seq - 1  # frames up to it are trimmed in Redis too
        self.trim_timer: asyncio.TimerHandle | None = None
        self.refreshed_at = time.monotonic()  # when its keys' TTLs were last renewed
        self.closed = False

    def sendable_seq(self) -> int:
        return self.stored_seq

    def notify(self) -> None:
        replay, remote = self.core.replay, isinstance(self.connection, RemoteConnection)
        if replay.last_seq > self.stored_seq or (remote and self.core.has_control()):
            self.store.mark_dirty(self)
        elif replay.first_seq - 1 > self.trimmed_seq:
            self.store.trim_soon(self)  # acknowledged frames: trimmed with the next output, or in a second
        if self.connection is not None and not isinstance(self.connection, RemoteConnection):
            if self.core.has_output() and (self.core.sent_seq < self.stored_seq or self.core.has_control()):
                self.connection.wakeup.set()
        if self.core.has_room():
            self._room.set()
        else:
            self._room.clear()

    def bind(self, connection: Connection) -> None:
        previous = self.connection
        super().bind(connection)
        if isinstance(previous, RemoteConnection):
            self.store.send(previous.worker, "replaced", self.sid, c=previous.conn_id)
        self.store.mark_dirty(self)  # the state in Redis names where the connection is

    def connection_worker(self) -> str:
        if self.connection is None:
            return ""
        return self.connection.worker if isinstance(self.connection, RemoteConnection) else self.store.worker


class RedisSessionStore:
    """The ``SessionStore`` on Redis. ``on_close`` stops a closed session's runs; ``on_message``
    runs what a page sent (forwarded by another worker) on a session owned here."""

    def __init__(self, url: str, callbacks: Any, limits: Limits, resume_grace: float, worker_ttl: float,
                 on_close: Callable[[LiveSession], None], on_message: Callable[[LiveSession, str], object],
                 max_sessions: int = 10_000, max_sessions_per_address: int = 256, inbox_bytes: int = 16 << 20,
                 budget: ByteBudget | None = None) -> None:
        self.url = url
        self._budget = budget  # replay memory shared by the sessions this worker owns
        # One quick retry on a broken connection (after a Redis restart every pooled connection is);
        # the calls are idempotent or harmless to repeat (inbox wakes, acks), timeouts are not retried.
        retry = Retry(ExponentialBackoff(cap=0.2, base=0.02), 2, supported_errors=(RedisConnectionError,))
        self.redis = aioredis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=2, retry=retry,
                                             socket_timeout=max(5.0, worker_ttl), health_check_interval=10)
        self.worker = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.limits = limits
        self._callbacks = callbacks
        self._grace = resume_grace
        self._ttl = worker_ttl
        self._key_ttl = int(max(86400, 10 * resume_grace))  # refreshed while the owner lives
        self._on_close = on_close
        self._on_message = on_message
        self._owned: dict[str, OwnedSession] = {}  # by sid
        self._remote: dict[str, set[RemoteSession]] = {}  # by sid
        self.caps = SessionCaps(max_sessions, max_sessions_per_address)
        self.inboxes = Inboxes(self.redis, inbox_bytes)
        self._dirty: dict[OwnedSession, None] = {}
        self._dirty_event = asyncio.Event()
        self._append = self.redis.register_script(keys.APPEND)
        self._claim = self.redis.register_script(keys.CLAIM)
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._outage_since: float | None = None
        self._missing: dict[str, float] = {}  # workers whose liveness key was missing, since when
        self._beat = asyncio.Event()
        self._restore_script = self.redis.register_script(keys.RESTORE)

    # ----- the SessionStore interface

    def __len__(self) -> int:
        return len(self._owned)

    def __iter__(self) -> Iterator[LiveSession]:
        return iter(list(self._owned.values()))

    async def start(self) -> None:
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._store_loop(), name="flash_ws redis store"),
                       loop.create_task(self._inbox_loop(), name="flash_ws redis inbox"),
                       loop.create_task(self._liveness_loop(), name="flash_ws redis liveness")]
        for task in self._tasks:
            task.add_done_callback(_report_crash)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        try:  # survivors take the sessions over at once instead of after worker_ttl
            await self.redis.delete(keys.alive(self.worker))
        except RedisError:
            pass
        await self.redis.aclose()

    async def open(self, hello: Hello, binding: str, address: str) -> tuple[LiveSession, bool]:  # type: ignore[override]
        await self.start()
        if hello.session:
            local = self._owned.get(session_id(hello.session))
            if local is None:
                found = await self._open_stored(hello, binding)
                if found is not None:
                    return found, True
            elif presents(hello, binding, local.token, local.binding):
                if local.resume(hello):
                    return local, True
                self.close(local)  # its own browser cannot resume it: its runs are lost
        return await self._create(binding, address), False

    async def get(self, token: str, binding: str) -> LiveSession | RemoteSession | None:  # type: ignore[override]
        await self.start()
        sid = session_id(token)
        local = self._owned.get(sid)
        if local is not None:
            if not (same_secret(token, local.token) and same_secret(binding, local.binding)):
                return None
            if isinstance(local.connection, RemoteConnection):
                self.send(local.connection.worker, "heard", sid)
            return local
        owner, last_seq, conn, stored_token, stored_binding = await self._call(
            self.redis.hmget(keys.meta(sid), "owner", "last_seq", "conn", "token", "bind"))
        if owner is None or not (same_secret(token, stored_token or "") and same_secret(binding, stored_binding or "")):
            return None
        if conn and conn != owner:
            self.send(conn, "heard", sid)  # a POST: the page is alive (its event stream is there)
        if self._is_dead(owner):
            adopted = await self._adopt(sid, owner)
            if adopted is not None:
                return adopted
        return RemoteSession(self, sid, token, owner, int(last_seq))

    def detach(self, live: LiveSession | RemoteSession) -> None:  # type: ignore[override]
        if isinstance(live, RemoteSession):
            self._drop_remote(live)
            self.send(live.owner, "detach", live.sid, c=live.conn_id)
            return
        assert isinstance(live, OwnedSession)
        live.connection = None
        self.mark_dirty(live)
        expire_later(live, self._grace, lambda: self._owned.get(live.sid) is live and self.close(live))

    def close(self, live: LiveSession | RemoteSession) -> None:  # type: ignore[override]
        if isinstance(live, RemoteSession):
            self._drop_remote(live)
            self.send(live.owner, "close", live.sid)
            return
        assert isinstance(live, OwnedSession)
        self._cancel_expiry(live)
        if not self._disown(live):
            return
        self._dirty.pop(live, None)
        self._on_close(live)
        self._spawn(self._forget(live.sid))

    def _own(self, live: OwnedSession) -> None:
        self._owned[live.sid] = live
        self.caps.opened(live.address)

    def _disown(self, live: OwnedSession) -> bool:
        """Forget ``live`` here (it is closed); False when it was not owned any more."""
        if self._owned.get(live.sid) is not live:
            return False
        del self._owned[live.sid]
        self.caps.closed(live.address)
        live.closed = True
        return True

    # ----- opening sessions

    async def _create(self, binding: str, address: str) -> OwnedSession:
        self.caps.admit(address, len(self._owned))
        core = ServerSession(new_token(), secrets.token_hex(4), self._callbacks, self.limits, budget=self._budget)
        core.attach(Hello(None, 0))
        live = OwnedSession(core, self, binding, address)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.meta(live.sid), mapping={"owner": self.worker, "token": core.token, "bind": binding,
                                                "epoch": core.epoch, "last_seq": 0, "acked": 0,
                                                "highest_run": 0, "runs": "{}", "conn": self.worker})
        pipe.expire(keys.meta(live.sid), self._key_ttl)
        pipe.sadd(keys.owned(self.worker), live.sid)
        await self._call(pipe.execute())
        self._own(live)
        return live

    async def _open_stored(self, hello: Hello, binding: str) -> LiveSession | RemoteSession | None:
        """Resume a session owned by another worker (or taken over from a dead one), if ``hello``
        and ``binding`` are its own; a stranger's hello (None) leaves it alone."""
        assert hello.session is not None
        sid = session_id(hello.session)
        state = await self._call(self.redis.hgetall(keys.meta(sid)))
        if not state or not presents(hello, binding, state.get("token", ""), state.get("bind", "")):
            return None
        owner = state["owner"]
        if self._is_dead(owner):
            adopted = await self._adopt(sid, owner)
            if adopted is not None and adopted.resume(hello):
                return adopted
            if adopted is not None:
                self.close(adopted)
            return None
        last_seq, acked = int(state["last_seq"]), int(state["acked"])
        if owner == self.worker or not acked <= hello.seq <= last_seq:
            self.send(owner, "close", sid)
            return None
        remote = RemoteSession(self, sid, state["token"], owner, hello.seq)  # its welcome comes from the owner
        self._remote.setdefault(sid, set()).add(remote)
        self.send(owner, "attach", sid, w=self.worker, c=remote.conn_id, s=str(hello.seq))
        return remote

    async def _adopt(self, sid: str, dead: str) -> OwnedSession | None:
        """Own the session of a dead worker: end its runs as lost (the page resets them)."""
        claimed = await self._call(self._claim(keys=[keys.meta(sid), keys.owned(self.worker)], args=[dead, self.worker, sid]))
        if not claimed:
            return None
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.meta(sid))
        pipe.xrange(keys.frames(sid))
        state, entries = await self._call(pipe.execute())
        frames = [(int(entry_id.split("-")[0]), fields["f"]) for entry_id, fields in entries]
        runs = {int(run): cb for run, cb in json.loads(state["runs"]).items()}
        core = ServerSession.restore(state["token"], state["epoch"], self._callbacks, self.limits, frames,
                                     int(state["last_seq"]), int(state["highest_run"]), runs, budget=self._budget)
        lost = core.lose_runs(ErrorInfo("worker_lost", f"the worker running this stream ({dead}) stopped"))
        live = OwnedSession(core, self, state.get("bind", ""))
        live.stored_seq = int(state["last_seq"])
        self._own(live)
        log.warning("flash_ws: took over session %s from dead worker %s; runs lost: %s", sid, dead, lost or "none")
        # Its page (connected to another worker, or to this one) reconnects: it resumes here and
        # re-sends what the dead worker never ran.
        for worker in {state.get("conn", ""), self.worker} - {"", dead}:
            self.send(worker, "reconnect", sid, m="the worker running this session's streams stopped: reconnect")
        self.mark_dirty(live)
        self.detach(live)
        return live

    # ----- frames to Redis (owner side)

    def trim_soon(self, live: OwnedSession, delay: float = 1.0) -> None:
        """Trim what the page acknowledged within ``delay`` (sooner when output is stored meanwhile)."""
        def due() -> None:
            live.trim_timer = None
            if live.core.replay.first_seq - 1 > live.trimmed_seq:
                self.mark_dirty(live)

        if live.trim_timer is None and not live.closed:
            live.trim_timer = asyncio.get_running_loop().call_later(delay, due)

    def mark_dirty(self, live: OwnedSession) -> None:
        if not live.closed:
            self._dirty[live] = None
            self._dirty_event.set()

    async def _store_loop(self) -> None:
        """Store what owned sessions produced, a batch per loop turn; on failure keep it and retry."""
        delay = 0.05
        while True:
            await self._dirty_event.wait()
            await asyncio.sleep(0)
            self._dirty_event.clear()
            batch, self._dirty = list(self._dirty), {}
            try:
                if await self._store(batch):
                    self._recovered()
                delay = 0.05
            except RedisError as exc:
                self._outage(exc, f"output of {len(batch)} session(s) held until it returns")
                for live in batch:
                    self.mark_dirty(live)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _store(self, batch: list[OwnedSession]) -> bool:
        """Store the batch's new frames; False when there was nothing to store."""
        pipe = self.redis.pipeline(transaction=False)
        plan: list[tuple[OwnedSession, int, int]] = []  # session, last seq sent along, index of its reply
        for live in batch:
            if live.closed:
                continue
            core = live.core
            args: list[Any] = [self.worker, core.epoch, core.highest_run, json.dumps(core.active_run_callbacks()),
                               core.replay.first_seq - 1, live.connection_worker(), self._key_ttl]
            seq = live.stored_seq
            for text in core.replay.after(live.stored_seq):
                seq += 1
                args += [seq, text]
            await self._append(keys=[keys.meta(live.sid), keys.frames(live.sid)], args=args, client=pipe)
            plan.append((live, seq, len(pipe) - 1))
            live.trimmed_seq = core.replay.first_seq - 1
            connection = live.connection
            if isinstance(connection, RemoteConnection):
                for control in core.take_control():
                    await self._queue(pipe, connection.worker, "ctl", live.sid, c=connection.conn_id, m=control)
                if seq > live.stored_seq:
                    await self._queue(pipe, connection.worker, "wake", live.sid)
        if not plan:
            return False
        results = await pipe.execute(raise_on_error=False)
        restoring: list[OwnedSession] = []
        for live, seq, index in plan:
            result = results[index]
            if isinstance(result, Exception):
                raise result if isinstance(result, RedisError) else RedisError(str(result))
            if live.closed:
                continue  # closed meanwhile: its keys are being deleted, never put back
            if result == -1:
                restoring.append(live)
            elif result == -2:
                self._give_up(live)
            else:
                live.stored_seq = max(live.stored_seq, min(seq, int(result)))
                live.refreshed_at = time.monotonic()
                if isinstance(live.connection, RemoteConnection):
                    live.core.sent_seq = max(live.core.sent_seq, live.stored_seq)
                live.notify()
        if restoring:
            await self._restore(restoring)
        return True

    async def _restore(self, sessions: list[OwnedSession]) -> None:
        """Redis forgot these sessions (it restarted): store them again from this worker's memory,
        then make their pages reconnect, so they resume exactly and re-send what Redis lost."""
        sessions = [live for live in sessions if not live.closed]
        pipe = self.redis.pipeline(transaction=False)
        for live in sessions:
            core = live.core
            args: list[Any] = [self.worker, core.epoch, core.replay.first_seq - 1, core.highest_run,
                               json.dumps(core.active_run_callbacks()), live.connection_worker(), self._key_ttl,
                               live.sid, live.token, live.binding]
            seq = core.replay.first_seq - 1
            for text in core.replay.after(seq):
                if seq >= live.stored_seq:
                    break
                seq += 1
                args += [seq, text]
            await self._restore_script(keys=[keys.meta(live.sid), keys.frames(live.sid), keys.owned(self.worker)],
                                       args=args, client=pipe)
        results = await pipe.execute()
        restored = [live for live, result in zip(sessions, results, strict=True) if result == 1]
        for live in restored:
            if live.closed:  # closed while being restored: delete it again
                self._spawn(self._forget(live.sid))
        restored = [live for live in restored if not live.closed]
        if restored:
            log.warning("flash_ws: Redis had forgotten %d session(s) of this worker (it restarted): stored them again", len(restored))
        for live in restored:
            self.mark_dirty(live)
            self._reconnect_page(live, "the session store restarted: reconnect to resume")

    def _give_up(self, live: OwnedSession) -> None:
        """Another worker owns the session now (it took this one for dead): stop its runs here and
        send its page there."""
        log.error("flash_ws: session %s was taken over by another worker: its runs here stop", live.sid)
        self._reconnect_page(live, "another worker took this session over: reconnect to resume")
        self._cancel_expiry(live)
        self._disown(live)
        live.closed = True
        self._on_close(live)

    def _reconnect_page(self, live: OwnedSession, why: str) -> None:
        """Close the page's connection, wherever it is, so that it reconnects and resumes."""
        connection = live.connection
        if isinstance(connection, RemoteConnection):
            self.send(connection.worker, "reconnect", live.sid, m=why)
        elif connection is not None:
            connection.closing = SessionMoved(why)
            connection.wakeup.set()

    async def _forget(self, sid: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(keys.meta(sid), keys.frames(sid))
        pipe.srem(keys.owned(self.worker), sid)
        try:
            await pipe.execute()
        except RedisError as exc:
            log.warning("flash_ws: could not delete session %s from Redis (%s); its keys expire by themselves", sid, exc)

    # ----- frames from Redis (connection side)

    async def read_frames(self, sid: str, after: int) -> list[tuple[int, str]]:
        entries = await self._call(self.redis.xrange(keys.frames(sid), f"{after + 1}-0", "+", count=READ_COUNT))
        if len(entries) == READ_COUNT:
            self._wake_remote(sid)  # more to read: come back
        return [(int(entry_id.split("-")[0]), fields["f"]) for entry_id, fields in entries]

    async def forward(self, remote: RemoteSession, message: str) -> None:
        """Pass a page's message (re-encoded from its decoded frames) to the session's owner (as read
        when the handle was made: a new owner makes the page reconnect, which makes a new handle).
        Raises ``StoreUnavailable`` when Redis fails or the owner's inbox is full."""
        if remote.owner == self.worker:
            local = self._owned.get(remote.sid)
            if local is not None:
                self._on_message(local, message)
                return
        if not await self._call(self.inboxes.push(remote.owner, {"op": "msg", "t": remote.sid, "m": message})):
            log.warning("flash_ws: %s", self.inboxes.refusal(f"a message of {len(message.encode())} bytes for session {remote.sid}"))
            raise StoreUnavailable(f"{UNAVAILABLE}: the worker running this session has too much to handle; try again later")

    # ----- messages between workers

    def send(self, worker: str, op: str, sid: str, **fields: str) -> None:
        """Queue ``op`` for ``worker`` (fire and forget; failures are logged)."""
        if worker == self.worker:
            self._handle({"op": op, "t": sid, **fields})
            return
        self._spawn(self._send(worker, op, sid, fields))

    async def _send(self, worker: str, op: str, sid: str, fields: dict[str, str]) -> None:
        try:
            if not await self.inboxes.push(worker, {"op": op, "t": sid, **fields}):
                log.warning("flash_ws: %s", self.inboxes.refusal(f"{op} for worker {worker}"))
        except RedisError as exc:
            log.warning("flash_ws: could not send %s for worker %s through Redis: %s", op, worker, exc)

    async def _queue(self, pipe: Any, worker: str, op: str, sid: str, **fields: str) -> None:
        await self.inboxes.push(worker, {"op": op, "t": sid, **fields}, pipe)

    async def _inbox_loop(self) -> None:
        last, delay = "0-0", 0.05
        handled: list[tuple[str, dict[str, str]]] = []  # to delete from the inbox (kept while Redis fails)
        while True:
            try:
                await self.inboxes.handled(self.worker, handled)
                handled = []
                replies = await self.redis.xread({keys.inbox(self.worker): last}, count=500, block=1000)
                delay = 0.05
            except RedisError as exc:
                self._outage(exc, "messages from other workers wait")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            for _stream, entries in replies or ():
                for entry_id, fields in entries:
                    last = entry_id
                    try:
                        self._handle(fields)
                    except Exception:
                        log.exception("flash_ws: handling %s from another worker failed", fields.get("op"))
                handled += entries

    def _handle(self, message: dict[str, str]) -> None:
        op, sid = message["op"], message["t"]
        if op in ("msg", "attach", "detach", "close"):
            live = self._owned.get(sid)
            if live is None:
                log.debug("flash_ws: %s for session %s, which this worker does not own (any more)", op, sid)
                return
            if op == "msg":
                self._on_message(live, message["m"])
            elif op == "attach":
                self._attach_remote(live, message["w"], message["c"], int(message["s"]))
            elif op == "detach":
                if isinstance(live.connection, RemoteConnection) and live.connection.conn_id == message["c"]:
                    self.detach(live)
            else:
                self.close(live)
            return
        for remote in list(self._remote.get(sid, ())):
            connection = remote.connection
            if connection is None:
                continue
            if op == "wake":
                connection.wakeup.set()
            elif op == "heard":
                connection.last_heard = time.monotonic()
            elif op == "ctl" and message.get("c") == remote.conn_id:
                remote.control.append(message["m"])
                connection.wakeup.set()
            elif op == "welcome" and message.get("c") == remote.conn_id:
                remote.control.insert(0, message["m"])
                remote.welcomed = True
                connection.wakeup.set()
            elif op == "replaced" and message.get("c") == remote.conn_id:
                connection.replaced = True
                connection.wakeup.set()
            elif op == "reconnect":
                connection.closing = SessionMoved(message.get("m", "reconnect"))
                connection.wakeup.set()

    def _attach_remote(self, live: OwnedSession, worker: str, conn_id: str, seq: int) -> None:
        """The page of ``live`` resumed on ``worker``: serve it from Redis, starting with a welcome."""
        self._cancel_expiry(live)
        live.bind(RemoteConnection(worker, conn_id))
        core = live.core
        core.replay.ack(seq)
        core.sent_seq = live.stored_seq
        core.take_control()  # what was queued for the previous connection
        welcome = Welcome(live.token, core.epoch, True, live.stored_seq, core.highest_run)
        self.send(worker, "welcome", live.sid, c=conn_id, m=encode_frame(welcome))
        live.notify()

    def _wake_remote(self, sid: str) -> None:
        for remote in self._remote.get(sid, ()):
            remote.notify()

    def _drop_remote(self, remote: RemoteSession) -> None:
        handles = self._remote.get(remote.sid)
        if handles is not None:
            handles.discard(remote)
            if not handles:
                del self._remote[remote.sid]

    # ----- liveness of workers

    async def _liveness_loop(self) -> None:
        while True:
            try:
                pipe = self.redis.pipeline(transaction=False)
                pipe.set(keys.alive(self.worker), str(os.getpid()), px=int(self._ttl * 1000))
                pipe.expire(keys.inbox(self.worker), keys.INBOX_TTL)
                pipe.expire(keys.inbox_bytes(self.worker), keys.INBOX_TTL)
                pipe.sadd(keys.WORKERS, self.worker)
                pipe.exists(keys.owned(self.worker))
                pipe.smembers(keys.WORKERS)
                owned_before = list(self._owned.values())  # sessions opened meanwhile may not be in the set yet
                *_, owned_exists, workers = await pipe.execute()
                self._recovered()
                if owned_before and not owned_exists:  # Redis forgot this worker's sessions: it restarted
                    await self._restore(owned_before)
                self._refresh_idle_sessions()
                for worker in workers - {self.worker}:
                    await self._check(worker)
            except (RedisError, StoreUnavailable) as exc:
                self._outage(exc, "worker liveness not refreshed")
            self._beat.clear()
            try:  # the next beat comes early when Redis just came back
                await asyncio.wait_for(self._beat.wait(), self._ttl / 3)
            except TimeoutError:
                pass

    def _refresh_idle_sessions(self) -> None:
        """Sessions with no output for a while: store them again so their keys' TTLs are renewed."""
        stale = time.monotonic() - self._key_ttl / 4
        for live in self._owned.values():
            if live.refreshed_at < stale:
                self.mark_dirty(live)

    async def _check(self, worker: str) -> None:
        """Reap ``worker`` once its liveness key has been missing for half a ``worker_ttl`` as seen
        from here: after a Redis restart or stall every key is missing until its worker's next beat."""
        if await self.redis.exists(keys.alive(worker)):
            self._missing.pop(worker, None)
        elif self._is_dead(worker):
            self._missing.pop(worker, None)
            await self._reap(worker)
        else:
            self._missing.setdefault(worker, time.monotonic())

    def _is_dead(self, worker: str) -> bool:
        since = self._missing.get(worker)
        return since is not None and time.monotonic() - since >= self._ttl / 2

    async def _reap(self, dead: str) -> None:
        """Take over every session of ``dead`` (one survivor does it; the others skip)."""
        if not await self.redis.set(keys.reap(dead), self.worker, nx=True, ex=60):
            return
        sids = await self.redis.smembers(keys.owned(dead))
        log.warning("flash_ws: worker %s stopped refreshing its liveness key: taking over its %d session(s)", dead, len(sids))
        for sid in sids:
            await self._adopt(sid, dead)
        pipe = self.redis.pipeline(transaction=False)
        pipe.srem(keys.WORKERS, dead)
        pipe.delete(keys.owned(dead), keys.inbox(dead), keys.inbox_bytes(dead))
        await pipe.execute()

    # ----- Redis trouble

    async def _call(self, awaitable: Any) -> Any:
        """Await a Redis call; its failure becomes ``StoreUnavailable`` with a clear message."""
        try:
            return await awaitable
        except RedisError as exc:
            self._outage(exc, "pages cannot connect or resume until it returns")
            raise StoreUnavailable(f"{UNAVAILABLE}; try again later") from exc

    def _outage(self, exc: Exception, consequence: str) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.error("flash_ws: Redis at %s is unavailable (%s): %s", masked_url(self.url), exc, consequence)

    def _recovered(self) -> None:
        if self._outage_since is not None:
            log.warning("flash_ws: Redis at %s is back after %.1f s", masked_url(self.url), time.monotonic() - self._outage_since)
            self._outage_since = None
            self._beat.set()

    def _cancel_expiry(self, live: LiveSession) -> None:
        if live.expiry is not None:
            live.expiry.cancel()
            live.expiry = None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("flash_ws: %s stopped", task.get_name(), exc_info=task.exception())


def masked_url(url: str) -> str:
    """The Redis URL as logs may show it: scheme, host, port and db (or the socket's path), parsed
    by redis-py; never the username, password or query."""
    try:
        parts = parse_url(url)
    except (ValueError, TypeError):
        return "(a Redis URL that cannot be parsed)"
    scheme = url.partition("://")[0]
    if "path" in parts:
        return f"{scheme}://{parts['path']}?db={parts.get('db', 0)}"
    return f"{scheme}://{parts.get('host', 'localhost')}:{parts.get('port', 6379)}/{parts.get('db', 0)}"

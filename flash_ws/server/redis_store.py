"""Sessions shared by several workers through Redis, with no sticky routing.

Each session is *owned* by the worker that opened it: that worker keeps its ``ServerSession``, runs
its streams and stores every sequenced frame in Redis, sending it to a page connected to it first,
at most ``ahead`` frames past the store (``redis_owned``; keys in ``redis_keys``). A page that
(re)connects to another worker is served from Redis by a ``RemoteSession`` (``redis_remote``); what
it sends is forwarded to the owner through the workers' inboxes (``redis_bus``). Workers refresh a
liveness key; when one disappears, a survivor takes its sessions over, declares void the numbers the
dead worker may have sent unstored, and ends their runs with the error ``worker_lost``
(``redis_liveness``; the page applies their ``reset_props``). When Redis fails, output goes on up
to ``ahead`` frames past the store, then waits, and connections are refused with a clear reason
until it returns (``redis_outage``); a session Redis forgot (it restarted) is stored again by its
owner, or, with its owner gone too, ends honestly: the page is told its session was lost. Redis
names sessions by their public id (sid); a page resumes only with its session's browser binding, on
any worker.

``RedisSessionStore`` composes these: it opens, finds, detaches and closes sessions, and handles
the messages addressed to the owner of a session.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
from collections.abc import Callable, Container, Iterator
from typing import Any

from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ..protocol import ByteBudget, ErrorInfo, Hello, Limits, ServerSession
from ..protocol.tokens import new_token, same_secret, session_id
from . import redis_keys as keys
from .redis_bus import Attach, Bus, Close, Detach, Forwarded, Handlers, Heard, Reconnect
from .redis_client import make_client
from .redis_inbox import Inboxes
from .redis_liveness import Liveness
from .redis_outage import UNAVAILABLE, Outage
from .redis_owned import OwnedSession, Recorder
from .redis_remote import RemoteConnection, RemoteHandles, RemoteSession
from .redis_stalls import RemoteStalls
from .sessions import LiveSession, SessionCaps, SessionHandle, StoreUnavailable, expire_later, presents
from .settings import redis_cluster_mode

log = logging.getLogger("flash_ws")
READ_COUNT = 1000


class RedisSessionStore:
    """The ``SessionStore`` on Redis. ``on_close`` stops a closed session's runs; ``on_message``
    runs what a page sent (forwarded by another worker) on a session owned here. ``client``: a
    Redis client to use instead of one made from ``url`` (tests pass a fake); ``cluster``: whether
    ``url`` names a node of a Redis Cluster (see ``redis_client``; None: ``$FLASH_WS_REDIS_CLUSTER``,
    else asked); ``ahead`` and ``store_interval``: the ``Recorder``'s (how far a page may get ahead of
    Redis, how often output is stored)."""

    def __init__(self, url: str, callbacks: Container[str], limits: Limits, resume_grace: float, worker_ttl: float,
                 on_close: Callable[[LiveSession], None], on_message: Callable[[LiveSession, str], object],
                 max_sessions: int = 10_000, max_sessions_per_address: int = 256, inbox_bytes: int = 16 << 20,
                 budget: ByteBudget | None = None, client: Any = None, cluster: bool | str | None = None,
                 ahead: int = 1024, store_interval: float = 0.02) -> None:
        self.url = url
        self._budget = budget  # replay memory shared by the sessions this worker owns
        # One quick retry on a broken connection (after a Redis restart every pooled connection is);
        # the calls are idempotent or harmless to repeat (inbox wakes, acks), timeouts are not retried.
        retry = Retry(ExponentialBackoff(cap=0.2, base=0.02), 2, supported_errors=(RedisConnectionError,))
        self.redis = client or make_client(url, redis_cluster_mode(cluster), decode_responses=True, socket_connect_timeout=2,
                                           retry=retry, socket_timeout=max(5.0, worker_ttl), health_check_interval=10)
        self.worker = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.limits = limits
        self._callbacks = callbacks
        self._grace = resume_grace
        self._on_close = on_close
        self._on_message = on_message
        self._owned: dict[str, OwnedSession] = {}  # by sid
        self.caps = SessionCaps(max_sessions, max_sessions_per_address)
        self.outage = Outage(url)
        self.inboxes = Inboxes(self.redis, inbox_bytes)
        self.bus = Bus(self.redis, self.worker, self.inboxes, self.outage)
        self.handles = RemoteHandles()
        self.stalls = RemoteStalls(self)  # the owner judges stalls of pages connected elsewhere
        self.recorder = Recorder(self.redis, self.bus, self.outage, int(max(86400, 10 * resume_grace)), self._give_up,
                                 ahead, store_interval)
        self.liveness = Liveness(self.redis, self.worker, worker_ttl, self.outage, self)
        self.bus.handlers = {**self._owner_handlers(), **self.handles.handlers(), **self.stalls.handlers()}
        self._claim = self.redis.register_script(keys.CLAIM)
        self._tasks: list[asyncio.Task[None]] = []

    # ----- the SessionStore interface

    def __len__(self) -> int:
        return len(self._owned)

    def __iter__(self) -> Iterator[LiveSession]:
        return iter(list(self._owned.values()))

    async def start(self) -> None:
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.recorder.run(), name="flash_ws redis store"),
                       loop.create_task(self.bus.run(), name="flash_ws redis inbox"),
                       loop.create_task(self.liveness.run(), name="flash_ws redis liveness")]
        self._tasks.append(loop.create_task(self.stalls.run(), name="flash_ws redis stalls"))
        for task in self._tasks:
            task.add_done_callback(_report_crash)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        await self.liveness.leave()  # survivors take the sessions over at once instead of after worker_ttl
        await self.redis.aclose()

    async def share_secret(self, mine: bytes) -> bytes:
        """The secret every worker of this Redis signs browser keys with: ``mine`` when no worker put
        one yet; ``mine`` also when Redis cannot be reached (said in the log)."""
        try:
            await self.redis.set(keys.KEY_SECRET, mine.hex(), nx=True)
            shared = await self.redis.get(keys.KEY_SECRET)
            return bytes.fromhex(str(shared)) if shared else mine
        except (RedisError, OSError, ValueError) as exc:
            log.warning("flash_ws: no shared browser-key secret from Redis (%s): this worker signs its own, so a page "
                        "that reaches another worker gets a new key; set FLASH_WS_SECRET on every worker", type(exc).__name__)
            return mine

    async def open(self, hello: Hello, binding: str, address: str) -> tuple[SessionHandle, bool]:
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

    async def get(self, token: str, binding: str) -> SessionHandle | None:
        await self.start()
        sid = session_id(token)
        local = self._owned.get(sid)
        if local is not None:
            if not (same_secret(token, local.token) and same_secret(binding, local.binding)):
                return None
            if isinstance(local.connection, RemoteConnection):
                self.bus.send(local.connection.worker, Heard(sid))
            return local
        owner, last_seq, conn, stored_token, stored_binding = await self.outage.call(
            self.redis.hmget(keys.meta(sid), "owner", "last_seq", "conn", "token", "bind"))
        if owner is None or not (same_secret(token, stored_token or "") and same_secret(binding, stored_binding or "")):
            return None
        if conn and conn != owner:
            self.bus.send(conn, Heard(sid))  # a POST: the page is alive (its event stream is there)
        if self.liveness.is_dead(owner):
            adopted = await self.adopt(sid, owner)
            if adopted is not None:
                return adopted
        return RemoteSession(self, sid, token, owner, int(last_seq))

    def detach(self, live: SessionHandle) -> None:
        if isinstance(live, RemoteSession):
            self.handles.drop(live)
            self.bus.send(live.owner, Detach(live.sid, live.conn_id))
            return
        owned = self._owned.get(live.sid)
        live.connection = None
        if owned is not None and owned is live:
            self.recorder.mark_dirty(owned)
            expire_later(owned, self._grace, lambda: self.close(owned))  # unless closed or resumed meanwhile

    def close(self, live: SessionHandle) -> None:
        if isinstance(live, RemoteSession):
            self.handles.drop(live)
            self.bus.send(live.owner, Close(live.sid))
            return
        owned = self._owned.get(live.sid)
        if owned is None or owned is not live:
            return
        owned.cancel_expiry()
        self._disown(owned)
        self.recorder.discard(owned)
        self._on_close(owned)
        self.recorder.forget(owned.sid)

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
        core = ServerSession(new_token(), secrets.token_hex(4), self._callbacks, self.limits, self._budget, address)
        core.attach(Hello(None, 0))
        live = OwnedSession(core, self.recorder, binding, address)
        # Not one transaction: on a cluster the session's hash and the worker's set are in two slots.
        # Either alone is harmless: a set member without hash is never claimed, a hash without member
        # (this worker died in between) is adopted when its page comes back.
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(keys.meta(live.sid), mapping={"owner": self.worker, "token": core.token, "bind": binding,
                                                "epoch": core.epoch, "last_seq": 0, "acked": 0,
                                                "highest_run": 0, "runs": "{}", "conn": self.worker})
        pipe.expire(keys.meta(live.sid), self.recorder.key_ttl)
        pipe.sadd(keys.owned(self.worker), live.sid)
        await self.outage.call(pipe.execute())
        self._own(live)
        return live

    async def _open_stored(self, hello: Hello, binding: str) -> SessionHandle | None:
        """Resume a session owned by another worker (or taken over from a dead one), if ``hello``
        and ``binding`` are its own; a stranger's hello (None) leaves it alone."""
        assert hello.session is not None
        sid = session_id(hello.session)
        state = await self.outage.call(self.redis.hgetall(keys.meta(sid)))
        if not state or not presents(hello, binding, state.get("token", ""), state.get("bind", "")):
            return None
        owner = state["owner"]
        if self.liveness.is_dead(owner):
            adopted = await self.adopt(sid, owner)
            if adopted is not None and adopted.resume(hello):
                return adopted
            if adopted is not None:
                self.close(adopted)
            return None
        last_seq, acked = int(state["last_seq"]), int(state["acked"])
        # The page may have applied frames the owner sent before storing them (at most ``ahead``):
        # the owner checks the seq against its own buffer (``_attach``).
        if owner == self.worker or not acked <= hello.seq <= last_seq + self.recorder.ahead:
            self.bus.send(owner, Close(sid))
            return None
        remote = RemoteSession(self, sid, state["token"], owner, hello.seq)  # its welcome comes from the owner
        self.handles.add(remote)
        self.bus.send(owner, Attach(sid, self.worker, remote.conn_id, hello.seq))
        return remote

    # ----- taking sessions over (liveness's ``Survivor``)

    async def adopt(self, sid: str, dead: str) -> OwnedSession | None:
        """Own the session of a dead worker: end its runs as lost (the page resets them)."""
        claimed = await self.outage.call(self._claim(keys=[keys.meta(sid)], args=[dead, self.worker]))
        if not claimed:
            return None
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(keys.owned(self.worker), sid)  # another slot on a cluster: not in the claim's script
        pipe.hgetall(keys.meta(sid))
        pipe.xrange(keys.frames(sid))
        _added, state, entries = await self.outage.call(pipe.execute())
        frames = [(int(entry_id.split("-")[0]), fields["f"]) for entry_id, fields in entries]
        runs = {int(run): cb for run, cb in json.loads(state["runs"]).items()}
        core = ServerSession.restore(state["token"], state["epoch"], self._callbacks, self.limits, frames,
                                     int(state["last_seq"]), int(state["highest_run"]), runs, budget=self._budget)
        # The dead worker may have sent up to ``ahead`` frames it never stored: number on past them.
        core.void(self.recorder.ahead)
        lost = core.lose_runs(ErrorInfo("worker_lost", f"the worker running this stream ({dead}) stopped"))
        live = OwnedSession(core, self.recorder, state.get("bind", ""))
        live.stored_seq = int(state["last_seq"])
        self._own(live)
        log.warning("flash_ws: took over session %s from dead worker %s; runs lost: %s", sid, dead, lost or "none")
        # Its page (connected to another worker, or to this one) reconnects: it resumes here and
        # re-sends what the dead worker never ran.
        for worker in {state.get("conn", ""), self.worker} - {"", dead}:
            self.bus.send(worker, Reconnect(sid, "the worker running this session's streams stopped: reconnect"))
        self.recorder.mark_dirty(live)
        self.detach(live)
        return live

    def owned(self) -> list[OwnedSession]:
        return list(self._owned.values())

    async def restore(self, sessions: list[OwnedSession]) -> None:
        await self.recorder.restore(sessions)

    def refresh_idle(self) -> None:
        self.recorder.refresh_idle(self._owned.values())

    def _give_up(self, live: OwnedSession) -> None:
        """Another worker owns the session now (it took this one for dead): stop its runs here and
        send its page there."""
        log.error("flash_ws: session %s was taken over by another worker: its runs here stop", live.sid)
        live.reconnect("another worker took this session over: reconnect to resume")
        live.cancel_expiry()
        self._disown(live)
        live.closed = True
        self._on_close(live)

    # ----- the connection side (``redis_remote.Owners``)

    async def read_frames(self, sid: str, after: int) -> list[tuple[int, str]]:
        entries = await self.outage.call(self.redis.xrange(keys.frames(sid), f"{after + 1}-0", "+", count=READ_COUNT))
        if len(entries) == READ_COUNT:
            self.handles.wake(sid)  # more to read: come back
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
        if not await self.outage.call(self.bus.push(remote.owner, Forwarded(remote.sid, message))):
            log.warning("flash_ws: %s", self.inboxes.refusal(f"a message of {len(message.encode())} bytes for session {remote.sid}"))
            raise StoreUnavailable(f"{UNAVAILABLE}: the worker running this session has too much to handle; try again later")

    # ----- messages to the owner

    def _owner_handlers(self) -> Handlers:
        return {Forwarded: self._forwarded, Attach: self._attach, Detach: self._detached, Close: self._close}

    def _session_of(self, message: Forwarded | Attach | Detach | Close) -> OwnedSession | None:
        live = self._owned.get(message.sid)
        if live is None:
            log.debug("flash_ws: %s for session %s, which this worker does not own (any more)", message.op, message.sid)
        return live

    def _forwarded(self, message: Forwarded) -> None:
        if (live := self._session_of(message)) is not None:
            self._on_message(live, message.message)

    def _attach(self, message: Attach) -> None:
        live = self._session_of(message)
        if live is not None and not live.attach_remote(message.worker, message.conn_id, message.seq):
            # A seq this worker never issued (or whose frames the page acknowledged): no exact resume.
            log.warning("flash_ws: session %s: its page resumed after frame %d, which this worker cannot replay from: "
                        "the session is closed", message.sid, message.seq)
            self.bus.send(message.worker, Reconnect(message.sid, "this session cannot be resumed from there: reconnect"))
            self.close(live)

    def _detached(self, message: Detach) -> None:
        live = self._session_of(message)
        if live is not None and isinstance(live.connection, RemoteConnection) and live.connection.conn_id == message.conn_id:
            self.detach(live)

    def _close(self, message: Close) -> None:
        if (live := self._session_of(message)) is not None:
            self.close(live)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("flash_ws: %s stopped", task.get_name(), exc_info=task.exception())

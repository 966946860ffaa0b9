"""Liveness of workers: each refreshes its key ``flash_ws:w:W`` (TTL ``worker_ttl``) every third of
the TTL; a worker whose key has been missing for half a TTL, as seen by a survivor, is reaped: one
survivor (the one that sets ``flash_ws:reap:W`` first) takes over its sessions.

Missing is counted from the first beat that found the key missing, never from the key's own
expiry: after a Redis restart or stall every key is missing until its worker's next beat.

A Redis that restarted forgot this worker's sessions: each beat finds out, and stores them again
(``Survivor.restore``). One Redis server restarted when this worker's set of sessions is gone; on a
Redis Cluster one master may restart alone, forgetting the sessions in its slots only, so each beat
also reads every master's ``run_id`` (``INFO server``): when one changed, the store's scripts are
loaded on every master again (a cluster pipeline sends EVALSHA as is: it never loads a script
itself), then every session is stored again (those still there are left as they are).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Protocol

from redis.exceptions import RedisClusterException, RedisError

from . import redis_keys as keys
from .redis_client import is_cluster
from .redis_inbox import DONE, PUSH
from .redis_outage import Outage
from .sessions import StoreUnavailable

log = logging.getLogger("flash_ws")
SCRIPTS = (keys.APPEND, keys.RESTORE, keys.CLAIM, PUSH, DONE)  # what a restarted master must be given again


class Survivor(Protocol):
    """What liveness asks of the sessions this worker owns (the Redis store)."""

    def owned(self) -> list[Any]:
        """The sessions owned now."""
        ...

    async def restore(self, sessions: list[Any]) -> None:
        """Redis forgot this worker's sessions (it restarted): store ``sessions`` again."""
        ...

    def refresh_idle(self) -> None:
        """Store again the sessions whose keys have not been renewed for a while."""
        ...

    async def adopt(self, sid: str, dead: str) -> object:
        """Take over session ``sid`` of the dead worker ``dead``."""
        ...


class Liveness:
    """This worker's liveness beat and its watch on the other workers (``run``)."""

    def __init__(self, redis: Any, worker: str, ttl: float, outage: Outage, survivor: Survivor) -> None:
        self.redis, self.worker, self.ttl = redis, worker, ttl
        self.outage = outage
        self.survivor = survivor
        self._missing: dict[str, float] = {}  # workers whose liveness key was missing, since when
        self._run_ids: dict[str, str] = {}  # on a Redis Cluster: each master's run_id, by address

    async def run(self) -> None:
        """Beat every ``ttl / 3`` (at once when Redis just came back), checking the other workers."""
        while True:
            try:
                await self.beat()
            except (RedisError, RedisClusterException, StoreUnavailable) as exc:  # a cluster's too
                self.outage.failed(exc, "worker liveness not refreshed")
            self.outage.back.clear()
            try:
                await asyncio.wait_for(self.outage.back.wait(), self.ttl / 3)
            except TimeoutError:
                pass

    async def beat(self) -> None:
        """Refresh this worker's keys, store again what Redis forgot, then check every other worker."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(keys.alive(self.worker), str(os.getpid()), px=int(self.ttl * 1000))
        pipe.expire(keys.inbox(self.worker), keys.INBOX_TTL)
        pipe.expire(keys.inbox_bytes(self.worker), keys.INBOX_TTL)
        pipe.sadd(keys.WORKERS, self.worker)
        pipe.exists(keys.owned(self.worker))
        pipe.smembers(keys.WORKERS)
        owned_before = self.survivor.owned()  # sessions opened meanwhile may not be in the set yet
        *_, owned_exists, workers = await pipe.execute()
        self.outage.recovered()
        restarted = await self.masters_restarted()
        if restarted:
            for script in SCRIPTS:
                await self.redis.script_load(script)
        if owned_before and (restarted or not owned_exists):  # Redis forgot this worker's sessions: it restarted
            await self.survivor.restore(owned_before)
        self.survivor.refresh_idle()
        for worker in workers - {self.worker}:
            await self.check(worker)

    async def masters_restarted(self) -> bool:
        """On a Redis Cluster: whether a master restarted since the last beat (its ``run_id`` changed);
        always False on one Redis server (its restart empties this worker's set of sessions)."""
        if not is_cluster(self.redis):
            return False
        replies = await self.redis.info("server", target_nodes=self.redis.PRIMARIES)
        run_ids = {str(node): str(info.get("run_id", "")) for node, info in replies.items()}
        restarted = any(self._run_ids.get(node, run_id) != run_id for node, run_id in run_ids.items())
        self._run_ids = run_ids
        return restarted

    async def check(self, worker: str) -> None:
        """Reap ``worker`` once its liveness key has been missing for half a ``ttl`` as seen from here."""
        if await self.redis.exists(keys.alive(worker)):
            self._missing.pop(worker, None)
        elif self.is_dead(worker):
            self._missing.pop(worker, None)
            await self.reap(worker)
        else:
            self._missing.setdefault(worker, time.monotonic())

    def is_dead(self, worker: str) -> bool:
        """Whether ``worker``'s key has been missing for half a ``ttl`` (as last checked)."""
        since = self._missing.get(worker)
        return since is not None and time.monotonic() - since >= self.ttl / 2

    async def reap(self, dead: str) -> None:
        """Take over every session of ``dead`` (one survivor does it; the others skip)."""
        if not await self.redis.set(keys.reap(dead), self.worker, nx=True, ex=60):
            return
        sids = await self.redis.smembers(keys.owned(dead))
        log.warning("flash_ws: worker %s stopped refreshing its liveness key: taking over its %d session(s)", dead, len(sids))
        for sid in sids:
            await self.survivor.adopt(sid, dead)
        pipe = self.redis.pipeline(transaction=False)
        pipe.srem(keys.WORKERS, dead)
        pipe.delete(keys.owned(dead), keys.inbox(dead), keys.inbox_bytes(dead))
        await pipe.execute()

    async def leave(self) -> None:
        """This worker stops: delete its key, so survivors take its sessions over at once."""
        try:
            await self.redis.delete(keys.alive(self.worker))
        except RedisError:
            pass

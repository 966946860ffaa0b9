"""The worker side of flash_ws.celery: ``StreamingTask`` appends what a task reports to its Redis Stream."""

from __future__ import annotations

import json
import os
from typing import Any

import redis
from celery import Task, states
from redis.cluster import RedisCluster

from .redis_stream import describe, is_cluster_url, stream_key, stream_url

_clients: dict[tuple[int, str], redis.Redis | RedisCluster] = {}


def _client(url: str) -> redis.Redis | RedisCluster:
    """One synchronous client per process and URL (prefork children each get their own); a cluster
    client when ``url`` names a node of a Redis Cluster."""
    key = (os.getpid(), url)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = RedisCluster.from_url(url) if is_cluster_url(url) else redis.Redis.from_url(url)
    return client


class StreamingTask(Task):
    """Base class for tasks that report items to a follower: ``@app.task(bind=True, base=StreamingTask)``.

    The stream is opened when the task starts and closed with an end marker (its final state, the
    error of a failure, the return value when it is JSON-serialisable) when it returns or raises.
    ``stream_ttl`` (seconds, refreshed at each report) bounds how long an unread stream stays in Redis.
    """

    stream_ttl: int = 3600

    def report(self, item: Any) -> bool:
        """Append ``item`` (JSON-serialisable) to this run's stream, after every item reported before.

        Returns False when nobody follows the task any more (the follower was closed and deleted
        the stream): a task may stop early then. Call it from inside the running task only.
        """
        task_id = self.request.id
        if task_id is None:
            raise RuntimeError(f"{self.name}.report() is for a task running on a worker (self.request.id is None)")
        try:
            data = json.dumps(item, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{self.name}.report() takes JSON-serialisable items: {exc}") from None
        return self._append(task_id, {"kind": "item", "data": data}, create=False)

    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        """Open the stream (reports never create it, so none lands after the follower deleted it)."""
        self._append(task_id, {"kind": "start", "task": self.name}, create=True)

    def after_return(self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Write the end marker: the final state, and the error or the return value."""
        fields = {"kind": "end", "task": self.name, "state": status}
        if status == states.FAILURE:
            fields["error"] = describe(retval)
        else:
            try:
                fields["result"] = json.dumps(retval, separators=(",", ":"))
            except (TypeError, ValueError):
                pass  # the follower's return_value stays None
        self._append(task_id, fields, create=False)

    def _append(self, task_id: str, fields: dict[str, str], create: bool) -> bool:
        key = stream_key(task_id)
        pipe = _client(stream_url(self.app)).pipeline(transaction=True)  # one key: one slot on a cluster too
        pipe.xadd(key, dict(fields), nomkstream=not create)  # type: ignore[arg-type]  # str keys and values are what Redis takes
        pipe.expire(key, self.stream_ttl)
        entry_id, _ = pipe.execute()
        return entry_id is not None

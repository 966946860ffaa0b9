"""The Redis client of the session store: one Redis server, or a Redis Cluster.

``redis_cluster`` (``Flash(redis_cluster=...)``, else ``$FLASH_WS_REDIS_CLUSTER``, else ``"auto"``):
- ``"auto"``: ask the node ``redis_url`` names, when the worker starts, whether it runs in cluster
  mode (``INFO cluster``: ``cluster_enabled:1``); if it cannot be reached then, the worker speaks to
  a single Redis and logs so (set ``"yes"`` on a cluster whose nodes may be down when workers start);
- ``"yes"``: a Redis Cluster, ``redis_url`` naming any of its nodes (the others are discovered);
- ``"no"``: one Redis server, never asked.

On a cluster, commands go to the master of their keys' slot (never to a replica), a pipeline's
commands to their masters, and a script is loaded on every master (``redis_keys`` gives every key
of a session, and of a worker, one hash tag, so no command or script spans two slots).
"""

from __future__ import annotations

import logging
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPipeline
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.exceptions import RedisError

from .redis_outage import masked_url
from .settings import REDIS_CLUSTER_ENV, REDIS_CLUSTER_MODES

log = logging.getLogger("flash_ws")


def detect_cluster(url: str, timeout: float = 2.0) -> bool | None:
    """Whether the node ``url`` names runs in cluster mode; None when it cannot be asked."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(int(client.info("cluster").get("cluster_enabled", 0)))
    except (RedisError, OSError, ValueError) as exc:
        log.warning("flash_ws: could not ask Redis at %s whether it is a cluster (%s): speaking to it as one server; "
                    "set %s=yes if it is a Redis Cluster", masked_url(url), type(exc).__name__, REDIS_CLUSTER_ENV)
        return None
    finally:
        client.close()


def make_client(url: str, mode: str = "auto", **options: Any) -> Any:
    """A ``redis.asyncio`` client for ``url``: a ``RedisCluster`` when ``mode`` is "yes", or "auto" and
    the node says it is one; else a ``Redis``. ``options`` go to either (decoding, timeouts, retry)."""
    if mode not in REDIS_CLUSTER_MODES:
        raise ValueError(f"mode must be one of {', '.join(REDIS_CLUSTER_MODES)}, got {mode!r}")
    if mode == "yes" or (mode == "auto" and detect_cluster(url)):
        log.info("flash_ws: Redis at %s is a node of a Redis Cluster (%s): speaking to the cluster", masked_url(url),
                 "said" if mode == "yes" else "asked")
        return AsyncRedisCluster.from_url(url, **options)  # reads go to masters (no read_from_replicas)
    return aioredis.Redis.from_url(url, **options)


def is_cluster(client: Any) -> bool:
    """Whether ``client`` (or the pipeline) speaks to a Redis Cluster."""
    return isinstance(client, AsyncRedisCluster | ClusterPipeline)

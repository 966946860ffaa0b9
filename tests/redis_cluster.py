"""A real Redis Cluster for the tests: 3 masters of Debian's redis-server on free loopback ports in a
temporary directory, joined by ``redis-cli --cluster create`` (``benchmarks.redis_cluster``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.redis_cluster import RedisCluster
from tests.conftest import TIMEOUT
from tests.redis_server import redis_binary


def start_cluster(masters: int = 3) -> RedisCluster:
    """A fresh cluster of ``masters`` masters, ``cluster_state:ok``; stop it with ``.stop()``."""
    return RedisCluster(redis_binary(), Path(tempfile.mkdtemp(prefix="flash_ws_redis_cluster_")), masters,
                        timeout=TIMEOUT * 2)

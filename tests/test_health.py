"""``_flash_ws/health``: in-process without Redis; on a real hypercorn with a real redis-server that
the test stops and starts; the service's own answer while draining."""

from __future__ import annotations

from flash_ws.callbacks import EventCallbackRegistry
from flash_ws.server.health import health
from flash_ws.server.service import FlashWsService
from flash_ws.server.settings import Settings
from tests.conftest import wait_until
from tests.scrape import health as probe

APP = "tests.apps.operated:server"


async def test_a_server_without_redis_is_live_and_ready(serve_in_process):
    """In-process: two GETs of the probe routes."""
    server = await serve_in_process(APP)
    ready = await server.asgi.request("GET", "/_flash_ws/health")
    assert (ready.status, ready.json()) == (200, {"live": True, "ready": True, "draining": False, "store": "in-process", "reasons": []})
    live = await server.asgi.request("GET", "/_flash_ws/health?probe=live")
    assert (live.status, live.json()) == (200, {"live": True})


def test_readiness_follows_redis_and_names_no_address(serve, redis_server):
    """Real redis-server: only stopping a real one makes the store unreachable, as an outage does,
    and starting it again brings readiness back."""
    server = serve(APP, FLASH_WS_REDIS_URL=redis_server.url)
    assert probe(server.url) == (200, {"live": True, "ready": True, "draining": False, "store": "redis", "reasons": []})
    redis_server.stop()
    status, body = wait_until(lambda: (found := probe(server.url))[0] == 503 and found, what="readiness to fail")
    assert body["ready"] is False and body["live"] is True
    assert len(body["reasons"]) == 1 and body["reasons"][0].startswith("session store unreachable")
    assert str(redis_server.port) not in str(body) and "redis://" not in str(body)
    assert probe(server.url, "live") == (200, {"live": True})  # a liveness probe must not restart the worker
    redis_server.start()
    wait_until(lambda: probe(server.url)[0] == 200, what="readiness to come back with Redis")


async def test_a_draining_worker_is_live_but_not_ready():
    service = FlashWsService(EventCallbackRegistry(), Settings())
    assert await health(service, liveness_only=False) == (
        {"live": True, "ready": True, "draining": False, "store": "in-process", "reasons": []}, 200)
    service.draining = True
    body, status = await health(service, liveness_only=False)
    assert status == 503 and body["ready"] is False and body["draining"] is True
    assert body["reasons"] == ["worker draining (shutting down)"]
    assert await health(service, liveness_only=True) == ({"live": True}, 200)

"""One page cannot freeze the worker for the others (issue 24, item 1).

Real hypercorn: only a real server shows its own work (Dash's per-request setup, the health route,
new handshakes) going on while one page's sync steps block their threads. In-process: a cancelled
run whose step still holds a thread counts against its page's ``max_active_runs``."""

from __future__ import annotations

import asyncio
import time
import urllib.request

from flash_ws.client import FlashWsClient
from tests.conftest import TIMEOUT, eventually

APP = "tests.apps.basic"


async def victim_and_health(server, victim: FlashWsClient) -> tuple[float, float]:
    """Another page's 40 sync steps of 50 ms each, all delivered; then the health route: how long each took."""
    started = time.monotonic()
    run = await victim.start(f"{APP}.sync_count", [40])
    pairs, end = await asyncio.wait_for(run.collect(), TIMEOUT)
    took = time.monotonic() - started
    assert end.reason == "done" and [p[1]["children"] for p in pairs] == [f"sync {i}" for i in range(40)]
    started = time.monotonic()
    with urllib.request.urlopen(server.url + "/_flash_ws/health", timeout=TIMEOUT) as health:
        assert health.status == 200
    return took, time.monotonic() - started


async def test_sync_steps_that_block_leave_other_pages_and_the_server_running(serve):
    server = serve(f"{APP}:server", FLASH_WS_TEST_MAX_RUNS="32")
    try:
        async with FlashWsClient.connect(server.url) as attacker, FlashWsClient.connect(server.url) as victim:
            quiet = await victim_and_health(server, victim)
            for _ in range(8):  # each start replaces the last; every blocked step keeps its thread
                await attacker.start(f"{APP}.blocking", ["x"])
                await asyncio.sleep(0.1)
            await eventually(lambda: server.get_json("/test/events").get("blocking waiting", 0) >= 4,
                             what="the attacker's steps to block their threads")
            attacked = await victim_and_health(server, victim)
            async with FlashWsClient.connect(server.url) as newcomer:  # a new page is welcomed
                assert newcomer.session.session
            for label, (took, health_took) in (("alone", quiet), ("while one page blocks 8 sync steps", attacked)):
                print(f"{label}: another page's 40 sync steps of 50 ms in {took:.2f} s, health answered in "
                      f"{health_took * 1000:.0f} ms")
            assert server.get_json("/test/events").get("blocking waiting", 0) <= 4  # sync_threads_per_page
    finally:
        server.post("/test/open/blocking")


async def test_a_cancelled_run_whose_step_still_holds_a_thread_counts_against_the_page(serve_in_process):
    server = await serve_in_process(f"{APP}:server", FLASH_WS_TEST_MAX_RUNS="3")
    try:
        async with server.client() as client:
            first = await client.start(f"{APP}.blocking", ["x"])
            await eventually(lambda: server.events().get("blocking waiting") == 1, what="the first step to block")
            second = await client.start(f"{APP}.blocking", ["y"])  # replaces the first, whose step lingers
            await eventually(lambda: server.events().get("blocking waiting") == 2, what="the second step to block")
            await client.cancel(second.run)  # lingers too
            await eventually(lambda: first.ended and second.ended, what="both runs to end")
            endless = await client.start(f"{APP}.endless", ["z"])  # 1 active + 2 lingering = 3: the limit
            await asyncio.wait_for(endless.queue.get(), TIMEOUT)
            refused = await client.start(f"{APP}.count", [1, None])
            _, end = await asyncio.wait_for(refused.collect(), TIMEOUT)
            assert (end.reason, end.error.code) == ("refused", "too_many_runs")
            assert "counting 2 ended run(s) whose sync step still holds a thread" in end.error.message
            await client.cancel(endless.run)
    finally:
        await server.post("/test/open/blocking")

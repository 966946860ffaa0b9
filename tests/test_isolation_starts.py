"""Start-and-cancel churn costs what the page is allowed, not what it sends (issue 24, item 2).

Real hypercorn, default limits: one page sends messages of ``start`` + ``cancel`` pairs as fast as
the socket takes them and never acknowledges; when the server closes it (1008 once its refusals
pass ``max_refused_frames``) it comes back with a new session and goes on. Meanwhile another page's
stream is counted and the health route is asked, against the same figures without the attack."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import websockets

from flash_ws.client import FlashWsClient
from flash_ws.protocol import Limits
from tests.conftest import TIMEOUT, eventually
from tests.scrape import METRICS_ON, scrape

APP = "tests.apps.basic"
WINDOW = 3.0  # seconds the other page's updates are counted (the figure: per 3 s)
PAIRS = 500  # start + cancel pairs per message of the attacker


class Churn:
    """The attacker: pairs of ``count`` starts and cancels, never acknowledged, reconnecting when closed."""

    def __init__(self, ws_url: str, origin: str) -> None:
        self.ws_url, self.origin = ws_url, origin
        self.connections = self.messages = 0
        self.closes: list[tuple[int | None, str]] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        while not self.stop.is_set():
            async with websockets.connect(self.ws_url, origin=self.origin, max_size=None) as ws:
                self.connections += 1
                await ws.send(json.dumps([{"t": "hello", "v": 1, "session": None, "seq": 0}]))
                run = 0
                try:
                    while not self.stop.is_set():
                        frames = []
                        for _ in range(PAIRS):
                            run += 1
                            frames += [{"t": "start", "run": run, "cb": f"{APP}.count", "args": [1, None]},
                                       {"t": "cancel", "run": run}]
                        await ws.send(json.dumps(frames))
                        self.messages += 1
                        await asyncio.sleep(0)
                except websockets.ConnectionClosed as closed:
                    self.closes.append((closed.rcvd.code if closed.rcvd else None, closed.rcvd.reason if closed.rcvd else ""))


def health_took(url: str) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(url + "/_flash_ws/health", timeout=TIMEOUT) as health:
        assert health.status == 200
    return time.monotonic() - started


async def updates_in_window(run) -> int:
    """Updates of ``run`` (an endless stream) that arrive within WINDOW seconds."""
    while not run.queue.empty():
        run.queue.get_nowait()
    count, deadline = 0, time.monotonic() + WINDOW
    while (left := deadline - time.monotonic()) > 0:
        try:
            await asyncio.wait_for(run.queue.get(), left)
            count += 1
        except TimeoutError:
            break
    return count


async def test_start_and_cancel_churn_leaves_another_page_streaming_and_health_answering(serve):
    server = serve(f"{APP}:server", **METRICS_ON)
    limits = Limits()
    async with FlashWsClient.connect(server.url) as victim:
        run = await victim.start(f"{APP}.endless", ["x"])
        await asyncio.wait_for(run.queue.get(), TIMEOUT)
        quiet = await updates_in_window(run), await asyncio.to_thread(health_took, server.url)
        churn = Churn(server.ws_url, server.url)
        attack = asyncio.create_task(churn.run())
        try:
            await eventually(lambda: churn.messages >= 3, what="the attack under way")
            started_at, runs_before = time.monotonic(), scrape(server.url).value("flash_ws_runs_started_total", callback=f"{APP}.count")
            connections_before = churn.connections
            attacked_updates, attacked_health = await asyncio.gather(updates_in_window(run), asyncio.to_thread(health_took, server.url))
            elapsed, connections = time.monotonic() - started_at, churn.connections - connections_before + 1
            runs = scrape(server.url).value("flash_ws_runs_started_total", callback=f"{APP}.count") - runs_before
        finally:
            churn.stop.set()
            await asyncio.wait_for(attack, TIMEOUT)
        await victim.cancel(run.run)
    print(f"start/cancel churn: another page's updates per {WINDOW:g} s {quiet[0]} alone, {attacked_updates} under attack; "
          f"health {quiet[1] * 1000:.0f} ms alone, {attacked_health * 1000:.0f} ms under attack; the attacker sent "
          f"{churn.messages * PAIRS} pairs over {churn.connections} connections, the server started {runs:.0f} of its runs "
          f"in {elapsed:.1f} s")
    # each session of the attacker runs at most its burst plus the rate (before: every pair, until 8 MiB of ends)
    assert runs <= connections * (limits.start_burst + limits.max_starts_per_second * (elapsed + 1))
    closed = [reason for code, reason in churn.closes if code is not None]  # None: the socket went before its close frame
    assert closed and all(code in (1008, None) for code, _ in churn.closes) and all("refused frames" in r for r in closed)
    # The other page keeps streaming, far from the starvation before (the issue: 272 -> 3, 1 %). The two
    # windows are counted at different moments of a machine that also runs other tests (CI: four test
    # processes on two cores), so only a wide bound holds there: CI28 counted 40 of 169 (24 %).
    assert attacked_updates >= quiet[0] / 10

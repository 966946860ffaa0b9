"""Restarts while pages stream, in a real headless Chromium (issue 15):

- two hypercorn workers sharing sessions through a real redis-server, behind a real round-robin
  nginx: SIGTERM to one; the page whose session the other owns streams on untouched; the page whose
  session the stopped one owns is reset by the drain (``reset_props``, ``worker_shutdown`` in its
  console; how long after the signal is printed, and measured by the benchmarks, not asserted), and
  starts again on the survivor; the restarted worker serves again;
- one worker without Redis: the run that can finish within the grace does, the other is reset
  by the drain, and the page starts a fresh session on the restarted worker.

Real parts: SIGTERM reaches a real worker process, whose shutdown drives the drain; only a real page
shows the reset applied and starts again by itself; real nginx sends new sessions to whichever
worker is up.
"""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from flash_ws.client import FlashWsClient
from tests.browser import PageWatch, open_page
from tests.cluster import Cluster
from tests.conftest import TIMEOUT, wait_until
from tests.nginx import WEBSOCKETS, Nginx

pytestmark = [pytest.mark.browser, pytest.mark.proxy]
APP = "tests.apps.operated"
GRACE = 2.0  # shutdown_grace of these tests, seconds
WATCH_LOST = "() => { window.__lost = []; addEventListener('flash_ws:lost', (e) => window.__lost.push(e.detail.name)); }"


def ticks(page: PageWatch) -> int:
    """The endless run's counter on the page (-1 before it ticks, or after its reset)."""
    text = page.text("endless-out")
    return int(text.split()[1]) if text.startswith("tick ") else -1


def reset_after(page: PageWatch, since: float) -> float:
    """Wait for the endless run's reset_props; return how long after ``since`` they showed."""
    page.wait_until(lambda: page.text("endless-out") == "reset", "the endless run to be reset")
    return time.monotonic() - since


@pytest.fixture
def pages(browser):
    opened: list[PageWatch] = []

    def open_(url: str, transport: str = "websocket") -> PageWatch:
        opened.append(open_page(browser, url, f"/?flash_ws_transport={transport}"))
        return opened[-1]

    yield open_
    for n, watch in enumerate(opened):  # shown by pytest when the test failed
        print(f"--- page {n} console ---", *watch.console, sep="\n")
    for watch in opened:
        assert watch.dialogs == [], "flash_ws must never alert()"
        watch.page.close()


@pytest.fixture
def rolling(redis_server):
    """Two workers on Redis with a WebSocket nginx over them."""
    cluster = Cluster(f"{APP}:server", redis_server.url, 2, FLASH_WS_TEST_SHUTDOWN_GRACE=str(GRACE),
                      FLASH_WS_TEST_WORKER_TTL="2", FLASH_WS_TEST_GRACE="30")
    try:
        nginx = Nginx(upstreams=cluster.ports, location=WEBSOCKETS)
    except BaseException:
        cluster.stop()
        raise
    yield cluster, nginx
    print(cluster.outputs())
    nginx.stop()
    cluster.stop()


def _running_page(cluster: Cluster, url: str, pages) -> tuple[PageWatch, int]:
    """A page through nginx running ``endless``, and the worker owning its session."""
    before = cluster.active_runs_by_worker()
    page = pages(url)
    page.click("endless-start")
    page.wait_until(lambda: ticks(page) >= 1, "the endless run to tick")
    grown = wait_until(lambda: [i for i, n in cluster.active_runs_by_worker().items() if n > before[i]],
                       what="a worker to own the new page's run")
    return page, grown[0]


def _page_on_each_worker(cluster: Cluster, url: str, pages) -> dict[int, PageWatch]:
    """One running page per worker. A page makes a fixed number of requests (Dash 4.5 made it even),
    so round-robin alone can land every page on one worker: after the k-th repeat, k extra requests
    through nginx move the rotation on (one extra request a time would keep the parity of an even
    page's requests plus one)."""
    found: dict[int, PageWatch] = {}
    for attempt in range(1, 13):
        page, owner = _running_page(cluster, url, pages)
        if owner not in found:
            found[owner] = page
            if len(found) == 2:
                return found
        else:
            page.click("endless-start")  # re-trigger: still one run; keep the page, unused
            for _ in range(attempt):
                urllib.request.urlopen(url + "/_flash_ws/health", timeout=TIMEOUT).close()
    raise AssertionError(f"twelve pages through round-robin nginx all landed on workers {sorted(found)}")


async def _owner_of_a_new_session(cluster: Cluster, url: str) -> int:
    """Open a session through nginx, run ``endless`` on it: which worker owns it."""
    before = cluster.active_runs_by_worker()
    async with FlashWsClient.connect(url + "/") as client:
        run = await client.start(f"{APP}.endless", [1])
        grown = await asyncio.to_thread(wait_until, lambda: [i for i, n in cluster.active_runs_by_worker().items() if n > before[i]],
                                        TIMEOUT, "a worker to own the session")
        await client.cancel(run.run)
    return grown[0]


def test_a_rolling_restart_with_redis_resets_only_the_stopped_workers_runs(rolling, pages):
    cluster, nginx = rolling
    on = _page_on_each_worker(cluster, nginx.url, pages)
    victim, survivor = on[0], on[1]
    for page in (victim, survivor):
        page.page.evaluate(WATCH_LOST)
    runs_on_survivor = cluster.active_runs(1)
    signalled = time.monotonic()
    cluster.workers[0].proc.send_signal(signal.SIGTERM)
    took = reset_after(victim, signalled)
    print(f"the stopped worker's page was reset {took:.2f} s after SIGTERM")
    assert any("worker_shutdown" in line for line in victim.flash_ws_console("error")), victim.console
    counter = ticks(survivor)
    survivor.wait_until(lambda: ticks(survivor) > counter + 5, "the other worker's page to stream on")
    assert survivor.flash_ws_console("error") == [] and survivor.flash_ws_console("warning") == []
    assert survivor.page.evaluate("window.__lost") == []
    cluster.workers[0].proc.wait(TIMEOUT)
    cluster.killed.add(0)
    victim.click("endless-start")  # a new start runs on the survivor
    victim.wait_until(lambda: ticks(victim) >= 1, "the victim's page to stream again")
    wait_until(lambda: cluster.active_runs(1) == runs_on_survivor + 1, what="the victim's new run on the survivor")
    cluster.workers[0].restart()
    cluster.killed.discard(0)
    with ThreadPoolExecutor(1) as thread:  # Playwright's loop runs in this thread
        wait_until(lambda: thread.submit(asyncio.run, _owner_of_a_new_session(cluster, nginx.url)).result() == 0,
                   what="a new session through nginx on the restarted worker")
    assert survivor.flash_ws_console("error") == []


@pytest.mark.parametrize("transport", ["websocket", "sse"])
def test_a_restart_without_redis_resets_the_page_which_starts_afresh(serve, pages, transport):
    server = serve(f"{APP}:server", args=("--graceful-timeout", str(int(GRACE) + 5)),
                   FLASH_WS_TEST_SHUTDOWN_GRACE=str(GRACE))
    page = pages(server.url, transport)
    page.click("endless-start")
    page.wait_until(lambda: ticks(page) >= 1, "the endless run to tick")
    page.click("finishing-start")
    # the run has started on the server before the signal (a start that arrives while the worker
    # drains is refused: over SSE + POST the click's POST could still be on its way)
    page.wait_until(lambda: page.text("finishing-out").startswith("finishing"), "the finishing run to start")
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    took = reset_after(page, signalled)
    print(f"the page was reset {took:.2f} s after SIGTERM")
    page.wait_text("finishing-out", "finished")  # the run that could finish did
    assert any("worker_shutdown" in line for line in page.flash_ws_console("error")), page.console
    server.proc.wait(TIMEOUT)
    server.restart()
    page.wait_until(lambda: sum("new session" in line for line in page.flash_ws_console("info")) == 2,
                    "the page to start a fresh session on the restarted worker")
    page.click("count-start")
    page.wait_text("count-out", "0")

"""Shared fixtures: real hypercorn servers on loopback, and a real headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from benchmarks.processes import free_port  # noqa: F401 (the tests import it from here)

pytest_plugins = ["tests.inprocess"]  # the serve_in_process fixture

ROOT = Path(__file__).resolve().parent.parent
# One unit for every wait in the I/O tests: slow CI machines can stretch it (FLASH_WS_TEST_SCALE=3).
SCALE = float(os.environ.get("FLASH_WS_TEST_SCALE", "1"))
TIMEOUT = 20 * SCALE


def wait_until(condition: Callable[[], object], timeout: float = TIMEOUT, what: str = "condition",
               pause: Callable[[float], None] = time.sleep) -> object:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``.

    ``pause`` waits between polls (a Playwright page passes its own, which also delivers its events).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        pause(0.02)


async def eventually(condition: Callable[[], object], timeout: float = TIMEOUT, what: str = "condition") -> object:
    """``wait_until`` for async tests: polls without blocking the event loop; ``condition`` may
    return an awaitable (a read of an in-process app's route), which is awaited."""
    import asyncio
    import inspect

    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.02)


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate ``proc``; kill it if it has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class LiveServer:
    """A server process serving ``target`` (module:attr) on a free loopback port: hypercorn, or
    uvicorn for the test apps on FastAPI (``FLASH_WS_TEST_BACKEND=fastapi``) unless hypercorn
    options are given."""

    def __init__(self, target: str, env: dict[str, str], args: tuple[str, ...] = ()) -> None:
        self.target, self.env, self.args = target, env, args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/_flash_ws/ws"
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"flash_ws_server_{self.port}.log"
        self._log_start = self.log.stat().st_size if self.log.exists() else 0  # an earlier server's lines
        self._start()

    def _start(self) -> None:
        env = {**os.environ, **self.env}
        # what an ASGI server serves: ``module:server`` names the test app's app.asgi (on Flask, the
        # front of the Flask app; on Quart and FastAPI, the server itself)
        target = self.target[: -len(":server")] + ":app.asgi" if self.target.endswith(":server") else self.target
        if env.get("FLASH_WS_TEST_BACKEND") in ("fastapi", "flask") and not self.args:  # their convention: uvicorn
            program = "uvicorn"
            command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(self.port),
                       *env.get("FLASH_WS_TEST_UVICORN_ARGS", "").split()]
        else:  # Quart's (hypercorn's options, when a test gives some, serve every backend)
            program = "hypercorn"
            command = [sys.executable, "-m", "hypercorn", target, "--bind", f"127.0.0.1:{self.port}", *self.args]
        self.command = command
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        try:
            wait_until(self._ready, what=f"{program} serving {self.target} (log: {self.log})")
        except BaseException:
            self.stop()  # not left serving after the test gave up on it (nobody else would stop it)
            raise

    def restart(self, crash: bool = False) -> None:
        """Stop the process and start a new one on the same port (its sessions are gone). ``crash``:
        SIGKILL the server and the worker it spawned, so nothing drains and tells the pages first
        (a SIGTERM makes a graceful restart: the pages hear their runs end as worker_shutdown)."""
        if crash:
            from benchmarks.processes import children

            for pid in children(self.proc.pid):
                os.kill(pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait()
        else:
            self.stop()
        self._start()

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"server exited: {self.output()[-2000:]}")
        try:
            with urllib.request.urlopen(self.url + self.env.get("FLASH_WS_TEST_PREFIX", "/") + "_dash-layout", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def get_json(self, path: str) -> object:
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return json.loads(response.read())

    def post(self, path: str) -> object:
        """POST an empty body to ``path``; the JSON answer."""
        request = urllib.request.Request(self.url + path, data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def output(self) -> str:
        """What this server (and its restarts) printed: not an earlier server's lines on the same port."""
        with self.log.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture
def serve() -> Iterator[Callable[..., LiveServer]]:
    """Start servers: ``serve("tests.apps.basic:server", FLASH_WS_TEST_GRACE="1")``; hypercorn's own
    options go in ``args``: ``serve(target, args=("--workers", "2"))``."""
    servers: list[LiveServer] = []

    def start(target: str, args: tuple[str, ...] = (), **env: str) -> LiveServer:
        server = LiveServer(target, env, args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def debian_program(program: str, package: str, needed_by: str, also: tuple[str, ...] = ()) -> str:
    """The path of ``program`` (or one of ``also``), apt-installing ``package`` when missing (as root)."""
    def find() -> str | None:
        return next((found for name in (program, *also) if (found := shutil.which(name) or (os.path.exists(name) and name))), None)

    found = find()
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", package], check=True, stdout=subprocess.DEVNULL)
        found = find()
    if not found:
        raise RuntimeError(f"{needed_by} need Debian's {package}: apt-get install {package}")
    return found


def chromium_path() -> str:
    """Debian's chromium, installed by the test setup when missing (as root)."""
    return debian_program("chromium", "chromium", "the browser tests")


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module (Playwright's sync API keeps an event loop running while it
    lives, which asyncio tests in other modules must not see)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def redis_server():
    """A fresh redis-server on loopback (no persistence) for one test."""
    from tests.redis_server import RedisServer

    server = RedisServer()
    yield server
    server.stop()


# ----- parallel workers (pytest-xdist, ``-n auto`` in pyproject's addopts)


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: two workers a core (the suite mostly waits on browsers, servers and timers),
    or FLASH_WS_TEST_WORKERS."""
    if os.environ.get("FLASH_WS_TEST_WORKERS"):
        return int(os.environ["FLASH_WS_TEST_WORKERS"])
    return max(2, min(8, 2 * (os.cpu_count() or 1)))



# ----- the backend matrix (CONTRIBUTING.md: Tests)

# The modules whose tests reach flash_ws through a server backend's routes, sockets and streaming
# responses: .ci/run runs them again on every backend (FLASH_WS_TEST_BACKEND=fastapi makes the test
# apps FastAPI apps, served by uvicorn). The rest (the protocol core, the JS client, the service,
# the stores, the Dash glue) is the same code whatever the backend: it runs once.
ADAPTER_MODULES = frozenset({
    "test_admission", "test_backpressure", "test_browser", "test_browser_tabs", "test_budgets", "test_cluster",
    "test_dash_streaming_browser", "test_demo", "test_error_masking", "test_health", "test_isolation", "test_metrics",
    "test_post", "test_proxy_nginx", "test_refusals", "test_resume", "test_shared_stream", "test_stalled_reader",
    "test_transports_integration",
})


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rpartition(".")[2] in ADAPTER_MODULES:
            item.add_marker(pytest.mark.adapter)

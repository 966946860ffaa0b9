"""Smoke test of an installed flash_ws, run by a venv's interpreter from outside the checkout:

    VENV/bin/python .ci/wheel_smoke.py

``python -m flash_ws.demo`` serves its page, the JS bundle and the health route; a run of the demo's
table load streams to its last row through the Python reference client; mypy reads the package's
types (py.typed). Exit status 0 only when all of that holds.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TIMEOUT = 60 * float(os.environ.get("FLASH_WS_TEST_SCALE", "1"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    """The status and body of a GET (status 0 while nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


def wait_for_page(url: str, demo: subprocess.Popen[bytes], log: Path) -> bytes:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if demo.poll() is not None:
            sys.exit(f"the demo exited with {demo.returncode}: {log.read_text()[-2000:]}")
        status, page = get(url)
        if status == 200:
            return page
        time.sleep(0.2)
    sys.exit(f"the demo did not serve {url} within {TIMEOUT:.0f} s: {log.read_text()[-2000:]}")


async def stream_table_load(url: str) -> str:
    """Run the demo's table load to its end; the last progress text it streamed."""
    from flash_ws.client import FlashWsClient

    async with FlashWsClient.connect(url) as client:
        run = await client.start("flash_ws.demo.app.load_data", [1, 1000])
        pairs, end = await asyncio.wait_for(run.collect(), TIMEOUT)
    if end.reason != "done":
        sys.exit(f"the table load ended {end.reason!r}: {end}")
    return [props["children"] for target, props in pairs if target == "progress-text"][-1]


def check_demo(workdir: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = workdir / "demo.log"
    with log.open("wb") as output:
        demo = subprocess.Popen([sys.executable, "-m", "flash_ws.demo", "--port", str(port)], cwd=workdir,
                                stdout=output, stderr=subprocess.STDOUT)
    try:
        page = wait_for_page(url, demo, log)
        script = re.search(rb'<script src="(/_dash-component-suites/flash_ws/assets/flash_ws[^"]*\.js)"', page)
        if script is None:
            sys.exit("the page loads no flash_ws bundle")
        status, bundle = get(url.rstrip("/") + script[1].decode())
        if status != 200 or len(bundle) < 10_000:
            sys.exit(f"the bundle {script[1].decode()} answered {status} with {len(bundle)} bytes")
        status, health = get(url + "_flash_ws/health")
        if status != 200 or json.loads(health)["ready"] is not True:
            sys.exit(f"/_flash_ws/health answered {status}: {health!r}")
        last = asyncio.run(stream_table_load(url))
        if last != "1704 / 1704 rows":
            sys.exit(f"the table load streamed up to {last!r}, not to its last row")
        print(f"demo: page, bundle ({len(bundle)} bytes), health and a streamed run ({last})")
    finally:
        demo.terminate()
        demo.wait(30)


def check_types(workdir: Path) -> None:
    """mypy finds flash_ws's types: a wrong use is reported as a type error, not as missing stubs."""
    probe = workdir / "probe.py"
    probe.write_text("import flash_ws\n\nversion: int = flash_ws.__version__\n")
    result = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", str(probe)], cwd=workdir,
                            capture_output=True, text=True, timeout=600)
    if "py.typed" in result.stdout or "library stubs" in result.stdout or "assignment" not in result.stdout:
        sys.exit(f"mypy does not read flash_ws's types:\n{result.stdout}{result.stderr}")
    print("mypy: reads flash_ws's types (py.typed)")


def main() -> None:
    import flash_ws

    where = Path(flash_ws.__file__).resolve()
    if "site-packages" not in where.parts:
        sys.exit(f"flash_ws was imported from {where}, not from an installed wheel")
    print(f"flash_ws {flash_ws.__version__} on Python {sys.version.split()[0]} from {where.parent}")
    with tempfile.TemporaryDirectory() as workdir:
        check_demo(Path(workdir))
        check_types(Path(workdir))


if __name__ == "__main__":
    main()

"""``python -m flash_ws.demo --backend quart|fastapi|flask``, as a user types it: the page and the transport
are served on either backend.

A real process: only it shows what the command line starts (hypercorn through Dash's ``app.run``, or
uvicorn) and that it serves."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import ROOT, free_port, stop_process, wait_until


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


@pytest.mark.parametrize("backend", ["quart", "fastapi", "flask"])
def test_the_demo_serves_its_page_and_the_transport_on_each_backend(backend, tmp_path):
    port = free_port()
    log = tmp_path / "demo.log"
    proc = subprocess.Popen([sys.executable, "-m", "flash_ws.demo", "--port", str(port), "--backend", backend],
                            cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        status, page = wait_until(lambda: (answer := _get(url + "/"))[0] == 200 and answer,
                                  what=f"the demo on {backend} to serve its page (log: {log})")
        assert b'"flash_ws"' in page  # the page config names flash_ws's callbacks
        status, body = _get(url + "/_flash_ws/health")
        assert status == 200 and json.loads(body)["ready"] is True
        assert f"flash_ws demo on {backend}: http://127.0.0.1:{port}/" in log.read_text()
    finally:
        stop_process(proc)

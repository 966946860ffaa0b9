"""Process helpers the benchmarks share: free loopback ports, JSON over loopback, waiting until a
process is ready, stopping it, its children, finding a program and asking its version."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
BENCH_STATUS_PATH = "/_bench/status"  # every contender app answers its status here
# Loopback only: never through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout: float = 5.0) -> Any:
    """GET ``url`` (on loopback, never through a proxy) and decode its JSON body."""
    with _OPENER.open(url, timeout=timeout) as response:
        return json.loads(response.read())


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` every 50 ms until it is truthy. An ``OSError`` counts as not yet (nothing
    listens yet); any other exception gives up at once. RuntimeError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout:.0f}s")
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Send ``sig`` to ``proc``; kill it if it has not exited within ``timeout``. Nothing when it is
    not running."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux ``/proc/<pid>/task/*/children``)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                found += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                pass
    except OSError:
        pass
    return found


def program(name: str, missing: str, also: tuple[str, ...] = ()) -> str:
    """The path of program ``name`` on PATH, else the first of the paths ``also`` that exists;
    RuntimeError(``missing``) when there is none."""
    found = shutil.which(name) or next((path for path in also if os.path.exists(path)), None)
    if not found:
        raise RuntimeError(missing)
    return found


def program_version(command: list[str]) -> str | None:
    """The first line ``command`` prints (stdout, then stderr), None when it cannot run or prints nothing."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=5)
    except OSError:
        return None
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0] if text else None

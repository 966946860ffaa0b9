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


# Ports handed out by free_port: below Linux's ephemeral range (32768-60999), so no outgoing
# connection's source port takes one between its choice and its server's bind, and counted through
# one file for every process of this user (parallel test workers, their servers and benchmarks, a
# second suite run beside this one), so no two callers are handed the same port.
PORT_RANGE = range(20000, 32000)
_PORT_COUNTER = Path("/tmp") / f"flash_ws-ports-{os.getuid()}"


def free_port() -> int:
    """A loopback port no other caller of this function holds and nothing listens on."""
    import fcntl

    with open(_PORT_COUNTER, "a+") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)
        counter.seek(0)
        text = counter.read().strip()
        port = int(text) if text.isdigit() else PORT_RANGE.start + os.getpid() % len(PORT_RANGE)
        for _ in range(len(PORT_RANGE)):
            port = port + 1 if port + 1 in PORT_RANGE else PORT_RANGE.start
            if _bindable(port):
                break
        else:
            raise RuntimeError(f"no free loopback port in {PORT_RANGE.start}-{PORT_RANGE.stop - 1}")
        counter.seek(0)
        counter.truncate()
        counter.write(str(port))
        return port


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is no obstacle
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


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

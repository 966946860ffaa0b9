"""Contender servers as subprocesses on free loopback ports, and what they cost (from /proc).

CPU time is ``utime + stime`` of ``/proc/<pid>/stat``; peak memory is ``VmHWM`` of
``/proc/<pid>/status``, reset between rows by writing ``5`` to ``/proc/<pid>/clear_refs`` (where the
kernel lets us; otherwise the peak is since the server started, and ``ProcessMeter.reset`` says so).
The process measured is the one that serves: hypercorn's worker (a child of the process started),
or the started process itself when it has no children.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.contenders.streams import STATUS_PATH

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Loopback only: never through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


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


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far (None when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of the full line


def status_kib(pid: int, field: str) -> int | None:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmHWM``, ``VmRSS``), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak(pid: int) -> bool:
    """Reset ``VmHWM`` of ``pid`` to its current RSS; False when the kernel refuses."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@dataclass
class Usage:
    cpu_s: float | None
    peak_rss_mb: float | None
    peak_since_start: bool  # True when the peak could not be reset for this row


class ProcessMeter:
    """CPU seconds and peak RSS of one process between ``reset()`` and ``read()``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._cpu0: float | None = None
        self._peak_reset = False

    def reset(self) -> None:
        self._cpu0 = cpu_seconds(self.pid)
        self._peak_reset = reset_peak(self.pid)

    def read(self) -> Usage:
        cpu = cpu_seconds(self.pid)
        hwm = status_kib(self.pid, "VmHWM")
        spent = None if cpu is None or self._cpu0 is None else round(cpu - self._cpu0, 3)
        return Usage(spent, None if hwm is None else round(hwm / 1024, 1), not self._peak_reset)


class ServerProcess:
    """One contender server: ``command`` (a list, ``{port}`` filled in) run from the project root."""

    def __init__(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = free_port()
        self.command = [part.format(port=self.port) for part in command]
        self.env = env or {}
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.log = Path(tempfile.gettempdir()) / f"flaky_net_{name}_{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process (does not wait: see ``wait_ready``)."""
        self.proc = subprocess.Popen(self.command, cwd=ROOT, env={**os.environ, **self.env},
                                     stdout=self.log.open("wb"), stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited with {self.proc.returncode}: "
                                   f"{self.log.read_text(errors='replace')[-1500:]}")
            try:
                self.status("ready")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} server not ready after {timeout:.0f}s (log: {self.log})") from None
                time.sleep(0.05)

    def status(self, key: str) -> dict[str, Any]:
        """The side channel, straight to the server (not through the proxy): what ``key`` produced."""
        with _OPENER.open(f"{self.url}{STATUS_PATH}?key={key}", timeout=5) as response:
            return json.loads(response.read())

    @property
    def serving_pid(self) -> int:
        """hypercorn's worker when there is one, else the process started."""
        assert self.proc is not None
        kids = children(self.proc.pid)
        return max(kids) if kids else self.proc.pid

    def meter(self) -> ProcessMeter:
        return ProcessMeter(self.serving_pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def hypercorn(name: str, target: str, python: str = sys.executable, env: dict[str, str] | None = None) -> ServerProcess:
    return ServerProcess(name, [python, "-m", "hypercorn", target, "--bind", f"{LOOPBACK}:{{port}}"], env)


DASH45_VENV = ROOT / ".venv-dash45"  # where .ci/run makes the Dash 4.5 environment


def dash_version(python: str) -> str | None:
    """The Dash version ``python`` imports (None when it cannot import dash)."""
    try:
        done = subprocess.run([python, "-c", "import dash; print(dash.__version__)"], capture_output=True, text=True,
                              timeout=60, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.lru_cache(maxsize=4)
def dash45_python(candidates: tuple[str, ...] | None = None) -> tuple[str | None, str]:
    """A Python with Dash >= 4.5 for the Dash 4.5 contenders, and what was found (or why there is none):
    ``FLASH_WS_DASH45_PYTHON``, else ``.venv-dash45`` of the project, else this interpreter."""
    if candidates is None:
        candidates = (os.environ.get("FLASH_WS_DASH45_PYTHON", ""), str(DASH45_VENV / "bin" / "python"), sys.executable)
    seen = []
    for python in dict.fromkeys(c for c in candidates if c):
        if not Path(python).exists():
            continue
        version = dash_version(python)
        seen.append(f"{python}: dash {version or 'not importable'}")
        if version and tuple(int(p) for p in version.split(".")[:2] if p.isdigit()) >= (4, 5):
            return python, f"dash {version} ({python})"
    return None, ("needs Dash >= 4.5 (streaming callbacks): set FLASH_WS_DASH45_PYTHON or make .venv-dash45 "
                  "(.ci/run does: pip install --pre 'dash[quart]==4.5.0rc2' -e '.[test]'); found "
                  + ("; ".join(seen) or "no Python at " + ", ".join(candidates)))


class NoServer(ServerProcess):
    """A contender that cannot run here: nothing starts, and its rows say why (``reason``)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name, [])
        self.reason = reason

    def start(self) -> None:
        pass

    def wait_ready(self, timeout: float = 60.0) -> None:
        pass

    def meter(self) -> ProcessMeter:
        return ProcessMeter(-1)  # reads as unknown

    def stop(self) -> None:
        pass


def python_module(name: str, module: str) -> ServerProcess:
    return ServerProcess(name, [sys.executable, "-m", module, "--port", "{port}"])

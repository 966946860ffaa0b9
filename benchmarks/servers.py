"""Servers as subprocesses on free loopback ports: the contenders' (``hypercorn``, ``python_module``,
``NoServer``), the Dash 4.5 interpreter they may need, and ``ServerProcess`` under them all.

What a server costs is read by ``benchmarks.metering``. The process measured is the one that serves:
hypercorn's worker (a child of the process started), or the started process itself when it has no
children. Its peak memory is reset between rows where the kernel lets us (otherwise the peak is
since the server started, and ``Usage.peak_since_start`` says so).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchmarks.metering import ProcessMeter
from benchmarks.processes import BENCH_STATUS_PATH as STATUS_PATH
from benchmarks.processes import LOOPBACK, ROOT, children, free_port, get_json, stop_process, wait_for


class ServerProcess:
    """One server: ``command`` (a list, ``{port}`` filled in) run from ``cwd`` (default the project
    root) with ``env`` added to this process's environment, less the variables named in ``unset``.
    It is ready when ``ready_path`` answers JSON; its output goes to ``log`` (default: a file in the
    temporary directory)."""

    def __init__(self, name: str, command: list[str], env: dict[str, str] | None = None, *,
                 unset: Iterable[str] = (), log: Path | None = None,
                 ready_path: str = f"{STATUS_PATH}?key=ready", cwd: Path = ROOT) -> None:
        self.name = name
        self.cwd = cwd
        self.port = free_port()
        self.command = [part.format(port=self.port) for part in command]
        self.env = env or {}
        self.unset = frozenset(unset)
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.log = log or Path(tempfile.gettempdir()) / f"flaky_net_{name}_{self.port}.log"
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process (does not wait: see ``wait_ready``)."""
        env = {key: value for key, value in os.environ.items() if key not in self.unset}
        self.proc = subprocess.Popen(self.command, cwd=self.cwd, env={**env, **self.env},
                                     stdout=self.log.open("wb"), stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited with {self.proc.returncode}: "
                                   f"{self.log.read_text(errors='replace')[-1500:]}")
            self.get(self.ready_path)
            return True

        wait_for(ready, f"{self.name} server (log: {self.log})", timeout)

    def get(self, path: str) -> Any:
        """What ``path`` answers (JSON), straight from the server."""
        return get_json(self.url + path)

    def status(self, key: str) -> dict[str, Any]:
        """The side channel, straight to the server (not through the proxy): what ``key`` produced."""
        return self.get(f"{STATUS_PATH}?key={key}")

    @property
    def serving_pid(self) -> int:
        """hypercorn's worker when there is one, else the process started."""
        assert self.proc is not None
        kids = children(self.proc.pid)
        return max(kids) if kids else self.proc.pid

    def meter(self) -> ProcessMeter:
        return ProcessMeter(self.serving_pid)

    def stop(self) -> None:
        stop_process(self.proc)


def hypercorn_command(target: str, *args: str, python: str = sys.executable) -> list[str]:
    """``python -m hypercorn target`` bound to the loopback ``{port}``, then ``args``."""
    return [python, "-m", "hypercorn", target, "--bind", f"{LOOPBACK}:{{port}}", *args]


def hypercorn(name: str, target: str, python: str = sys.executable, env: dict[str, str] | None = None) -> ServerProcess:
    return ServerProcess(name, hypercorn_command(target, python=python), env)


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


def uvicorn_command(target: str, *args: str) -> list[str]:
    """``python -m uvicorn target`` on the loopback ``{port}``, then ``args``."""
    return [sys.executable, "-m", "uvicorn", target, "--host", LOOPBACK, "--port", "{port}", *args]


def uvicorn(name: str, target: str, env: dict[str, str] | None = None) -> ServerProcess:
    """``python -m uvicorn target`` on the loopback ``{port}`` (FastAPI's convention; a Flask app's
    ``app.asgi`` too), with uvicorn's defaults."""
    return ServerProcess(name, uvicorn_command(target), env)


def python_module(name: str, module: str) -> ServerProcess:
    return ServerProcess(name, [sys.executable, "-m", module, "--port", "{port}"])

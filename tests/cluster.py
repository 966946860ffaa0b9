"""Several hypercorn workers of one app sharing their sessions through Redis, as the multi-worker
tests need: each worker is a ``LiveServer`` on its own port (nginx balances them, see
``tests.nginx.Nginx(upstreams=...)``), and ``kill(i)`` ends one of them with SIGKILL, as a crash would.

The probe routes of the test apps (tests/apps/probe.py) are asked on each worker directly, bypassing
nginx: ``/test/worker`` (its id and pid), ``/test/sessions`` (the sessions it owns) and
``/test/events`` (counters of what its callbacks did: they are per process).
"""

from __future__ import annotations

import os
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import TIMEOUT, LiveServer, wait_until


def _port_refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def _process_gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie counts: it holds no socket any more)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


class Cluster:
    """``workers`` hypercorn processes serving ``target`` with ``FLASH_WS_REDIS_URL=redis_url`` and ``env``."""

    def __init__(self, target: str, redis_url: str, workers: int = 2, **env: str) -> None:
        if workers < 2:
            raise ValueError("a cluster has at least two workers")
        self.env = {"FLASH_WS_REDIS_URL": redis_url, **env}
        self.workers: list[LiveServer] = []
        self.killed: set[int] = set()
        with ThreadPoolExecutor(workers) as pool:  # they start side by side: each takes seconds to import Dash
            futures = [pool.submit(LiveServer, target, self.env) for _ in range(workers)]
        failures = []
        for future in futures:
            try:
                self.workers.append(future.result())
            except Exception as error:  # noqa: BLE001 - stop the others, then say why
                failures.append(error)
        if failures:
            self.stop()
            raise failures[0]
        # hypercorn's master process spawns the process that serves (and holds the sessions): ask it
        self.identities: list[dict[str, Any]] = [worker.get_json("/test/worker") for worker in self.workers]

    def __len__(self) -> int:
        return len(self.workers)

    @property
    def ports(self) -> list[int]:
        return [worker.port for worker in self.workers]

    def alive(self) -> list[int]:
        return [i for i in range(len(self.workers)) if i not in self.killed]

    def index_of_port(self, port: int | None) -> int | None:
        return self.ports.index(port) if port in self.ports else None

    def worker_id(self, i: int) -> str | None:
        """``app.flash_ws.worker_id`` of worker ``i`` (None on a flash_ws without workers ids)."""
        return self.identities[i]["worker"]

    def get_json(self, i: int, path: str) -> Any:
        return self.workers[i].get_json(path)

    def sessions(self, i: int) -> list[dict[str, Any]]:
        """The sessions worker ``i`` owns (``/test/sessions``)."""
        return self.get_json(i, "/test/sessions")

    def active_runs(self, i: int) -> int:
        return sum(session["active_runs"] for session in self.sessions(i))

    def active_runs_by_worker(self) -> dict[int, int]:
        """Active runs of the sessions each live worker owns."""
        return {i: self.active_runs(i) for i in self.alive()}

    def events(self, name: str) -> int:
        """``/test/events[name]`` summed over the live workers."""
        return sum(self.get_json(i, "/test/events").get(name, 0) for i in self.alive())

    def kill(self, i: int) -> None:
        """SIGKILL worker ``i``: both hypercorn's master and the process serving, so its port refuses
        connections at once (as a crashed single-process worker's would) and nothing runs its cleanup."""
        serving = self.identities[i]["pid"]
        master = self.workers[i].proc
        for pid in (master.pid, serving):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        master.wait(TIMEOUT)
        self.killed.add(i)
        port = self.workers[i].port
        wait_until(lambda: _process_gone(serving) and _port_refuses(port), what=f"worker {i} (pid {serving}) gone")

    def outputs(self) -> str:
        """Every worker's log, for failure messages."""
        return "\n".join(f"--- worker {i} (port {w.port}) ---\n{w.output()[-6000:]}" for i, w in enumerate(self.workers))

    def stop(self) -> None:
        for i, worker in enumerate(self.workers):
            if i not in self.killed:
                worker.stop()

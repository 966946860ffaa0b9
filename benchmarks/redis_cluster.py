"""A Redis Cluster of ``masters`` redis-servers on free loopback ports (no replicas, no persistence),
made with ``redis-cli --cluster create``, for the tests and ``python -m benchmarks.scale --redis cluster``.

``restart(i)`` kills master ``i`` (SIGKILL, as a crash) and starts it again on its port with its
``nodes.conf``: it rejoins the cluster with its slots and without a key (nothing is persisted).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from benchmarks.processes import LOOPBACK, free_port, stop_process, wait_for
from benchmarks.redis_nginx import parse_info

NODE_TIMEOUT_MS = 2000  # a master silent this long is failing (the cluster goes down until it is back)


class RedisCluster:
    """``masters`` redis-servers (``binary``) in one cluster, their files under ``workdir``."""

    def __init__(self, binary: str, workdir: Path, masters: int = 3, maxclients: int = 10_000,
                 timeout: float = 30.0) -> None:
        if masters < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 masters")
        self.binary, self.timeout, self.maxclients = binary, timeout, maxclients
        self.cli = shutil.which("redis-cli") or str(Path(binary).with_name("redis-cli"))
        self.ports = [free_port() for _ in range(masters)]
        # the cluster bus's ports: handed out too (by default port + 10,000, which free_port never checked)
        self.bus_ports = [free_port() for _ in range(masters)]
        self.dirs = [workdir / f"node-{port}" for port in self.ports]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * masters
        self.url = f"redis://{LOOPBACK}:{self.ports[0]}/0"
        try:
            for i in range(masters):
                self.dirs[i].mkdir(parents=True)
                self._start(i)
            subprocess.run([self.cli, "--cluster", "create", *(f"{LOOPBACK}:{port}" for port in self.ports),
                            "--cluster-replicas", "0", "--cluster-yes"],
                           check=True, capture_output=True, timeout=timeout)
            self.wait_ok()
        except BaseException:
            self.stop()
            raise

    def _start(self, i: int) -> None:
        port, root = self.ports[i], self.dirs[i]
        self.procs[i] = subprocess.Popen(
            [self.binary, "--port", str(port), "--bind", LOOPBACK, "--cluster-enabled", "yes",
             "--cluster-port", str(self.bus_ports[i]),
             "--cluster-config-file", str(root / "nodes.conf"), "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
             "--save", "", "--appendonly", "no", "--maxclients", str(self.maxclients), "--dir", str(root),
             "--logfile", str(root / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for(lambda: self._ping(i), f"redis-server (cluster node) on port {port}", self.timeout)

    def _ping(self, i: int) -> bool:
        proc = self.procs[i]
        if proc is None or proc.poll() is not None:
            log = self.dirs[i] / "redis.log"
            raise RuntimeError(f"redis-server on port {self.ports[i]} exited: "
                               f"{log.read_text()[-2000:] if log.exists() else ''}")
        return self.command(i, "PING").startswith("+PONG")

    def command(self, i: int, *words: str) -> str:
        """Send one inline command to node ``i``: its reply as text (a bulk reply's body)."""
        with socket.create_connection((LOOPBACK, self.ports[i]), timeout=5) as sock, sock.makefile("rb") as replies:
            sock.sendall(" ".join(words).encode() + b"\r\n")
            first = replies.readline()
            if first.startswith(b"$") and int(first[1:]) >= 0:
                return replies.read(int(first[1:]) + 2)[:-2].decode(errors="replace")
            return first.decode(errors="replace").strip()

    def state_ok(self) -> bool:
        """Every node says ``cluster_state:ok`` and knows every master."""
        for i in range(len(self.ports)):
            info = self.command(i, "CLUSTER", "INFO")
            if "cluster_state:ok" not in info or f"cluster_known_nodes:{len(self.ports)}" not in info:
                return False
        return True

    def wait_ok(self) -> None:
        wait_for(self.state_ok, "the Redis Cluster's cluster_state:ok", self.timeout)

    def node_of_slot(self, slot: int) -> int:
        """The index of the master serving hash slot ``slot``."""
        for line in self.command(0, "CLUSTER", "NODES").splitlines():
            parts = line.split()
            port = int(parts[1].split("@")[0].rsplit(":", 1)[1])
            for part in parts[8:]:
                low, _, high = part.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return self.ports.index(port)
        raise LookupError(f"no master serves slot {slot}")

    def restart(self, i: int, down: float = 0.0) -> None:
        """Crash master ``i`` (SIGKILL), wait ``down`` seconds, start it again on its port with its
        nodes.conf, then wait until the cluster is ok: its keys are gone."""
        proc = self.procs[i]
        if proc is not None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        if down:
            time.sleep(down)
        self._start(i)
        self.wait_ok()

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs if proc is not None and proc.poll() is None]

    def counters(self) -> dict[str, int]:
        """``RedisServer.counters`` summed over the masters."""
        total: dict[str, int] = {}
        for i in range(len(self.ports)):
            text = self.command(i, "INFO", "commandstats") + "\n" + self.command(i, "INFO", "stats")
            for name, value in parse_info(text).items():
                total[name] = total.get(name, 0) + value
        return total

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc)

"""redis-server and nginx as subprocesses on free loopback ports, for benchmarks that run a real
deployment: Redis with no persistence, nginx round-robin (no stickiness) in front of workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

from benchmarks.processes import LOOPBACK, children, free_port, get_json, stop_process, wait_for


class RedisServer:
    """``binary`` (a redis-server) on a free loopback port with no persistence, its files in ``workdir``."""

    def __init__(self, binary: str, workdir: Path, maxclients: int = 10_000) -> None:
        self.port = free_port()
        self.url = f"redis://{LOOPBACK}:{self.port}/0"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
             "--maxclients", str(maxclients), "--dir", str(workdir), "--logfile", str(workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for(self._ready, f"redis-server on port {self.port}", 20)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError("redis-server exited at start")
        with socket.create_connection((LOOPBACK, self.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid]

    def counters(self) -> dict[str, int]:
        """What ``INFO commandstats`` and ``INFO stats`` count so far: ``calls:<command>`` per command
        (a script's own calls included), ``calls`` their sum, ``total_commands_processed`` (what clients
        sent: a script is one) and the network's bytes in and out (``total_net_*_bytes``)."""
        with socket.create_connection((LOOPBACK, self.port), timeout=5) as sock, sock.makefile("rb") as replies:
            sock.sendall(b"INFO commandstats\r\nINFO stats\r\n")
            text = b""
            for _reply in range(2):  # each a bulk string: $<length>\r\n<text>\r\n
                length = int(replies.readline()[1:])
                text += replies.read(length + 2)
        return parse_info(text.decode(errors="replace"))

    def stop(self) -> None:
        stop_process(self.proc)


def parse_info(text: str) -> dict[str, int]:
    """The counters of ``INFO commandstats`` / ``INFO stats`` replies (see ``RedisServer.counters``)."""
    found: dict[str, int] = {"calls": 0}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.startswith("cmdstat_"):
            calls = int(value.split("calls=")[1].split(",")[0])
            found[f"calls:{name[len('cmdstat_'):]}"] = calls
            found["calls"] += calls
        elif name in ("total_net_input_bytes", "total_net_output_bytes", "total_commands_processed"):
            found[name] = int(value)
    return found


# The WebSocket configuration of the main README: upgrades forwarded, long reads; access log off.
NGINX_CONFIG = """
{user}
worker_processes {processes};
worker_rlimit_nofile 40000;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream flash_ws_workers {{
{servers}
    }}
    server {{
        listen {host}:{port} backlog=4096;
        location / {{
            proxy_pass http://flash_ws_workers;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host:$server_port;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


class Nginx:
    """``binary`` (an nginx) in front of the ``upstream_ports``: one upstream, nginx's default
    round-robin, no stickiness, ``processes`` worker processes. Ready when ``ready_path`` answers JSON
    through it; its files are under ``workdir/nginx``."""

    def __init__(self, binary: str, upstream_ports: Sequence[int], workdir: Path, ready_path: str,
                 processes: int = 1) -> None:
        self.root = workdir / "nginx"
        self.root.mkdir()
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        servers = "\n".join(f"        server {LOOPBACK}:{port};" for port in upstream_ports)
        config = NGINX_CONFIG.format(user="user root;" if os.geteuid() == 0 else "", processes=processes,
                                     root=self.root, servers=servers, host=LOOPBACK, port=self.port)
        (self.root / "nginx.conf").write_text(config)
        self.proc = subprocess.Popen([binary, "-p", str(self.root), "-c", str(self.root / "nginx.conf"),
                                      "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: self._ready(ready_path), f"nginx on port {self.port}", 20)

    def _ready(self, path: str) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
        return isinstance(get_json(self.url + path, timeout=2), dict)

    @property
    def pids(self) -> list[int]:
        """The master and its worker processes."""
        return [self.proc.pid, *children(self.proc.pid)]

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGQUIT)  # graceful: lets the workers finish

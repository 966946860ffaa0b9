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

    def stop(self) -> None:
        stop_process(self.proc)


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

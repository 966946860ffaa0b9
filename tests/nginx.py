"""A real nginx (Debian's package) on loopback in front of one test server, or several workers
balanced round-robin (no ``ip_hash``, no stickiness), as the proxy and multi-worker tests need."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import debian_program, free_port, wait_until

# ``{upstream}`` is what follows ``http://`` in proxy_pass: ``127.0.0.1:PORT`` for one server, the
# name of the ``upstream`` block for several.

# The stock reverse proxy: proxy_pass only. No Upgrade/Connection forwarding (WebSockets fail),
# proxy_buffering on (nginx's default).
STOCK = """
        location / {{
            proxy_pass http://{upstream};
        }}
"""
# The documented configuration for flash_ws: WebSockets forwarded, long timeouts.
WEBSOCKETS = """
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host:$server_port;
            proxy_read_timeout 1h;
        }}
"""

UPSTREAM_NAME = "flash_ws_workers"
# Plain round-robin. nginx's defaults do the rest: a worker that refuses the connection or fails
# before a response starts is skipped (proxy_next_upstream error timeout; a POST is retried only
# when it never reached the dead worker) and left out for fail_timeout (10 s) after max_fails (1).
UPSTREAM = """
    upstream {name} {{
{servers}
    }}
"""

# The access log says which worker served each request ($upstream_addr lists every worker tried,
# comma separated) and which session a POST belongs to (its X-Flash-Ws-Session header).
LOG_FORMAT = ('\'$remote_addr [$time_local] "$request" $status $body_bytes_sent '
              'upstream="$upstream_addr" upstream_status="$upstream_status" session="$http_x_flash_ws_session"\'')

CONFIG = """
{user}
worker_processes 1;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    log_format flash_ws {log_format};
    access_log {root}/access.log flash_ws;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
{upstream_block}
    server {{
        listen 127.0.0.1:{port};
{location}
    }}
}}
"""

_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+)[^"]*" (?P<status>\d{3}) \d+ '
                   r'upstream="(?P<upstream>[^"]*)" upstream_status="[^"]*" session="(?P<session>[^"]*)"')


@dataclass(frozen=True)
class LogEntry:
    """One request of the access log (logged when it ends: a WebSocket or an event stream when it closes)."""

    method: str
    path: str
    status: int
    upstreams: tuple[str, ...]  # every worker nginx tried, in order ("127.0.0.1:PORT")
    session: str  # the X-Flash-Ws-Session header of a POST ("" when absent)

    @property
    def upstream(self) -> str | None:
        """The worker that answered (the last one tried), None when nginx answered itself."""
        return self.upstreams[-1] if self.upstreams else None

    @property
    def port(self) -> int | None:
        return int(self.upstream.rsplit(":", 1)[1]) if self.upstream else None


def parse_access_log(text: str) -> list[LogEntry]:
    entries = []
    for line in text.splitlines():
        match = _LINE.search(line)
        if match is None:
            continue
        tried = tuple(a.strip() for a in re.split(r"[,:]\s", match["upstream"]) if a.strip() not in ("", "-"))
        session = "" if match["session"] == "-" else match["session"]
        entries.append(LogEntry(match["method"], match["path"], int(match["status"]), tried, session))
    return entries


def nginx_binary() -> str:
    """Debian's nginx, installed by the test setup when missing (as root)."""
    return debian_program("nginx", "nginx", "the proxy tests", also=("/usr/sbin/nginx",))


class Nginx:
    """nginx on 127.0.0.1:port with the ``STOCK`` or ``WEBSOCKETS`` location, proxying to the
    ``upstream`` port, or round-robin to the ``upstreams`` ports: ``Nginx(upstreams=[p1, p2], location=STOCK)``."""

    def __init__(self, upstream: int | None = None, location: str = STOCK, port: int | None = None, *,
                 upstreams: Sequence[int] | None = None) -> None:
        if (upstream is None) == (upstreams is None):
            raise TypeError("Nginx needs either upstream (one port) or upstreams (several)")
        self.root = Path(tempfile.mkdtemp(prefix="flash_ws_nginx_"))
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.upstreams = [upstream] if upstreams is None else list(upstreams)
        if upstreams is None:
            target, block = f"127.0.0.1:{upstream}", ""
        else:
            servers = "\n".join(f"        server 127.0.0.1:{p};" for p in upstreams)
            target, block = UPSTREAM_NAME, UPSTREAM.format(name=UPSTREAM_NAME, servers=servers)
        user = "user root;" if os.geteuid() == 0 else ""
        conf = CONFIG.format(user=user, root=self.root, port=self.port, log_format=LOG_FORMAT, upstream_block=block,
                             location=location.format(upstream=target))
        (self.root / "nginx.conf").write_text(conf)
        self.proc = subprocess.Popen([nginx_binary(), "-p", str(self.root), "-c", str(self.root / "nginx.conf"),
                                      "-g", "daemon off;"], stderr=subprocess.PIPE)
        wait_until(self._ready, what=f"nginx on port {self.port}")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
        try:
            with urllib.request.urlopen(self.url + "/_dash-layout", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def access_log(self) -> str:
        return (self.root / "access.log").read_text()

    def entries(self, path_contains: str = "", method: str | None = None) -> list[LogEntry]:
        """The requests of the access log whose path contains ``path_contains`` (and of ``method``)."""
        return [e for e in parse_access_log(self.access_log())
                if path_contains in e.path and (method is None or e.method == method)]

    def error_log(self) -> str:
        path = self.root / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

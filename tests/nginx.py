"""A real nginx (Debian's package) on loopback in front of a test server, as the proxy tests need."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from tests.conftest import free_port, wait_until

# The stock reverse proxy: proxy_pass only. No Upgrade/Connection forwarding (WebSockets fail),
# proxy_buffering on (nginx's default).
STOCK = """
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
        }}
"""
# The documented configuration for flash_ws: WebSockets forwarded, long timeouts.
WEBSOCKETS = """
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host:$server_port;
            proxy_read_timeout 1h;
        }}
"""

CONFIG = """
{user}
worker_processes 1;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
{location}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or (os.path.exists("/usr/sbin/nginx") and "/usr/sbin/nginx")
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "nginx"], check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not found:
        raise RuntimeError("the proxy tests need Debian's nginx: apt-get install nginx")
    return found


class Nginx:
    """nginx proxying 127.0.0.1:port to the upstream port, with the ``STOCK`` or ``WEBSOCKETS`` location."""

    def __init__(self, upstream: int, location: str = STOCK, port: int | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="flash_ws_nginx_"))
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        user = "user root;" if os.geteuid() == 0 else ""
        conf = CONFIG.format(user=user, root=self.root, port=self.port, location=location.format(upstream=upstream))
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

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

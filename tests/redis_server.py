"""A real redis-server (Debian's package) on a free loopback port, as the multi-worker tests need."""

from __future__ import annotations

import socket
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import debian_program, free_port, stop_process, wait_until


def redis_binary() -> str:
    """Debian's redis-server, installed by the test setup when missing (as root)."""
    return debian_program("redis-server", "redis-server", "the multi-worker tests")


class RedisServer:
    """redis-server on 127.0.0.1:port with no persistence; ``restart()`` loses everything it held."""

    def __init__(self, port: int | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="flash_ws_redis_"))
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root), "--logfile", str(self.root / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(self._ready, what=f"redis-server on port {self.port}")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited: {(self.root / 'redis.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self.proc)

    def restart(self) -> None:
        """Stop and start again on the same port: with no persistence, every key is gone."""
        self.stop()
        self.start()

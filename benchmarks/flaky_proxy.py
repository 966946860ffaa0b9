"""FlakyProxy: a fault-injecting TCP proxy on loopback, for tests and the ``flaky_net`` benchmark.

The model (the knobs are ``Faults`` in ``faults.py``):

- each client connection gets its own connection to ``127.0.0.1:upstream_port``. Bytes are read in
  chunks and each chunk is delivered when its direction's ``DelayLine`` says (token-bucket pacing,
  then latency ± jitter), never before the chunk read before it. A half-close (EOF) follows the
  data before it; a reset or error on one side resets the other;
- at most ``proxy_connection.HIGH_WATER`` bytes wait inside the proxy per direction; beyond that it
  stops reading, so TCP flow control pushes back on the sender as on a real link;
- a reset (``reset_after_s``): SO_LINGER 0 on both sockets, then close: both peers get an RST;
- a dead path (``blackhole``, or ``Faults.outage`` relative to ``start``): every open connection goes
  silent for good. The proxy keeps reading both sides and drops what it reads; it sends nothing, no
  FIN, no RST, even after the outage. A connection accepted during the outage is silent too and never
  reaches the upstream (its SYN would not have). Connections accepted after it work normally;
- refused WebSockets: see ``upgrade_filter`` (a stock nginx ``proxy_pass`` that drops Upgrade);
- determinism: connection ``i`` draws its reset moment and each direction's jitter from RNGs seeded
  by ``(seed, i, purpose)``; nothing depends on timing or on other connections, except the chunk
  boundaries, which are whatever the kernel hands over.

By hand: ``python -m benchmarks.flaky_proxy --upstream 8050 --profile lossy --port 9000 --seed 1``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
from types import TracebackType

from benchmarks.faults import PROFILES, Faults, Shaping, profile
from benchmarks.proxy_connection import LOOPBACK, Connection, ConnectionStats, Counters, connection_rng

__all__ = ["PROFILES", "ConnectionStats", "Counters", "Faults", "FlakyProxy", "Shaping", "connection_rng", "profile"]


def _counter(name: str) -> property:
    return property(lambda self: getattr(self.counters, name), doc=f"``counters.{name}``")


class FlakyProxy:
    """Listens on ``127.0.0.1:port`` (0: any free port) and relays to ``127.0.0.1:upstream_port``."""

    connections_opened = _counter("connections_opened")
    bytes_up = _counter("bytes_up")
    bytes_down = _counter("bytes_down")
    resets = _counter("resets")
    websocket_refusals = _counter("websocket_refusals")
    bytes_swallowed = _counter("bytes_swallowed")

    def __init__(self, upstream_port: int, faults: Faults = Faults(), seed: int = 0, *, port: int = 0) -> None:
        self.upstream_port = upstream_port
        self.faults = faults
        self.seed = seed
        self.port = port
        self.counters = Counters()
        self.history: list[ConnectionStats] = []
        """Every connection accepted, in order (``history[i].index == i``)."""
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started_at = 0.0
        self._dead_until = -math.inf  # blackhole()
        self._window: tuple[float, float] | None = None  # Faults.outage, in loop time
        self._live: set[Connection] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._outage_timer: asyncio.TimerHandle | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    async def start(self) -> int:
        """Start listening; return the port."""
        if self._server is not None:
            raise RuntimeError(f"proxy already started on port {self.port}")
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._accept, LOOPBACK, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._started_at = self._loop.time()
        if self.faults.outage is not None:
            start_s, duration_s = self.faults.outage
            self._window = (self._started_at + start_s, self._started_at + start_s + duration_s)
            self._outage_timer = self._loop.call_at(self._window[0], self._kill_open_connections)
        return self.port

    async def stop(self) -> None:
        """Stop listening and close every connection (quietly: the run is over, this is not a fault)."""
        if self._server is None:
            return
        if self._outage_timer is not None:
            self._outage_timer.cancel()
        self._server.close()
        for connection in self._live:
            connection.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> FlakyProxy:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.stop()

    @property
    def in_outage(self) -> bool:
        """Whether connections accepted now are dead on arrival."""
        if self._loop is None:
            return False
        now = self._loop.time()
        return now < self._dead_until or (self._window is not None and self._window[0] <= now < self._window[1])

    @property
    def live_connections(self) -> int:
        """Connections open now that can still deliver (neither closed nor on a dead path)."""
        return sum(1 for connection in self._live if not (connection.dead or connection.closed))

    def blackhole(self, duration_s: float | None = None) -> None:
        """Kill the path now: open connections go silent for good, and so do connections accepted in
        the next ``duration_s`` seconds (until ``restore`` when None)."""
        if self._loop is None:
            raise RuntimeError("blackhole() needs a started proxy")
        until = math.inf if duration_s is None else self._loop.time() + duration_s
        self._dead_until = max(self._dead_until, until)
        self._kill_open_connections()

    def restore(self) -> None:
        """End the outage now, scheduled or not: new connections work again (the dead ones stay dead).
        A scheduled outage that has not started yet still will."""
        self._dead_until = -math.inf
        if self._loop is not None and self._window is not None and self._window[0] <= self._loop.time():
            self._window = None

    def _kill_open_connections(self) -> None:
        for connection in self._live:
            connection.go_dead()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None and self._loop is not None
        self._handlers.add(task)
        stats = ConnectionStats(index=len(self.history), opened_at=self._loop.time())
        self.history.append(stats)
        self.counters.connections_opened += 1
        connection = Connection(stats, self.counters, self.faults, self.seed, self.upstream_port, (reader, writer))
        if self.in_outage:
            connection.go_dead()
        self._live.add(connection)
        try:
            await connection.run()
        finally:
            self._live.discard(connection)
            self._handlers.discard(task)


async def _serve(proxy: FlakyProxy, profile_name: str, duration_s: float | None) -> None:
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)  # Ctrl-C: asyncio.run cancels
    await proxy.start()
    print(f"flaky proxy {proxy.url} -> {LOOPBACK}:{proxy.upstream_port}, profile {profile_name!r}, "
          f"seed {proxy.seed}: {proxy.faults}", flush=True)
    try:
        await asyncio.wait_for(stopping.wait(), duration_s)
    except TimeoutError:
        pass
    finally:
        await proxy.stop()
        print(f"stopped: {proxy.counters}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flaky_proxy",
                                     description="A fault-injecting TCP proxy on 127.0.0.1.")
    parser.add_argument("--upstream", type=int, required=True, help="the loopback port to relay to")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="clean")
    parser.add_argument("--port", type=int, default=0, help="the port to listen on (default: any free port)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outage-start", type=float, default=None, metavar="S",
                        help="seconds after start when the 'outage' profile's dead path begins")
    parser.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    args = parser.parse_args(argv)
    try:
        faults = profile(args.profile, outage_start_s=args.outage_start)
    except ValueError as error:
        parser.error(str(error))
    proxy = FlakyProxy(args.upstream, faults, args.seed, port=args.port)
    try:
        asyncio.run(_serve(proxy, args.profile, args.duration))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

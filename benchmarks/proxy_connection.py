"""One proxied connection: two directions, each a reader and a writer task, and its faults.

States: open -> closed (EOF both ways, a reset, an error) or open -> dead (silent for good; it ends
when both peers have gone, or when the proxy stops). See ``flaky_proxy`` for the model.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks.faults import Faults, Shaping
from benchmarks.pacing import DelayLine, read_size
from benchmarks.upgrade_filter import UpgradeStripper

LOOPBACK = "127.0.0.1"
# Bytes that may wait inside the proxy per direction before it stops reading from the sender.
HIGH_WATER = 512 * 1024


def connection_rng(seed: int, index: int, purpose: str) -> random.Random:
    """The RNG connection ``index`` uses for ``purpose`` ("reset", "up" or "down")."""
    return random.Random(f"flaky-proxy/{seed}/{index}/{purpose}")


@dataclass
class Counters:
    """Totals over all connections of one proxy."""

    connections_opened: int = 0
    bytes_up: int = 0
    """Bytes delivered client -> server (after any header rewrite)."""
    bytes_down: int = 0
    """Bytes delivered server -> client."""
    resets: int = 0
    """Injected resets (``reset_after_s``), not resets passed on from a peer."""
    websocket_refusals: int = 0
    bytes_swallowed: int = 0
    """Bytes read and dropped on a dead path."""


@dataclass
class ConnectionStats:
    """What happened to one connection; times are event-loop times."""

    index: int
    opened_at: float
    reset_after_s: float | None = None
    """The drawn reset moment, in seconds after ``opened_at`` (None: no reset planned)."""
    reset_at: float | None = None
    """When the reset was sent (None: it was not)."""
    dead: bool = False
    bytes_up: int = 0
    bytes_down: int = 0
    delays_up: Sequence[float] = ()
    """The latency ± jitter drawn for each chunk, in seconds (the most recent ``pacing.KEPT_DELAYS``)."""
    delays_down: Sequence[float] = ()


@dataclass
class _Pipe:
    """One direction: read ``source``, deliver to ``sink`` when ``line`` says."""

    name: str  # "up" or "down"
    source: asyncio.StreamReader
    sink: asyncio.StreamWriter
    line: DelayLine
    read_size: int
    stripper: UpgradeStripper | None = None
    queue: asyncio.Queue[tuple[float, bytes | None]] = field(default_factory=asyncio.Queue)
    queued: int = 0
    drained: asyncio.Event = field(default_factory=asyncio.Event)


def reset_socket(writer: asyncio.StreamWriter) -> None:
    """Close with an RST: SO_LINGER on with a zero timeout, then close."""
    sock = writer.get_extra_info("socket")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (OSError, AttributeError):  # already closed
        pass
    writer.transport.abort()


class Connection:
    """Relays one client connection to ``127.0.0.1:upstream_port`` through ``faults``."""

    def __init__(self, stats: ConnectionStats, counters: Counters, faults: Faults, seed: int, upstream_port: int,
                 client: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.stats = stats
        self.counters = counters
        self.faults = faults
        self.seed = seed
        self.upstream_port = upstream_port
        self.client = client
        self.upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.dead = False
        self.closed = False
        self._pipes: list[_Pipe] = []
        self._writers: list[asyncio.Task[None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._reset_timer: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        """Relay until both directions have ended, or the peers have gone from a dead path."""
        try:
            if not self.dead:
                await self._connect()
            if self.closed:
                return
            if self.dead:  # dead on arrival, or the path died while connecting
                readers = [self.client[0]] + ([self.upstream[0]] if self.upstream else [])
                await asyncio.gather(*(self._swallow(reader) for reader in readers))
                return
            self._start()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            for _, writer in filter(None, (self.client, self.upstream)):
                writer.close()

    async def _connect(self) -> None:
        try:
            self.upstream = await asyncio.open_connection(LOOPBACK, self.upstream_port)
        except OSError:  # the upstream refused: so does the proxy
            self.closed = True
            reset_socket(self.client[1])

    def _start(self) -> None:
        assert self.upstream is not None
        if self.faults.reset_after_s is not None:
            delay = connection_rng(self.seed, self.stats.index, "reset").uniform(*self.faults.reset_after_s)
            self.stats.reset_after_s = delay
            self._reset_timer = asyncio.get_running_loop().call_at(self.stats.opened_at + delay, self._inject_reset)
        up = self._pipe("up", self.client[0], self.upstream[1], self.faults.upstream)
        down = self._pipe("down", self.upstream[0], self.client[1], self.faults.downstream)
        if self.faults.refuse_websocket:
            up.stripper = UpgradeStripper()
        self.stats.delays_up, self.stats.delays_down = up.line.delays, down.line.delays
        self._pipes = [up, down]
        self._writers = [asyncio.create_task(self._write(pipe)) for pipe in self._pipes]
        self._tasks = [asyncio.create_task(self._read(pipe)) for pipe in self._pipes] + self._writers

    def _pipe(self, name: str, source: asyncio.StreamReader, sink: asyncio.StreamWriter, shaping: Shaping) -> _Pipe:
        line = DelayLine(shaping, connection_rng(self.seed, self.stats.index, name), asyncio.get_running_loop().time())
        return _Pipe(name, source, sink, line, read_size(shaping))

    async def _read(self, pipe: _Pipe) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                data: bytes | None = await pipe.source.read(pipe.read_size)
            except OSError:
                data = None
            if self.closed:
                return
            if self.dead:
                if not data:
                    return  # the FIN or RST goes nowhere
                self.counters.bytes_swallowed += len(data)
                continue
            if data is None:
                self.close(reset=True)  # pass the peer's reset on
                return
            if data and pipe.stripper is not None:
                refused = pipe.stripper.refused
                data = pipe.stripper.feed(data)
                self.counters.websocket_refusals += pipe.stripper.refused - refused
                if not data:
                    continue
            pipe.queue.put_nowait((pipe.line.schedule(len(data), loop.time()), data or None))
            if not data:
                return  # the EOF is queued behind the data
            pipe.queued += len(data)
            while pipe.queued > HIGH_WATER and not (self.dead or self.closed):
                pipe.drained.clear()
                await pipe.drained.wait()

    async def _write(self, pipe: _Pipe) -> None:
        loop = asyncio.get_running_loop()
        while True:
            at, data = await pipe.queue.get()
            if at > loop.time():
                await asyncio.sleep(at - loop.time())
            try:
                if data is None:
                    if pipe.sink.can_write_eof():
                        pipe.sink.write_eof()
                    return
                pipe.sink.write(data)
                pipe.queued -= len(data)
                self._count(pipe.name, len(data))
                if pipe.queued <= HIGH_WATER:
                    pipe.drained.set()
                await pipe.sink.drain()
            except OSError:
                self.close(reset=True)
                return

    def _count(self, name: str, size: int) -> None:
        if name == "up":
            self.stats.bytes_up += size
            self.counters.bytes_up += size
        else:
            self.stats.bytes_down += size
            self.counters.bytes_down += size

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        while not self.closed:
            try:
                data = await reader.read(64 * 1024)
            except OSError:
                return
            if not data:
                return
            self.counters.bytes_swallowed += len(data)

    def _inject_reset(self) -> None:
        if self.closed or self.dead:
            return
        self.stats.reset_at = asyncio.get_running_loop().time()
        self.counters.resets += 1
        self.close(reset=True)

    def go_dead(self) -> None:
        """Stop delivering for good: what is in flight is lost, and from now on the readers drop all."""
        if self.dead or self.closed:
            return
        self.dead = self.stats.dead = True
        if self._reset_timer is not None:
            self._reset_timer.cancel()
        for task in self._writers:
            task.cancel()
        for pipe in self._pipes:
            pipe.drained.set()  # a reader held back by a full queue goes back to reading (and dropping)

    def close(self, reset: bool = False) -> None:
        """Close both sockets now, with an RST if ``reset``, and stop the other tasks."""
        if self.closed:
            return
        self.closed = True
        if self._reset_timer is not None:
            self._reset_timer.cancel()
        for _, writer in filter(None, (self.client, self.upstream)):
            if reset:
                reset_socket(writer)
            else:
                writer.transport.abort()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

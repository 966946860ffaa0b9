"""benchmarks.flaky_proxy: the fault-injecting proxy, over real loopback sockets, and its pure parts.

Timing is asserted through what the proxy scheduled and recorded (drawn delays, reset moments,
pacing arithmetic on a fake clock), never through elapsed wall-clock time. The only waits are the
windows that prove a silent connection stays silent (``QUIET``).

Real loopback sockets: the proxy is a TCP proxy, and only real sockets show a reset (RST), a FIN
swallowed, a connection that stays silent, and a real WebSocket handshake refused.
"""

from __future__ import annotations

import asyncio
import random
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import websockets
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

from benchmarks.faults import OUTAGE_DURATION_S, PROFILES, WAN, Faults, Shaping, profile
from benchmarks.flaky_proxy import FlakyProxy, connection_rng
from benchmarks.pacing import DelayLine, TokenBucket
from benchmarks.upgrade_filter import UpgradeStripper
from tests.conftest import ROOT, SCALE, TIMEOUT, free_port

# How long a silent connection must stay silent to count as silent.
QUIET = 0.3 * SCALE
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


# --- upstreams -------------------------------------------------------------------------------------


@dataclass
class EchoSession:
    received: bytearray = field(default_factory=bytearray)
    ended: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class EchoServer:
    """Echoes every byte; records what each connection received and how it ended ("eof" or "reset")."""

    def __init__(self) -> None:
        self.sessions: list[EchoSession] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = EchoSession()
        self.sessions.append(session)
        try:
            while data := await reader.read(64 * 1024):
                session.received += data
                writer.write(data)
                await writer.drain()
            session.ended.set_result("eof")
        except ConnectionResetError:
            session.ended.set_result("reset")
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


class HttpServer:
    """Answers ``GET /ws`` with 426 (as a server does when the Upgrade header is missing) and any
    other GET with 200 "hello", keeping the connection alive unless asked to close. Records every
    request head exactly as received."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                if b"upgrade: websocket" in head.lower():
                    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                    break
                if head.startswith(b"GET /ws "):
                    writer.write(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    break
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                if b"connection: close" in head.lower():
                    break
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def echo() -> AsyncIterator[EchoServer]:
    server = EchoServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[HttpServer]:
    server = HttpServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def make_proxy() -> AsyncIterator[Callable[..., Awaitable[FlakyProxy]]]:
    """Start proxies: ``await make_proxy(upstream_port, faults, seed=0)``; all stopped at teardown."""
    proxies: list[FlakyProxy] = []

    async def start(upstream_port: int, faults: Faults = Faults(), seed: int = 0) -> FlakyProxy:
        proxy = FlakyProxy(upstream_port, faults, seed)
        await proxy.start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        await proxy.stop()


@pytest.fixture
async def open_to() -> AsyncIterator[Callable[[FlakyProxy], Awaitable[Stream]]]:
    """Open client connections to a proxy: ``await open_to(proxy)``; all closed at teardown."""
    writers: list[asyncio.StreamWriter] = []

    async def connect(proxy: FlakyProxy) -> Stream:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writers.append(writer)
        return reader, writer

    yield connect
    for writer in writers:
        writer.close()


async def round_trip(stream: Stream, data: bytes) -> bytes:
    reader, writer = stream
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), TIMEOUT)


async def stays_silent(reader: asyncio.StreamReader) -> bool:
    """True if ``reader`` gets neither bytes nor EOF within ``QUIET``."""
    try:
        await asyncio.wait_for(reader.read(1), QUIET)
    except TimeoutError:
        return True
    return False


# --- pass-through, latency, bandwidth ---------------------------------------------------------------


async def test_a_clean_proxy_passes_megabytes_intact_and_in_order(echo, make_proxy, open_to):
    proxy = await make_proxy(echo.port)
    payload = random.Random(1).randbytes(4 * 1024 * 1024)
    reader, writer = await open_to(proxy)

    async def send() -> None:
        for offset in range(0, len(payload), 64 * 1024):
            writer.write(payload[offset:offset + 64 * 1024])
            await writer.drain()

    sending = asyncio.create_task(send())
    echoed = await asyncio.wait_for(reader.readexactly(len(payload)), TIMEOUT)
    await sending
    writer.close()

    assert echoed == payload
    assert (proxy.bytes_up, proxy.bytes_down, proxy.connections_opened) == (len(payload), len(payload), 1)


async def test_latency_and_jitter_never_reorder_bytes(echo, make_proxy, open_to):
    shaping = Shaping(latency_ms=5, jitter_ms=5)  # delays from 0 to 10 ms: any reordering would show
    proxy = await make_proxy(echo.port, Faults.symmetric(shaping))
    reader, writer = await open_to(proxy)
    count = 300

    async def send() -> None:
        for i in range(count):  # one small write per turn of the loop: many separate chunks
            writer.write(struct.pack(">Q", i))
            await writer.drain()
            await asyncio.sleep(0)

    sending = asyncio.create_task(send())
    echoed = await asyncio.wait_for(reader.readexactly(8 * count), TIMEOUT)
    await sending
    writer.close()

    assert [value for (value,) in struct.iter_unpack(">Q", echoed)] == list(range(count))
    stats = proxy.history[0]
    delays = [*stats.delays_up, *stats.delays_down]
    assert len(stats.delays_up) > 10 and stats.delays_down  # the echoes come back in fewer chunks
    assert all(0.0 <= delay <= 0.010 for delay in delays)
    assert len(set(delays)) > 10  # jitter was drawn, not a constant


async def test_the_wan_profile_delivers_intact_with_delays_in_range(echo, make_proxy, open_to):
    proxy = await make_proxy(echo.port, PROFILES["wan"])
    payload = random.Random(2).randbytes(200_000)
    reader, writer = await open_to(proxy)
    writer.write(payload)

    echoed = await asyncio.wait_for(reader.readexactly(len(payload)), TIMEOUT)
    writer.close()

    assert echoed == payload
    stats = proxy.history[0]
    assert stats.delays_up and stats.delays_down
    assert all(0.030 <= delay <= 0.050 for delay in [*stats.delays_up, *stats.delays_down])


def test_jittered_departures_never_decrease_and_never_beat_the_minimum_latency():
    line = DelayLine(Shaping(latency_ms=40, jitter_ms=10), random.Random(3))
    arrivals = [i * 0.001 for i in range(250)]  # a chunk every ms, jitter of ±10 ms

    departures = [line.schedule(100, now) for now in arrivals]

    assert departures == sorted(departures)
    assert all(departure >= now + 0.030 for departure, now in zip(departures, arrivals, strict=True))
    assert all(0.030 <= delay <= 0.050 for delay in line.delays)
    # Held back only to keep order: most chunks leave exactly at their own arrival + drawn delay.
    assert sum(departure == now + delay for departure, now, delay in zip(departures, arrivals, line.delays, strict=True)) > 20


def test_the_token_bucket_spends_its_burst_then_paces_at_the_rate():
    bucket = TokenBucket(rate=1000, burst=100)

    assert bucket.reserve(100, now=0.0) == 0.0  # the burst
    assert bucket.reserve(500, now=0.0) == pytest.approx(0.5)  # 500 bytes at 1000 B/s
    assert bucket.reserve(100, now=0.2) == pytest.approx(0.6)  # still paying the debt
    assert bucket.reserve(50, now=10.0) == 10.0  # idle: the burst is back...
    assert bucket.reserve(100, now=10.0) == pytest.approx(10.05)  # ...but never more than the burst


def test_paced_chunks_leave_at_the_configured_rate():
    line = DelayLine(Shaping(bandwidth_bytes_per_s=10_000), random.Random(0))  # burst: 100 bytes

    departures = [line.schedule(1000, now=0.0) for _ in range(10)]

    assert departures == pytest.approx([(1000 * k - 100) / 10_000 for k in range(1, 11)])


# --- resets -------------------------------------------------------------------------------------------


async def test_a_reset_closes_both_sides_at_the_drawn_moment(echo, make_proxy, open_to):
    proxy = await make_proxy(echo.port, Faults(reset_after_s=(0.05, 0.2)), seed=5)
    reader, writer = await open_to(proxy)
    assert await round_trip((reader, writer), b"hello") == b"hello"

    try:
        ending = await asyncio.wait_for(reader.read(1), TIMEOUT)
    except ConnectionResetError:
        ending = "reset"
    writer.close()

    assert ending in ("reset", b"")
    assert await asyncio.wait_for(echo.sessions[0].ended, TIMEOUT) in ("reset", "eof")
    stats = proxy.history[0]
    assert proxy.resets == 1 and stats.reset_at is not None
    assert stats.reset_after_s == connection_rng(5, 0, "reset").uniform(0.05, 0.2)
    assert 0.05 <= stats.reset_after_s <= 0.2
    assert stats.reset_at - stats.opened_at >= stats.reset_after_s - 0.001  # a timer never fires early


async def test_a_refused_upstream_resets_the_client(make_proxy, open_to):
    proxy = await make_proxy(free_port())  # nothing listens there
    reader, _ = await open_to(proxy)

    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(1), TIMEOUT)
    assert proxy.resets == 0  # not an injected fault


async def test_the_same_seed_draws_the_same_reset_schedule(echo, make_proxy, open_to):
    faults = Faults(reset_after_s=(10.0, 20.0))  # far away: the connections stay up for the test

    async def schedule(seed: int) -> list[float | None]:
        proxy = await make_proxy(echo.port, faults, seed)
        for _ in range(5):
            await round_trip(await open_to(proxy), b"x")  # one at a time: index i is the i-th connection
        return [stats.reset_after_s for stats in proxy.history]

    first, again, other = await schedule(7), await schedule(7), await schedule(8)

    assert first == again == [connection_rng(7, i, "reset").uniform(10.0, 20.0) for i in range(5)]
    assert other != first


# --- dead path ------------------------------------------------------------------------------------------


async def test_a_blackhole_silences_open_connections_for_good_but_not_later_ones(echo, make_proxy, open_to):
    proxy = await make_proxy(echo.port)
    before = await open_to(proxy)
    assert await round_trip(before, b"ping") == b"ping"

    proxy.blackhole()
    during = await open_to(proxy)  # accepted, but the upstream never hears of it
    before[1].write(b"lost")
    before[1].write_eof()  # nor of this FIN
    during[1].write(b"lost too")
    assert all(await asyncio.gather(stays_silent(before[0]), stays_silent(during[0])))
    assert bytes(echo.sessions[0].received) == b"ping" and not echo.sessions[0].ended.done()
    assert len(echo.sessions) == 1

    proxy.restore()
    after = await open_to(proxy)
    assert await round_trip(after, b"pong") == b"pong"
    assert await stays_silent(before[0])  # the outage is over, the old connection is still dead
    assert [stats.dead for stats in proxy.history] == [True, True, False]
    assert proxy.bytes_swallowed == len(b"lost") + len(b"lost too")


async def test_a_scheduled_outage_silences_connections_opened_in_its_window_only(echo, make_proxy, open_to):
    proxy = await make_proxy(echo.port, Faults(outage=(0.0, QUIET / 2)))
    assert proxy.in_outage

    during = await open_to(proxy)
    during[1].write(b"anyone?")
    assert await stays_silent(during[0])  # QUIET outlasts the outage: it is over now

    assert not proxy.in_outage
    assert await round_trip(await open_to(proxy), b"back") == b"back"
    assert len(echo.sessions) == 1 and bytes(echo.sessions[0].received) == b"back"
    assert [stats.dead for stats in proxy.history] == [True, False]


# --- refused WebSockets --------------------------------------------------------------------------------

UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
STRIPPED = (b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nConnection: close\r\n\r\n")
PLAIN_GET = b"GET /page?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"


async def test_an_upgrade_request_reaches_the_server_without_its_upgrade_headers(http, make_proxy, open_to):
    proxy = await make_proxy(http.port, PROFILES["ws-blocked"])
    reader, writer = await open_to(proxy)
    writer.write(UPGRADE)

    response = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()

    assert http.heads == [STRIPPED]
    assert response.startswith(b"HTTP/1.1 426 ")
    assert proxy.websocket_refusals == 1


async def test_a_plain_get_passes_unchanged_and_a_later_upgrade_on_it_is_still_caught(http, make_proxy, open_to):
    proxy = await make_proxy(http.port, PROFILES["ws-blocked"])
    reader, writer = await open_to(proxy)
    writer.write(PLAIN_GET)
    first = await asyncio.wait_for(reader.readuntil(b"hello"), TIMEOUT)
    writer.write(UPGRADE)  # the same keep-alive connection

    second = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()

    assert first.startswith(b"HTTP/1.1 200 ")
    assert http.heads == [PLAIN_GET, STRIPPED]
    assert second.startswith(b"HTTP/1.1 426 ")


async def test_a_real_websocket_handshake_fails_through_ws_blocked_and_succeeds_through_clean(make_proxy):
    async def echo_ws(connection) -> None:
        async for message in connection:
            await connection.send(message)

    async with ws_serve(echo_ws, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        blocked = await make_proxy(port, PROFILES["ws-blocked"])
        clean = await make_proxy(port, PROFILES["clean"])

        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            await asyncio.wait_for(ws_connect(f"ws://127.0.0.1:{blocked.port}/"), TIMEOUT)
        async with ws_connect(f"ws://127.0.0.1:{clean.port}/", open_timeout=TIMEOUT) as connection:
            await connection.send("through")
            assert await asyncio.wait_for(connection.recv(), TIMEOUT) == "through"

    assert refused.value.response.status_code == 426
    assert (blocked.websocket_refusals, clean.websocket_refusals) == (1, 0)


def feed_byte_by_byte(data: bytes) -> bytes:
    stripper = UpgradeStripper()
    return b"".join(stripper.feed(data[i:i + 1]) for i in range(len(data)))


def test_the_stripper_follows_bodies_and_only_rewrites_upgrade_heads():
    chunked = (b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"1a;ext=1\r\nUpgrade: websocket\r\n\r\n\r\nxx\r\n0\r\nTrailer: t\r\n\r\n")
    body = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"
    sized = b"POST /form HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    stream = chunked + sized + UPGRADE + PLAIN_GET

    expected = chunked + sized + STRIPPED + PLAIN_GET
    assert feed_byte_by_byte(stream) == expected
    stripper = UpgradeStripper()
    assert stripper.feed(stream) == expected and stripper.refused == 1


def test_the_stripper_holds_a_partial_head_and_lets_other_protocols_through_at_once():
    stripper = UpgradeStripper()
    assert stripper.feed(UPGRADE[:20]) == b""
    assert stripper.feed(UPGRADE[20:]) == STRIPPED

    assert UpgradeStripper().feed(b"\x16\x03\x01 hello") == b"\x16\x03\x01 hello"
    assert UpgradeStripper().feed(b"HELLO there, not http\r\n") == b"HELLO there, not http\r\n"
    http10 = UPGRADE.replace(b"HTTP/1.1", b"HTTP/1.0")
    assert UpgradeStripper().feed(http10) == http10  # WebSockets need HTTP/1.1


# --- profiles and CLI ---------------------------------------------------------------------------------


def test_profiles_and_their_errors():
    assert PROFILES["clean"] == Faults()
    assert PROFILES["wan"].upstream == PROFILES["wan"].downstream == WAN
    assert PROFILES["lossy"].reset_after_s == (1.0, 4.0)
    assert profile("outage", outage_start_s=12.0).outage == (12.0, OUTAGE_DURATION_S)
    assert PROFILES["ws-blocked"] == Faults(refuse_websocket=True)
    with pytest.raises(KeyError, match="unknown profile 'nope', expected one of"):
        profile("nope")
    with pytest.raises(ValueError, match="profile 'wan' has no outage"):
        profile("wan", outage_start_s=1.0)
    with pytest.raises(ValueError, match=r"jitter_ms must be between 0 and latency_ms \(5\), got 6"):
        Shaping(latency_ms=5, jitter_ms=6)
    with pytest.raises(ValueError, match="reset_after_s must be"):
        Faults(reset_after_s=(3.0, 1.0))


def test_the_cli_starts_reports_and_stops():
    """The command in a process of its own: what it prints, and that it stops by itself."""
    result = subprocess.run([sys.executable, "-m", "benchmarks.flaky_proxy", "--upstream", "9", "--profile", "lossy",
                             "--seed", "1", "--duration", "0.1"], cwd=ROOT, capture_output=True, text=True,
                            timeout=TIMEOUT)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("flaky proxy http://127.0.0.1:")
    assert "profile 'lossy', seed 1" in result.stdout and "stopped: Counters(connections_opened=0" in result.stdout

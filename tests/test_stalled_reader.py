"""benchmarks.stalled_reader: the FreezingProxy stops reading from the server and relays again when
thawed; the command measures a page that stops reading and writes its rows."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from benchmarks.freezing_proxy import FreezingProxy
from tests.conftest import ROOT, SCALE, TIMEOUT, eventually

CHUNK = b"x" * 65536


async def test_a_frozen_proxy_stops_reading_the_server_and_a_thawed_one_relays_again():
    """Real loopback sockets: only a real socket's buffers fill up until the server's drain blocks."""
    written = 0
    sender_blocked = asyncio.Event()

    async def flood(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal written
        while True:
            writer.write(CHUNK)
            try:
                await asyncio.wait_for(writer.drain(), 1)
            except TimeoutError:  # its writes no longer complete: the reader has stopped
                sender_blocked.set()
                await writer.drain()
            written += len(CHUNK)

    server = await asyncio.start_server(flood, "127.0.0.1", 0)
    proxy = FreezingProxy(server.sockets[0].getsockname()[1])
    await proxy.start()
    try:
        proxy.freeze()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        await asyncio.wait_for(sender_blocked.wait(), TIMEOUT)
        assert proxy.bytes_down == 0 and proxy.connections == 1
        assert await _nothing_within(reader.read(1), 0.5)  # the client gets nothing while frozen
        blocked_at = written
        proxy.thaw()
        received = 0
        while received < blocked_at + 4 * len(CHUNK):
            received += len(await asyncio.wait_for(reader.read(1 << 20), TIMEOUT))
        await eventually(lambda: written > blocked_at, what="the server's writes completing again")
        assert proxy.bytes_down >= received
        writer.close()
    finally:
        await proxy.stop()
        server.close()


async def _nothing_within(read, seconds: float) -> bool:
    try:
        await asyncio.wait_for(read, seconds)
    except TimeoutError:
        return True
    return False


def test_the_command_measures_flash_ws_with_a_page_that_reads_nothing(tmp_path):
    """The command, with its own server process: only a real process has the RSS it samples."""
    json_path = tmp_path / "stalled.json"
    command = [sys.executable, "-m", "benchmarks.stalled_reader", "--contender", "flash_ws-ws", "--seconds", "3",
               "--warm", "1", "--json", str(json_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180 * SCALE)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| flash_ws-ws |" in done.stdout
    [row] = json.loads(json_path.read_text())["rows"]
    assert row["contender"] == "flash_ws-ws" and row["error"] is None, row
    assert row["produced_before"] > 0 and row["delivered_before"] > 0  # the stream ran before the freeze
    assert row["samples"] and all(sample["rss_mb"] > 0 for sample in row["samples"])
    assert row["growth_mb"] is not None

"""benchmarks.scale's dash-stream row: Dash 4.5's own streaming callbacks at the scale scenario's load,
driven by benchmarks.dash_stream_load; without Dash 4.5 the row says why and the command succeeds.

The run needs a second environment with Dash 4.5 (``FLASH_WS_DASH45_PYTHON`` or ``.venv-dash45``, as
tests/test_dash_stream_benchmark.py): with the variable set it fails rather than skips when unusable.
It asserts on completeness and correctness (every column filled, nothing lost), never on latency or CPU.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys

import pytest

from benchmarks import scale, scale_stack
from benchmarks.http_lite import Connection
from benchmarks.redis_nginx import parse_info
from benchmarks.scale_level import Config, redis_per_update, run_level
from benchmarks.scale_report import markdown_tables, worker_us_per_update
from benchmarks.servers import dash45_python
from tests.conftest import ROOT, SCALE

PAGES, STREAMS, RATE, DURATION = 10, 2, 2, 2
WHY = "needs Dash >= 4.5 (streaming callbacks): set FLASH_WS_DASH45_PYTHON"


def test_without_dash_45_the_row_says_why_and_the_command_succeeds(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(scale_stack, "dash45_python", lambda: (None, WHY))
    config = Config(sessions=PAGES, streams=STREAMS, rate=RATE, duration=DURATION, workers=2, redis=True, lb="nginx",
                    clients=1, ramp=100, contender="dash-stream")
    level = asyncio.run(run_level(config))
    assert level["skipped"] == WHY and level["error"] == f"skipped: {WHY}" and "run" not in level
    [_head, _rule, row] = markdown_tables([level]).splitlines()
    assert row.startswith("| dash-stream: 2 workers, redis, nginx |") and row.endswith(f"| skipped: {WHY} |")
    assert scale.main(["--contender", "dash-stream", "--sessions", "5", "--json", str(tmp_path / "s.json")]) == 0
    assert f"skipped: {WHY}" in capsys.readouterr().out


def test_redis_counters_per_update():
    text = ("# Commandstats\r\ncmdstat_evalsha:calls=10,usec=5,usec_per_call=0.5,rejected_calls=0,failed_calls=0\r\n"
            "cmdstat_xadd:calls=30,usec=9\r\n# Stats\r\ntotal_commands_processed:12\r\n"
            "total_net_input_bytes:5000\r\ntotal_net_output_bytes:700\r\n")
    after = parse_info(text)
    assert after == {"calls": 40, "calls:evalsha": 10, "calls:xadd": 30, "total_commands_processed": 12,
                     "total_net_input_bytes": 5000, "total_net_output_bytes": 700}
    before = {"calls": 0, "total_commands_processed": 2, "total_net_input_bytes": 1000, "total_net_output_bytes": 100}
    figures = redis_per_update(before, after, updates=10)
    assert figures["commands_per_update"] == 1.0 and figures["calls_per_update"] == 4.0
    assert (figures["bytes_in_per_update"], figures["bytes_out_per_update"]) == (400.0, 60.0)
    assert list(figures["calls_by_command"]) == ["xadd", "evalsha"]


def test_http_lite_reads_chunked_and_sized_bodies_and_resends_on_a_closed_kept_alive_connection():
    """A real loopback server: a chunked body as it arrives, a sized one, then the server closes the
    kept-alive connection and the next request goes on a new one."""
    answers = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\na\nb\r\n2\r\nc\n\r\n0\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", None, b"HTTP/1.1 201 OK\r\nContent-Length: 0\r\n\r\n"]
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while answers and (head := await reader.readuntil(b"\r\n\r\n")):
            requests.append(head.split(b" ")[1])
            answer = answers.pop(0)
            if answer is None:  # close this kept-alive connection without answering
                break
            writer.write(answer)
        writer.close()

    async def main() -> tuple[list[bytes], bytes, int]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        connection = Connection("127.0.0.1", server.sockets[0].getsockname()[1])
        assert await connection.request("GET", "/a") == 200
        chunks = [chunk async for chunk in connection.chunks()]
        assert await connection.request("GET", "/b") == 200
        sized = await connection.body()
        status = await connection.request("GET", "/c")
        connection.close()
        server.close()
        return chunks, sized, status

    chunks, sized, status = asyncio.run(main())
    assert chunks == [b"a\nb", b"c\n"] and sized == b"ok" and status == 201
    assert requests == [b"/a", b"/b", b"/c", b"/c"]


def test_dash_stream_row_at_a_tiny_load_is_complete_and_loses_nothing(tmp_path):
    python, found = dash45_python()
    if python is None and not os.environ.get("FLASH_WS_DASH45_PYTHON"):
        pytest.skip(f"no Dash 4.5 environment: {found}")
    assert python is not None, found
    deployed = shutil.which("redis-server") and (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"))
    setup = [] if deployed else ["--no-redis", "--workers", "1"]
    out = tmp_path / "scale.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", "--contender", "dash-stream", "--sessions", str(PAGES),
         "--streams", str(STREAMS), "--rate", str(RATE), "--duration", str(DURATION), "--clients", "2",
         "--json", str(out), *setup], cwd=ROOT, capture_output=True, text=True, timeout=120 * SCALE)
    assert out.exists() and done.returncode == 0, done.stdout + done.stderr[-3000:]
    [level] = json.loads(out.read_text())["levels"]
    assert level["error"] is None and level["verdict"]["correct"], level
    assert level["contender"] == found and level["store_class"] == (["RedisSharedStorage"] if deployed else
                                                                    ["LocalSharedStorage"])
    run = level["run"]
    updates = PAGES * STREAMS * RATE * DURATION
    assert run["expected"] == run["received"] == run["distinct"] == updates
    assert (run["lost"], run["duplicated"], run["reordered"]) == (0, 0, 0)
    assert run["ends"] == {"done": PAGES * STREAMS} and not run["timed_out"] and not run["server_errors"]
    assert run["latency_ms"]["p50"] is not None and run["latency_ms"]["p99"] >= run["latency_ms"]["p50"]
    assert worker_us_per_update(run) is not None
    assert level["memory"]["kib_per_active_session"] is not None and level["memory"]["connections"] == PAGES
    if deployed:
        assert run["redis"]["commands_per_update"] > 0 and run["redis"]["bytes_in_per_update"] > 0
    row = next(line for line in done.stdout.splitlines() if line.startswith("| dash-stream: "))
    assert f"| {PAGES} | {updates} | {updates} | 0 | 0 | 0 |" in row and row.endswith("| yes |")

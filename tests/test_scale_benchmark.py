"""benchmarks.scale: its small arithmetic, and the real scenario in a tiny configuration.

The runs start the real thing (hypercorn workers, load-generating processes; with Redis also
redis-server and a round-robin nginx) with 20 sessions x 2 streams for 3 s, and assert on what the
report says about correctness (every session connected and counted, every update received once and
in order, every run ended ``done``), never on latency or CPU. They are the command as a measured
run starts it: only real processes have the CPU, RSS and connections it reads from /proc.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from benchmarks.metering import established
from benchmarks.scale import redis_supported
from benchmarks.scale_report import MemoryReadings, conclusion, speed_verdict, verdict, worker_us_per_update
from benchmarks.scale_stack import shares
from tests.conftest import ROOT, debian_program

SESSIONS, STREAMS, DURATION, RATE = 20, 2, 3, 2


def test_sessions_are_shared_out_evenly():
    assert shares(10, 4) == [3, 3, 2, 2]
    assert shares(3, 3) == [1, 1, 1]
    assert sum(shares(1000, 3)) == 1000


def _level(sessions: int, holds: bool, correct: bool = True) -> dict:
    return {"config": {"sessions": sessions}, "verdict": {"holds": holds, "correct": correct}}


def test_conclusion_names_the_largest_level_that_held():
    assert conclusion([_level(500, True), _level(1000, True)], 1000).startswith("target met")
    text = conclusion([_level(250, True), _level(500, True), _level(1000, False)], 1000)
    assert "not met" in text and "500 sessions" in text
    assert "correctness failed" in conclusion([_level(250, False, correct=False)], 1000)


def _ran(p99: float, workers: tuple[float, float | None], rate: float, lost: int = 0) -> dict:
    pct = {"worker0": workers[0], "worker1": workers[1], "redis": 9.0, "clients": 50.0}
    return {"config": {"sessions": 1000}, "setup": "2 workers, redis, nginx", "verdict": {"holds": True, "correct": True},
            "run": {"latency_ms": {"p99": p99}, "lost": lost, "updates_per_s": rate, "cpu": {"percent_of_core": pct}}}


def test_the_speed_target_weighs_p99_and_the_workers_cpu_per_update():
    assert worker_us_per_update(_ran(50, (24.0, 24.0), 8000)["run"]) == 60.0  # 0.48 core-s per s / 8,000
    assert worker_us_per_update(_ran(50, (24.0, None), 8000)["run"]) is None  # a worker unread: no figure
    assert "speed target" in speed_verdict(_ran(50, (24.0, 24.0), 8000)) and ": met" in speed_verdict(_ran(50, (24.0, 24.0), 8000))
    assert "not met" in speed_verdict(_ran(50, (30.0, 30.0), 8000))  # 75 µs
    assert "not met" in speed_verdict(_ran(150, (20.0, 20.0), 8000))
    assert "not met" in speed_verdict(_ran(50, (20.0, 20.0), 8000, lost=1))
    assert "75.0 µs per update" in conclusion([_ran(50, (30.0, 30.0), 8000)], 1000)


def test_memory_per_session_is_rss_growth_over_the_connections_held():
    readings = MemoryReadings(base={0: 1000, 1: 2000}, idle={0: 1500, 1: 2300}, peak={0: 1900, 1: 2900},
                              conns={0: 10, 1: 5}, statuses={0: {"sessions": 10}, 1: {"sessions": 5}},
                              active_statuses={0: {"runs": 40}, 1: {"runs": 20}},
                              others={"baseline": {"redis": 1024}, "idle": {"redis": 2048}, "active_peak": {"redis": 3072}})
    figures = readings.figures()
    assert figures["workers"]["worker0"]["kib_per_idle_session"] == 50.0  # (1500 - 1000) / 10
    assert figures["workers"]["worker1"]["kib_per_active_session"] == 180.0  # (2900 - 2000) / 5
    assert figures["connections"] == 15 and figures["kib_per_idle_session"] == round(800 / 15, 1)
    assert figures["others_rss_mb"] == {"redis": {"baseline": 1.0, "idle": 2.0, "active_peak": 3.0}}


def test_a_level_holds_only_when_correct_and_under_the_p99_limit():
    def level(p99: float, lost: int = 0, connected: int = 20) -> dict:
        run = {"lost": lost, "duplicated": 0, "reordered": 0, "runs": 40, "ends": {"done": 40}, "latency_ms": {"p99": p99}}
        return {"error": None, "run": run, "ramp": {"sessions": connected, "failed": 20 - connected}}

    assert verdict(20, level(50.0)) == {"correct": True, "holds": True, "why": ""}
    slow = verdict(20, level(1500.0))
    assert slow["correct"] and not slow["holds"] and "p99 1500.0 ms" in slow["why"]
    assert verdict(20, level(50.0, lost=3))["why"] == "lost 3, duplicated 0, reordered 0"
    assert "2 sessions failed to connect" in verdict(20, level(50.0, connected=18))["why"]
    assert verdict(20, {"error": "RuntimeError: boom"})["why"] == "RuntimeError: boom"


def test_established_counts_a_listening_port_s_connections():
    """A real socket: established() reads the kernel's table of connections."""
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert established(port) == 0
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = server.accept()
            with accepted:
                assert established(port) == 1


def _run(tmp_path, *options: str) -> dict:
    out = tmp_path / "scale.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", "--sessions", str(SESSIONS), "--streams", str(STREAMS),
         "--rate", str(RATE), "--duration", str(DURATION), "--clients", "2", "--json", str(out), *options],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert out.exists(), done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| setup | sessions |" in done.stdout
    return results


def _assert_correct(results: dict, workers: int) -> dict:
    [level] = results["levels"]
    assert level["error"] is None
    assert level["verdict"]["correct"], level["verdict"]
    assert level["ramp"]["sessions"] == SESSIONS and level["ramp"]["failed"] == 0
    run = level["run"]
    updates = SESSIONS * STREAMS * RATE * DURATION
    assert run["expected"] == updates
    assert run["received"] == run["distinct"] == updates
    assert (run["lost"], run["duplicated"], run["reordered"]) == (0, 0, 0)
    assert run["runs"] == SESSIONS * STREAMS and run["ends"] == {"done": SESSIONS * STREAMS}
    assert not run["timed_out"] and run["sessions_lost"] == 0 and not run["server_errors"]
    assert run["latency_ms"]["p50"] is not None and run["latency_ms"]["p99"] >= run["latency_ms"]["p50"]
    memory = level["memory"]
    assert len(memory["workers"]) == workers
    assert memory["connections"] == SESSIONS  # every session's WebSocket, counted on the workers' side
    assert all(w["connections"] > 0 for w in memory["workers"].values())  # both workers got sessions
    cpu = run["cpu"]["percent_of_core"]
    assert {f"worker{i}" for i in range(workers)} | {"clients"} <= set(cpu)
    waiting = run["cpu"]["waiting_percent"]  # the same groups, each's wait for a core (/proc/<pid>/schedstat)
    assert set(waiting) == set(cpu) and all(v >= 0 for v in waiting.values())
    assert run["messages_per_update"] > 0  # the load counted the WebSocket messages of the run
    return level


def test_scale_in_process_store_one_worker_on_uvloop(tmp_path):
    results = _run(tmp_path, "--no-redis", "--loop", "uvloop")
    level = _assert_correct(results, workers=1)
    assert level["config"]["redis"] is False and level["config"]["lb"] == "direct"
    assert level["config"]["loop"] == "uvloop" and level["setup"].endswith("uvloop")


def test_scale_two_workers_each_with_its_own_store_clients_alternating_streams_apart(tmp_path):
    results = _run(tmp_path, "--no-redis", "--workers", "2", "--phases", "apart")
    level = _assert_correct(results, workers=2)
    assert level["config"]["phases"] == "apart" and level["setup"].endswith("streams apart")


def test_scale_on_the_fastapi_backend_two_uvicorn_workers_on_uvloop(tmp_path):
    results = _run(tmp_path, "--no-redis", "--workers", "2", "--backend", "fastapi", "--loop", "uvloop")
    level = _assert_correct(results, workers=2)
    assert level["config"]["backend"] == "fastapi" and level["setup"].endswith("fastapi/uvicorn, uvloop")
    assert (results["meta"]["backend"], results["meta"]["loop"]) == ("fastapi", "uvloop")
    assert "uvicorn" in results["meta"]["versions"]


def test_the_backend_picks_each_worker_s_server_and_loop():
    from benchmarks.scale import parse_args
    from benchmarks.scale_stack import FLASH_WS, worker_command

    assert parse_args([]).backend == "quart" and parse_args(["--backend", "fastapi"]).backend == "fastapi"
    with pytest.raises(SystemExit):
        parse_args(["--backend", "fastapi", "--contender", "dash-stream"])
    quart = worker_command(FLASH_WS, "uvloop")
    assert quart[1:4] == ["-m", "hypercorn", "benchmarks.scale_app:server"] and quart[-2:] == ["--worker-class", "uvloop"]
    fastapi = worker_command(FLASH_WS, "uvloop", "fastapi")
    assert fastapi[1:4] == ["-m", "uvicorn", "benchmarks.scale_app:asgi"]
    assert " ".join(fastapi).endswith("--loop uvloop --http httptools --ws websockets --no-access-log --backlog 4096")


@pytest.mark.proxy
@pytest.mark.skipif(not redis_supported(), reason="flash_ws has no Redis session store yet")
@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs Debian's redis-server")
def test_scale_redis_two_workers_behind_round_robin_nginx(tmp_path):
    results = _run(tmp_path, "--workers", "2")
    level = _assert_correct(results, workers=2)
    assert level["config"]["redis"] is True and level["config"]["lb"] == "nginx"
    assert "nginx" in level["run"]["cpu"]["percent_of_core"] and "redis" in level["run"]["cpu"]["percent_of_core"]
    assert not level.get("notes"), level.get("notes")  # the workers really use the Redis store



@pytest.mark.proxy
@pytest.mark.skipif(not shutil.which("redis-server") or not shutil.which("redis-cli"), reason="needs Debian's redis-server")
def test_scale_redis_cluster_of_three_masters(tmp_path):
    results = _run(tmp_path, "--workers", "2", "--redis", "cluster")
    level = _assert_correct(results, workers=2)
    assert level["config"]["redis_cluster"] is True and "redis cluster (3 masters)" in level["setup"]
    assert level["run"]["redis"]["commands_per_update"] > 0  # counted over the three masters
    assert not level.get("notes"), level.get("notes")


def test_redis_cluster_is_refused_without_redis_or_for_dash_stream():
    from benchmarks.scale import parse_args

    assert parse_args(["--redis", "cluster"]).redis == "cluster" and parse_args([]).redis == "server"
    for argv in (["--redis", "cluster", "--no-redis"], ["--redis", "cluster", "--contender", "dash-stream"]):
        with pytest.raises(SystemExit):
            parse_args(argv)

def _floor(tmp_path, *options: str) -> tuple[dict, str]:
    """``benchmarks.scale_floor`` at the tiny size with ``options``: its JSON and what it printed, once it
    counted every update once and in order."""
    out = tmp_path / "floor.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale_floor", "--sessions", str(SESSIONS), "--streams", str(STREAMS),
         "--rate", str(RATE), "--duration", str(DURATION), "--clients", "2", "--workers", "2", *options,
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    updates = SESSIONS * STREAMS * RATE * DURATION
    assert result["connected"] == SESSIONS and result["errors"] == []
    assert result["expected"] == result["delivered"] == result["received"] == updates
    assert (result["lost"], result["duplicated"], result["reordered"]) == (0, 0, 0)
    assert result["workers_cpu_s"] == round(result["cpu_s"]["worker0"] + result["cpu_s"]["worker1"], 3)  # workers only
    assert result["workers_us_per_update"] == round(result["workers_cpu_s"] / updates * 1e6, 1)
    assert result["messages_per_update"] == 1.0  # a bare server sends every update on its own
    assert f"{updates:,} of {updates:,} delivered" in done.stdout
    waiting = result["waiting_percent"]  # from /proc/<pid>/schedstat: every group, none negative
    assert set(waiting) == set(result["cpu_s"]) and all(v >= 0 for v in waiting.values())
    assert f"workers waiting for a core {waiting['worker0']} + {waiting['worker1']} % of the time" in done.stdout
    return result, done.stdout


@pytest.mark.parametrize("server", ["websockets", "quart"])
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_floor_runs_the_same_scenario_on_bare_servers_and_counts_every_update(tmp_path, loop, server):
    """Bare websockets servers (the default), or a bare Quart app on hypercorn (``--server quart``),
    the clients alternating between their ports (``--lb direct``)."""
    result, stdout = _floor(tmp_path, "--lb", "direct", "--loop", loop, *(["--server", server] if server != "websockets" else []))
    assert result["config"]["loop"] == loop and f"2 workers, {loop}, direct" in stdout
    assert result["config"]["server"] == server and result["config"]["lb"] == "direct"
    assert stdout.startswith("raw-quart (bare Quart on hypercorn) floor," if server == "quart" else "raw-websockets floor,")
    assert set(result["cpu_s"]) == {"worker0", "worker1"} and result["nginx_us_per_update"] is None
    assert "nginx" not in stdout


@pytest.mark.proxy
@pytest.mark.parametrize("server", ["websockets", "quart"])
def test_the_floor_runs_behind_the_same_round_robin_nginx_as_scale_by_default(tmp_path, server):
    """No ``--lb``: the clients reach both workers through benchmarks.scale's nginx, whose CPU is its own group."""
    debian_program("nginx", "nginx", "the floor behind nginx", also=("/usr/sbin/nginx",))
    result, stdout = _floor(tmp_path, *(["--server", server] if server != "websockets" else []))
    assert result["config"]["lb"] == "nginx" and result["config"]["server"] == server
    assert "2 workers, asyncio, round-robin nginx (" in stdout and "nginx's CPU" in stdout
    assert set(result["cpu_s"]) == {"worker0", "worker1", "nginx"}
    assert result["nginx_us_per_update"] == round(result["cpu_s"]["nginx"] / result["delivered"] * 1e6, 1)

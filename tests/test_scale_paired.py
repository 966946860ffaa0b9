"""``python -m benchmarks.scale --paired DIR``: its refusals, which worker runs from DIR, and the
paired line and ratio from hand-made levels (no benchmark runs here)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks import servers
from benchmarks.processes import ROOT
from benchmarks.scale import checkout_sha, parse_args
from benchmarks.scale_level import Config
from benchmarks.scale_report import paired_cpu_ratio, paired_line
from benchmarks.scale_stack import Worker


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A directory with what ``--paired`` looks for in a checkout."""
    for name in ("flash_ws/__init__.py", "benchmarks/scale_app.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    return tmp_path


def test_paired_takes_a_checkout_with_two_flash_ws_workers(checkout):
    args = parse_args(["--paired", str(checkout), "--swap"])
    assert (args.paired, args.swap, args.workers) == (checkout.resolve(), True, 2)
    assert parse_args(["--paired", str(checkout), "--backend", "fastapi"]).backend == "fastapi"
    assert parse_args(["--paired", str(checkout), "--no-redis", "--workers", "2"]).workers == 2
    assert parse_args([]).paired is None and parse_args([]).swap is False


@pytest.mark.parametrize(("argv", "why"), [
    (["--swap"], "--swap needs --paired"),
    (["--workers", "3"], "needs 2, not 3"),
    (["--no-redis"], "needs 2, not 1"),  # one worker by default without Redis
    (["--contender", "dash-stream"], "flash_ws only"),
])
def test_paired_refuses_what_it_cannot_compare(checkout, capsys, argv, why):
    paired = [] if argv == ["--swap"] else ["--paired", str(checkout)]
    with pytest.raises(SystemExit):
        parse_args(paired + argv)
    assert why in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["flash_ws/__init__.py", "benchmarks/scale_app.py"])
def test_paired_refuses_a_directory_that_is_not_a_checkout(checkout, capsys, missing):
    (checkout / missing).unlink()
    with pytest.raises(SystemExit):
        parse_args(["--paired", str(checkout)])
    assert f"not a checkout of this repository: no {missing}" in capsys.readouterr().err


def _config(**paired: Any) -> Config:
    return Config(sessions=10, streams=1, rate=1.0, duration=1.0, workers=2, redis=True, lb="nginx", clients=1,
                  ramp=10.0, **paired)


def test_the_paired_worker_runs_from_dir_worker1_or_swapped_worker0(tmp_path):
    assert _config().worker_cwds == {}
    assert _config(paired=str(tmp_path)).worker_cwds == {1: tmp_path}
    assert _config(paired=str(tmp_path), swap=True).worker_cwds == {0: tmp_path}
    assert _config(paired=str(tmp_path), swap=True).describe().endswith(f"nginx, worker0 from {tmp_path}")
    assert Worker(1, {}, tmp_path, cwd=tmp_path).cwd == tmp_path and Worker(0, {}, tmp_path).cwd == ROOT


def test_a_server_process_starts_in_its_cwd(tmp_path, monkeypatch):
    started: list[Path] = []
    monkeypatch.setattr(servers.subprocess, "Popen", lambda command, *, cwd, **kwargs: started.append(cwd))
    servers.ServerProcess("a", ["true"], log=tmp_path / "a.log").start()
    servers.ServerProcess("b", ["true"], log=tmp_path / "b.log", cwd=tmp_path).start()
    assert started == [ROOT, tmp_path]


def _level(worker0: float | None, worker1: float, swap: bool = False) -> dict[str, Any]:
    return {"config": {"sessions": 1000, "paired": "/tmp/before", "swap": swap}, "error": None,
            "run": {"cpu": {"percent_of_core": {"worker0": worker0, "worker1": worker1, "redis": 20.0}}},
            "memory": {"workers": {"worker0": {"connections": 500}, "worker1": {"connections": 501}}}}


def test_the_paired_line_compares_this_checkout_with_dir():
    shas = {"this": "1d90b0d", "dir": "f014288+dirty"}
    assert paired_cpu_ratio(_level(36.8, 39.0)) == 0.9436
    assert paired_line(_level(36.8, 39.0), shas) == (
        "paired, 1,000 sessions: worker0 (this checkout, 1d90b0d) 36.8 % of a core, 500 connections; "
        "worker1 (/tmp/before, f014288+dirty) 39.0 % of a core, 501 connections: this checkout -5.6 % vs /tmp/before")
    swapped = paired_line(_level(36.8, 39.0, swap=True), shas)  # DIR on worker0: this checkout costs more
    assert paired_cpu_ratio(_level(36.8, 39.0, swap=True)) == 1.0598
    assert swapped.startswith("paired, 1,000 sessions: worker0 (/tmp/before, f014288+dirty) 36.8 %")
    assert swapped.endswith("worker1 (this checkout, 1d90b0d) 39.0 % of a core, 501 connections: this checkout +6.0 % vs /tmp/before")


def test_the_paired_line_of_a_level_without_a_run_or_a_worker_s_cpu():
    assert paired_cpu_ratio(_level(None, 39.0)) is None
    assert paired_line(_level(None, 39.0), {"this": None, "dir": None}).endswith(": this checkout – vs /tmp/before")
    failed = {"config": {"sessions": 50, "paired": "/tmp/before", "swap": False}, "error": "RuntimeError: boom"}
    assert paired_cpu_ratio(failed) is None
    assert paired_line(failed, {"this": "a", "dir": "b"}) == "paired, 50 sessions: no run (RuntimeError: boom)"


def test_checkout_sha_is_head_short_and_dirty_or_none(tmp_path):
    assert checkout_sha(tmp_path) is None  # not a git checkout
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "f").write_text("1")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert checkout_sha(tmp_path) == head
    (tmp_path / "f").write_text("2")
    assert checkout_sha(tmp_path) == head + "+dirty"

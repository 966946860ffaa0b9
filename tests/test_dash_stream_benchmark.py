"""The Dash 4.5 rows of benchmarks.flaky_net: the Dash-API page on plain Dash 4.5 (run in the Dash 4.5
environment whatever Dash the benchmark itself runs on) next to the same page on Flash; and a row
that cannot run says why."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from benchmarks.contenders import Contender
from benchmarks.contenders.dash_page_driver import DashPageDriver
from benchmarks.servers import NoServer, dash45_python
from benchmarks.suite import RowContext, run_row
from benchmarks.workloads import Sizing
from tests.conftest import ROOT, SCALE


def test_without_a_dash_45_environment_the_row_says_why():
    python, reason = dash45_python(("/nonexistent/python",))
    assert python is None
    assert "needs Dash >= 4.5" in reason and "FLASH_WS_DASH45_PYTHON" in reason and "/nonexistent/python" in reason
    contender = Contender("dash-stream", "test", lambda: NoServer("dash-stream", reason),
                          lambda: DashPageDriver("dash", reason), False)
    row = asyncio.run(run_row(RowContext(contender, contender.server(), "clean", Sizing.choose(True), 1)))
    assert row["error"] == reason and row["complete"] is False and row["phases"] == []


def test_dash_45_streaming_and_flash_ws_run_the_same_page_side_by_side(tmp_path):
    """Needs a second environment with Dash 4.5: .ci/run makes one and names it in
    FLASH_WS_DASH45_PYTHON, which makes this test fail rather than skip when it is unusable; the
    README's command on a fresh clone reports it skipped, with the reason on one line. Dash 4.5
    cannot be imported beside the installed Dash: only the command, with its second environment
    and its Chromium pages, runs the two side by side."""
    python, found = dash45_python()
    if python is None and not os.environ.get("FLASH_WS_DASH45_PYTHON"):
        pytest.skip(f"no Dash 4.5 environment: {found}")
    assert python is not None, found
    json_path = tmp_path / "results.json"
    command = [sys.executable, "-m", "benchmarks.flaky_net", "--quick", "--profile", "lossy",
               "--contender", "dash-stream,flash_ws-dash-api", "--duration", "2", "--json", str(json_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240 * SCALE)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(json_path.read_text())
    rows = {row["contender"]: row for row in results["rows"]}
    assert list(rows) == ["dash-stream", "flash_ws-dash-api"]
    dash_row, flash_row = rows["dash-stream"], rows["flash_ws-dash-api"]
    assert dash_row["transport"] == "browser: Dash 4.5 NDJSON downlink" and dash_row["delivered"] > 0
    assert any("SharedWorker" in note for note in dash_row["notes"])  # Dash's own downlink
    assert flash_row["error"] is None and flash_row["transport"] == "browser: flash_ws"
    assert (flash_row["lost"], flash_row["duplicated"], flash_row["reordered"]) == (0, 0, 0), flash_row["phases"]
    assert flash_row["delivered"] > 0
    assert "the page opened: WebSocket" in flash_row["notes"]  # one flash_ws connection per page, nothing else

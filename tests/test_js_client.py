"""The browser client's own tests (node's test runner), and the freshness of the bundle Dash serves.

Real node: the client is JavaScript; only a JavaScript runtime runs its tests and its build."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ROOT

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (the CI script installs it)")


def test_node_unit_tests_pass():
    result = subprocess.run([NODE, "--test", "client/test/"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout


def test_bundle_served_by_the_package_is_built_from_client_src():
    result = subprocess.run([NODE, "client/build.mjs", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, "flash_ws/assets/flash_ws.js is stale: run `node client/build.mjs`\n" + result.stderr

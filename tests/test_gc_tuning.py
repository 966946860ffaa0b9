"""When an app starts serving, flash_ws tunes its process's garbage collector once
(flash_ws/server/gc_tuning.py): start-up's objects frozen, rarer young collections.
``gc_tuning=False`` and ``FLASH_WS_GC_TUNING=0`` leave the interpreter's settings. Each case runs in a
process of its own: the collector is process wide, and the tuning happens once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flash_ws.server.gc_tuning import THRESHOLDS

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import asyncio, gc, json, sys
from flash_ws import Flash
from tests.asgi import AsgiClient

def state():
    return [list(gc.get_threshold()), gc.get_freeze_count()]

async def serve(name, kwargs):
    client = AsgiClient(Flash(name, **kwargs).asgi)
    await client.start()
    try:
        return state()
    finally:
        await client.stop()

async def main():
    kwargs = json.loads(sys.argv[1])
    seen = {"before": state()}
    app = Flash("first", **kwargs)
    seen["made"] = state()
    client = AsgiClient(app.asgi)
    await client.start()
    seen["serving"] = state()
    await client.stop()
    garbage = [[] for _ in range(5000)]  # objects made after the first start: a second freeze would count them
    seen["second app serving"] = await serve("second", kwargs)
    print(json.dumps(seen))

asyncio.run(main())
"""


def _probe(kwargs: dict, env: dict[str, str] | None = None) -> dict[str, list]:
    environment = {k: v for k, v in os.environ.items() if k != "FLASH_WS_GC_TUNING"} | (env or {})
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(kwargs)], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_collector_is_tuned_once_when_the_first_app_starts_serving() -> None:
    seen = _probe({})
    before_threshold, before_frozen = seen["before"]  # Python 3.12 counts a few hundred objects frozen at start
    assert tuple(before_threshold) != THRESHOLDS
    assert seen["made"] == seen["before"], "tuned when the app was made, not when it started serving"
    threshold, frozen = seen["serving"]
    assert tuple(threshold) == THRESHOLDS
    assert frozen > before_frozen + 10_000, "start-up's objects (Dash, the app) were not frozen"
    second_threshold, second_frozen = seen["second app serving"]
    assert tuple(second_threshold) == THRESHOLDS
    # frozen objects only leave (freed by their count of references); a second freeze would add the 5,000 lists
    assert second_frozen <= frozen, "a second app's start froze again"


@pytest.mark.parametrize(("kwargs", "env"), [({"gc_tuning": False}, None), ({}, {"FLASH_WS_GC_TUNING": "0"}),
                                             ({}, {"FLASH_WS_GC_TUNING": "off"})])
def test_gc_tuning_off_leaves_the_interpreters_collector(kwargs: dict, env: dict[str, str] | None) -> None:
    seen = _probe(kwargs, env)
    assert seen["serving"] == seen["before"] == seen["second app serving"]
    assert tuple(seen["before"][0]) != THRESHOLDS

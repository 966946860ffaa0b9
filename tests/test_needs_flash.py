"""flash_ws's callbacks beside a plain ``dash.Dash`` fail loudly, naming ``Flash`` (issue 22, item 4),
whichever comes first, the app or the callbacks; each case in a fresh interpreter (one Dash app per
process, as in an app's own)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

CALLBACK = {
    "event_callback": ("from flash_ws import event_callback, stream_props\n"
                       "@event_callback(Input('go', 'n_clicks'))\n"
                       "async def count(n):\n    yield stream_props('out', {'children': n})\n"),
    "flash_ws.callback": ("from flash_ws import callback\n"
                          "@callback(Output('out', 'children'), Input('go', 'n_clicks'))\n"
                          "async def count(n):\n    yield n\n"),
}
APP = "import dash\napp = dash.Dash(__name__, backend='quart')\n"


def run(source: str) -> str:
    probe = ("from dash import Input, Output\n" + source +
             "print('no error')\n")
    wrapped = "try:\n" + "".join("    " + line + "\n" for line in probe.splitlines()) + \
              "except TypeError as exc:\n    print(type(exc).__name__, exc)\n"
    result = subprocess.run([sys.executable, "-c", wrapped], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("kind", list(CALLBACK))
@pytest.mark.parametrize("app_first", [True, False], ids=["app first", "callbacks first"])
def test_a_plain_dash_app_with_flash_ws_callbacks_is_refused_naming_flash(kind, app_first):
    said = run(APP + CALLBACK[kind] if app_first else CALLBACK[kind] + APP)
    assert said.startswith("TypeError flash_ws callbacks (__main__.count) stream only on a flash_ws.Flash app"), said
    assert "app = Flash(__name__, ...)" in said


@pytest.mark.parametrize("kind", list(CALLBACK))
def test_on_a_flash_app_they_register(kind):
    assert run("from flash_ws import Flash\napp = Flash(__name__)\n" + CALLBACK[kind]) == "no error"
    assert run(CALLBACK[kind] + "from flash_ws import Flash\napp = Flash(__name__)\n") == "no error"


def test_a_plain_dash_app_without_flash_ws_callbacks_is_left_alone():
    assert run("import flash_ws.callbacks\n" + APP) == "no error"


def test_a_plain_dash_app_beside_a_flash_app_is_left_alone():
    assert run("from flash_ws import Flash\nflash_app = Flash(__name__)\n" + CALLBACK["event_callback"] + APP) == "no error"

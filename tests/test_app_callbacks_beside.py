"""An app's own Output-less Dash callback on the same Input as an event callback's trigger or
cancel (a Stop button that also logs) lives beside it (issue 22, item 3): Dash names an Output-less
callback by a hash of its Inputs, so flash_ws's trigger callbacks have their own name. In-process:
what is asserted is the dependencies Dash serves, and the app's own callback answering."""

from __future__ import annotations

import json

import pytest
from dash import Input, html

from flash_ws import Flash, stream_props
from tests.asgi import AsgiClient

LOGGED: list[object] = []


async def ticker(n):
    yield stream_props("out", {"children": n})


@pytest.mark.parametrize("shared", ["stop", "go"], ids=["on the cancel Input", "on the trigger Input"])
async def test_an_app_callback_without_outputs_on_the_same_input_lives_beside_the_event_callback(shared):
    app = Flash(__name__)
    app.layout = html.Div([html.Button(id="go"), html.Button(id="stop"), html.Div(id="out")])
    app.event_callback(Input("go", "n_clicks"), cancel=[(Input("stop", "n_clicks"), 0)])(ticker)

    @app.callback(Input(shared, "n_clicks"))
    def log_click(n):
        LOGGED.append(n)

    client = AsgiClient(app.server)
    await client.start()
    try:
        answer = await client.request("GET", "/_dash-dependencies")
        assert answer.status == 200, answer.body[:500]
        callbacks = answer.json()
        on_shared = [cb for cb in callbacks if any(i["id"] == shared for i in cb["inputs"])]
        assert len(on_shared) == 2 and len({cb["output"] for cb in on_shared}) == 2
        own = next(cb for cb in on_shared if not cb.get("clientside_function"))
        body = {"output": own["output"], "outputs": [], "inputs": [{"id": shared, "property": "n_clicks", "value": 3}],
                "changedPropIds": [f"{shared}.n_clicks"], "state": []}
        ran = await client.request("POST", "/_dash-update-component", json.dumps(body).encode(),
                                   {"Content-Type": "application/json"})
        assert ran.status in (200, 204), ran.body[:500]
        assert LOGGED[-1] == 3
    finally:
        await client.stop()


@pytest.mark.browser
def test_in_chromium_start_and_stop_stream_and_the_app_s_own_callbacks_run(browser, serve):
    """Real Chromium: only Dash's renderer shows both callbacks of one Input firing, the stream's
    updates and its reset in the DOM."""
    from tests.browser import open_page

    server = serve("tests.apps.beside_app:server")
    page = open_page(browser, server.url)
    page.click("start")
    page.wait_until(lambda: page.text("out").startswith("tick"), "the stream to tick")
    page.click("stop")
    page.wait_text("out", "stopped")  # the cancel's reset_props
    page.wait_until(lambda: server.get_json("/test/events") == {"start logged": 1, "stop logged": 1},
                    "the app's own callbacks to log both clicks")
    assert not [line for line in page.console if line.startswith("error")], page.console
    page.page.close()

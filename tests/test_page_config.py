"""Trigger groups: one clientside callback per distinct Input list (Dash gives two no-output
clientside callbacks with the same Inputs the same id)."""

from __future__ import annotations

from dash import Input, State

from flash_ws.callbacks import EventCallbackRegistry
from flash_ws.page_config import build_groups, page_config
from flash_ws.server.settings import Settings


async def one(n, v):
    yield n


async def two(n, w):
    yield n


async def three(m):
    yield m


def test_callbacks_sharing_inputs_share_a_group_with_the_union_of_their_states():
    registry = EventCallbackRegistry()
    registry.add(one, [Input("go", "n_clicks"), State("v", "value")], cancel=[(Input("stop", "n_clicks"), 0)])
    registry.add(two, [Input("go", "n_clicks"), State("w", "value")], prevent_initial_call=False)
    registry.add(three, [Input("stop", "n_clicks")])
    groups = {tuple(str(i) for i in g.inputs): g for g in build_groups(registry)}
    assert set(groups) == {("go.n_clicks",), ("stop.n_clicks",)}
    go = groups[("go.n_clicks",)]
    assert [str(s) for s in go.states] == ["v.value", "w.value"]
    assert [(a["cb"].split(".")[-1], a["args"], a["initial"]) for a in go.actions] == [("one", [0, 1], False), ("two", [0, 2], True)]
    assert go.prevent_initial_call is False  # one action runs on the initial call
    stop = groups[("stop.n_clicks",)]
    assert [(a["kind"], a["cb"].split(".")[-1]) for a in stop.actions] == [("start", "three"), ("cancel", "one")]
    assert stop.actions[1]["keep"] == 0 and stop.prevent_initial_call is True
    assert go.key != stop.key and go.key in go.clientside_function()


def test_page_config_carries_urls_resets_and_settings():
    registry = EventCallbackRegistry()
    cb = registry.add(one, [Input("go", "n_clicks"), State("v", "value")], reset_props=[("go", {"disabled": False})])
    config = page_config(registry, build_groups(registry), "/app/_flash_ws/", Settings(transport="sse"))
    assert (config["ws_url"], config["sse_url"], config["post_url"]) == ("/app/_flash_ws/ws", "/app/_flash_ws/sse", "/app/_flash_ws/post")
    assert config["callbacks"][cb.cb_id] == {"name": cb.name, "reset": [["go", {"disabled": False}]]}
    assert config["transport"] == "sse" and config["heartbeat_ms"] == 15000

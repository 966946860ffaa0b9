"""Trigger groups: one clientside callback per distinct Input list (Dash gives two no-output
clientside callbacks with the same Inputs the same id)."""

from __future__ import annotations

from dash import MATCH, Input, Output, State
from dash._utils import to_json

from flash_ws.callbacks import EventCallbackRegistry
from flash_ws.dash_callbacks import add_stream
from flash_ws.dash_streaming import DashStream
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
    assert [(a["cb"].split(".")[-1], a["args"], a["initial"]) for a in go.config()] == [("one", [0, 1, 3], False), ("two", [0, 2, 3], True)]
    assert go.prevent_initial_call is False  # one action runs on the initial call
    stop = groups[("stop.n_clicks",)]
    assert [(a["kind"], a["cb"].split(".")[-1]) for a in stop.config()] == [("start", "three"), ("cancel", "one")]
    assert stop.config()[1]["keep"] == 0 and stop.prevent_initial_call is True
    assert go.key != stop.key and go.key in go.clientside_function()


def test_page_config_carries_urls_resets_and_settings():
    registry = EventCallbackRegistry()
    cb = registry.add(one, [Input("go", "n_clicks"), State("v", "value")], reset_props=[("go", {"disabled": False})])
    config = page_config(registry, build_groups(registry), "/app/_flash_ws/", Settings(transport="sse"))
    assert (config["ws_url"], config["sse_url"], config["post_url"]) == ("/app/_flash_ws/ws", "/app/_flash_ws/sse", "/app/_flash_ws/post")
    assert config["callbacks"][cb.cb_id] == {"name": cb.name, "reset": [["go", {"disabled": False}]]}
    assert config["transport"] == "sse" and config["heartbeat_ms"] == 15000


async def four(n, s):
    yield n


async def five(n):
    yield n


def test_the_groups_json_is_what_the_page_reads_byte_for_byte():
    """Starts (with the trigger context after every State of the group), cancels with their keep
    values, and where MATCH callbacks find their instance, in the order and spelling
    client/src/client.js reads."""
    registry = EventCallbackRegistry()
    registry.add(one, [Input("go", "n_clicks"), State("v", "value")], cancel=[(Input("halt", "value"), {"a": [1, None]})])
    registry.add(two, [Input("go", "n_clicks"), State("w", "value")], prevent_initial_call=False)
    add_stream(registry, DashStream(four, (Output("out", "children"),), None, (Input("go", "n_clicks"),),
                                    (State("s", "value"),), [0, 1], cancel=(Input("halt", "value"),)))
    registry.add(five, [Input({"type": "go", "index": MATCH}, "n_clicks")],
                 cancel=[(Input({"type": "stop", "index": MATCH}, "n_clicks"), None)])
    config = page_config(registry, build_groups(registry), "/_flash_ws/", Settings())
    cb = __name__ + "."
    assert to_json(config["groups"]) == (
        '{"gdf26169c0329":[{"kind":"start","cb":"' + cb + 'one","args":[0,1,4],"initial":false},'
        '{"kind":"start","cb":"' + cb + 'two","args":[0,2,4],"initial":true},'
        '{"kind":"start","cb":"' + cb + 'four","args":[0,3,4],"initial":true}],'
        '"gab3714b8c5ca":[{"kind":"start","cb":"' + cb + 'five","args":[0,1],"initial":false,'
        '"match":{"context":1,"input":0,"keys":["index"]}}],'
        '"gf748df674cef":[{"kind":"cancel","cb":"' + cb + 'one","arg":0,"keep":{"a":[1,null]}},'
        '{"kind":"cancel","cb":"' + cb + 'four","arg":0,"keep":null}],'
        '"ga9cd60778f17":[{"kind":"cancel","cb":"' + cb + 'five","arg":0,"keep":null,'
        '"match":{"context":1,"input":0,"keys":["index"]}}]}'
    )

"""Dash-style streaming callbacks (flash_ws/dash_streaming.py, dash_callbacks.py) without a browser:
what each yield becomes, where the callbacks are taken from, and what is refused."""

from __future__ import annotations

import asyncio
import json

import dash
import pytest
from dash import ALL, MATCH, Input, Output, Patch, State, html, no_update, set_props
from dash.exceptions import PreventUpdate

from flash_ws import Flash
from flash_ws import callback as flash_callback
from flash_ws.callbacks import GLOBAL_EVENT_CALLBACKS, MAX_ID_LENGTH, EventCallbackRegistry
from flash_ws.dash_callbacks import add_stream, take_from_dash
from flash_ws.dash_streaming import DashStream, as_event_callback, parse_component_id
from flash_ws.page_config import build_groups


def _stream(func, outputs, grouping=None, inputs=(Input("go", "n_clicks"),), states=(), **options) -> DashStream:
    indices = list(range(len(inputs) + len(states)))
    return DashStream(func, tuple(outputs), grouping, tuple(inputs), tuple(states), indices, **options)


def _updates(stream: DashStream, *values, page=None) -> list:
    """Every update the stream's event-callback generator yields, as [[id, props], ...] lists."""
    gen = as_event_callback(stream)(*values, page)

    async def collect():
        return [json.loads(update.to_json()) async for update in gen]

    if hasattr(gen, "__anext__"):
        return asyncio.run(collect())
    return [json.loads(update.to_json()) for update in gen]


def test_each_yield_becomes_one_update_with_no_update_skipped_and_set_props_joined():
    async def func(n, value):
        set_props("side", {"children": "s0"})
        yield "a0", "b0"
        yield "a1", no_update
        yield no_update, no_update  # nothing changes: no update at all
        raise PreventUpdate  # ends quietly

    stream = _stream(func, [Output("a", "children"), Output("b", "children")], [0, 1], states=(State("v", "value"),),
                     running=((Output("go", "disabled"), True, False),))
    assert _updates(stream, 1, "x") == [
        [["go", {"disabled": True}]],
        [["a", {"children": "a0"}], ["b", {"children": "b0"}], ["side", {"children": "s0"}]],
        [["a", {"children": "a1"}]],
        [["go", {"disabled": False}]],
    ]


def test_patch_dict_outputs_and_a_sync_generator():
    def func(n):
        figure = Patch()
        figure["data"][0]["y"].append(n)
        yield {"fig": figure, "text": f"n={n}"}

    stream = _stream(func, [Output("g", "figure"), Output("t", "children")], {"fig": 0, "text": 1})
    [[graph, text]] = _updates(stream, 7)
    assert graph[0] == "g" and graph[1]["figure"]["operations"][0]["operation"] == "Append"
    assert text == ["t", {"children": "n=7"}]


def test_a_wrong_yield_shape_is_refused_by_name():
    async def func(n):
        yield "only one"

    stream = _stream(func, [Output("a", "children"), Output("b", "children")], [0, 1])
    with pytest.raises(TypeError, match=r"has 2 Outputs and yielded 'only one'"):
        _updates(stream, 1)


def test_on_error_shows_its_value_and_without_it_the_error_propagates():
    async def func(n):
        yield "before"
        raise ValueError("boom")

    handled = _stream(func, [Output("a", "children")], on_error=lambda error: f"failed: {error}")
    assert _updates(handled, 1) == [[["a", {"children": "before"}]], [["a", {"children": "failed: boom"}]]]
    with pytest.raises(ValueError, match="boom"):
        _updates(_stream(func, [Output("a", "children")]), 1)


def test_match_outputs_take_the_triggering_ids_values_and_ctx_sees_the_trigger():
    async def func(n):
        yield f"{dash.ctx.triggered_id['index']} {n}"

    button = {"type": "b", "index": MATCH}
    stream = _stream(func, [Output({"type": "o", "index": MATCH}, "children")], inputs=(Input(button, "n_clicks"),))
    page = {"t": ['{"index":3,"type":"b"}.n_clicks'], "i": [{"id": {"type": "b", "index": 3}, "property": "n_clicks"}],
            "s": []}
    assert _updates(stream, 5, page=page) == [[[{"type": "o", "index": 3}, {"children": "3 5"}]]]


def test_refusals_name_the_callback_and_the_problem():
    async def func(n):
        yield n

    with pytest.raises(TypeError, match="ALL/ALLSMALLER"):
        as_event_callback(_stream(func, [Output({"t": ALL}, "children")]))
    with pytest.raises(TypeError, match="background not supported on a flash_ws stream"):
        flash_callback(Output("a", "children"), Input("go", "n_clicks"), background=True)(func)
    with pytest.raises(TypeError, match="cancel takes Inputs"):
        flash_callback(Output("a", "children"), Input("go", "n_clicks"), cancel=["stop"])(func)
    with pytest.raises(TypeError, match="running entries are"):
        flash_callback(Output("a", "children"), Input("go", "n_clicks"), running=[("go", 1)])(func)


def test_flash_ws_callback_streams_generators_and_hands_other_functions_to_dash():
    def plain(n):
        return n

    def sync_stream(n):
        yield n

    flash_callback(Output("plain-out", "children"), Input("plain-in", "n_clicks"))(plain)
    flash_callback(Output("s-out", "children"), Input("s-in", "n_clicks"), cancel=[Input("s-stop", "n_clicks")])(sync_stream)
    try:
        assert "plain-out.children" in dash._callback.GLOBAL_CALLBACK_MAP
        [taken] = [cb for cb in GLOBAL_EVENT_CALLBACKS if cb.name.endswith("sync_stream")]
        assert taken.context_arg and taken.arity == 2 and not taken.is_async
        assert [(str(i), keep) for i, keep in taken.cancel] == [("s-stop.n_clicks", None)]
    finally:
        dash._callback.GLOBAL_CALLBACK_MAP.pop("plain-out.children", None)
        dash._callback.GLOBAL_CALLBACK_LIST[:] = [s for s in dash._callback.GLOBAL_CALLBACK_LIST
                                                  if s["output"] != "plain-out.children"]
        GLOBAL_EVENT_CALLBACKS.move_into(EventCallbackRegistry())


def test_generator_callbacks_leave_dashs_registries_for_flash_ws_and_others_stay():
    app = Flash(__name__)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="a"), html.Div(id="b"), html.Div(id="c")])

    @app.callback(Output("a", "children"), Input("go", "n_clicks"), State("c", "children"),
                  running=[(Output("go", "disabled"), True, False)], on_error=lambda e: "err")
    async def streams(n, c):
        yield n

    @app.callback(Output("b", "children"), Input("go", "n_clicks"))
    def returns(n):
        return n

    app.install_event_callbacks()
    assert [k for k, v in app.callback_map.items() if "callback" in v] == ["b.children"]  # server-side ones
    assert [s["output"] for s in app._callback_list if not s.get("clientside_function")] == ["b.children"]
    [taken] = list(app.event_callbacks)
    assert taken.name.endswith("streams") and taken.arity == 3 and taken.prevent_initial_call is False
    assert [(cid, props) for cid, props in taken.reset_props] == [("go", {"disabled": False})]
    [group] = build_groups(app.event_callbacks)
    assert group.config()[0]["args"] == [0, 1, 2]  # Input, State, then the page's context
    assert ".concat([c?{t:" in group.clientside_function()
    assert app._config()["flash_ws"]["callbacks"][taken.cb_id]["reset"] == [["go", {"disabled": False}]]


def test_take_from_dash_reads_states_with_wildcards_and_running_from_dashs_specs():
    callback_map, callback_list = {}, []
    register = dash._callback.register_callback(callback_list, callback_map, False,
                                                Output({"t": "o", "i": MATCH}, "children"),
                                                Input({"t": "b", "i": MATCH}, "n_clicks"), State({"t": "s", "i": MATCH}, "value"))

    async def streams(n, s):
        yield n

    register(streams)
    [stream] = take_from_dash(callback_map, callback_list)
    assert callback_map == {} and callback_list == []
    assert stream.states[0].component_id == {"t": "s", "i": MATCH}
    registry = EventCallbackRegistry()
    add_stream(registry, stream)
    assert [cb.name for cb in registry] == [f"{__name__}.{streams.__qualname__}"]


def test_component_ids_parse_back_from_dashs_string_form():
    assert parse_component_id("plain") == "plain"
    assert parse_component_id('{"i":["MATCH"],"t":"x"}') == {"i": MATCH, "t": "x"}


def test_callback_ids_are_capped_for_the_codec():
    async def func(n):
        yield n

    func.__qualname__ = "x" * 400
    registry = EventCallbackRegistry()
    first, second = registry.add(func, [Input("a", "n_clicks")]), registry.add(func, [Input("a", "n_clicks")])
    assert len(first.cb_id) <= MAX_ID_LENGTH and len(second.cb_id) <= MAX_ID_LENGTH and first.cb_id != second.cb_id


def test_the_app_s_own_callback_keeps_cancel_for_a_stream():
    """Issue 22, item 6: ``app.callback(..., cancel=[...])`` on Flash: Dash drops ``cancel=`` unless
    ``background=True``; Flash keeps it for a generator, and the page gets its cancel action."""
    app = Flash(__name__)
    app.layout = html.Div([html.Button(id="go"), html.Button(id="stop"), html.Div(id="a"), html.Div(id="b")])

    @app.callback(Output("a", "children"), Input("go", "n_clicks"), cancel=[Input("stop", "n_clicks")],
                  prevent_initial_call=True)
    async def streams(n):
        yield n

    @app.callback(Output("b", "children"), Input("go", "n_clicks"))
    def returns(n):
        return n

    app.install_event_callbacks()
    [taken] = list(app.event_callbacks)
    assert [(str(i), keep) for i, keep in taken.cancel] == [("stop.n_clicks", None)]
    groups = app._config()["flash_ws"]["groups"].values()
    assert [action["kind"] for actions in groups for action in actions] == ["start", "cancel"]
    assert "b.children" in app.callback_map  # a function that is not a generator stays Dash's


def test_a_stream_to_all_outputs_is_refused_on_every_install_and_the_app_keeps_its_callbacks():
    """Issue 22, item 5: a dash-registered stream with an ALL Output used to be taken out of Dash's
    registry before it was refused, so only the first request failed and the callback then vanished."""
    app = Flash(__name__)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="b")])

    @app.callback(Output("b", "children"), Input("go", "n_clicks"))
    def returns(n):
        return n

    async def to_all(n):
        yield [n]

    # registered the way dash.callback does (flash_ws sees it only when the app is first served)
    dash.Dash.callback(app, Output({"type": "o", "index": ALL}, "children"), Input("go", "title"))(to_all)
    before = dict(app.callback_map)
    for _ in range(2):
        with pytest.raises(TypeError, match=r"to_all: .*has ALL/ALLSMALLER"):
            app.install_event_callbacks()
    assert app.callback_map.keys() == before.keys()  # nothing taken out: every request says the same


def test_flash_callback_refuses_a_stream_to_all_outputs_when_it_is_registered():
    app = Flash(__name__)

    async def to_all(n):
        yield [n]

    with pytest.raises(TypeError, match=r"to_all: .*has ALL/ALLSMALLER"):
        app.callback(Output({"type": "o", "index": ALL}, "children"), Input("go", "n_clicks"))(to_all)
    assert not any("to_all" in str(entry.get("callback")) for entry in app.callback_map.values())

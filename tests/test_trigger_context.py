"""``dash.ctx`` in event callbacks and MATCH instances (flash_ws/trigger_context.py): the page's
trigger context read as Dash reads its own, malformed context read as none, MATCH ids in yields and
resets made the run's, and mismatched MATCH declarations refused when registering. In-process, the
MATCH app (tests/apps/match_app.py) runs two cards side by side and replaces a card's run only."""

from __future__ import annotations

import asyncio

import dash
import pytest
from dash import ALL, MATCH, Input, State

from flash_ws import stream_props
from flash_ws.callbacks import EventCallbackRegistry
from flash_ws.trigger_context import TriggerContext, run_key

GO = Input({"type": "go", "index": MATCH}, "n_clicks")
TIMEOUT = 30


def _card_context(index: int) -> dict:
    """What the page sends for a click on card ``index``'s go button (page_config.py's clientside function)."""
    return {"t": [f'{{"index":{index},"type":"go"}}.n_clicks'],
            "i": [{"id": {"type": "go", "index": index}, "property": "n_clicks"}],
            "s": [{"id": "name", "property": "value"}]}


def test_dash_ctx_reads_the_trigger_the_inputs_and_the_states_as_in_a_dash_callback():
    trigger = TriggerContext([GO], [State("name", "value")], [3, "ann"], _card_context(2))

    async def read() -> tuple:
        trigger.enter()
        ctx = dash.ctx
        return (ctx.triggered_id, ctx.triggered, ctx.inputs_list, ctx.states, ctx.inputs)

    triggered_id, triggered, inputs_list, states, inputs = asyncio.run(read())
    assert triggered_id == {"type": "go", "index": 2}
    assert triggered == [{"prop_id": '{"index":2,"type":"go"}.n_clicks', "value": 3}]
    assert inputs_list == [{"id": {"type": "go", "index": 2}, "property": "n_clicks", "value": 3}]
    assert states == {"name.value": "ann"} and inputs == {'{"index":2,"type":"go"}.n_clicks': 3}
    assert trigger.match == {"index": 2} and trigger.key == run_key({"index": 2}) == '{"index":2}'


@pytest.mark.parametrize("page", [None, "x", {"t": "x", "i": 3}, {"t": [1, None], "i": [None], "s": [[{"id": 1}]]}])
def test_a_missing_or_malformed_trigger_context_reads_as_no_trigger_never_as_an_error(page):
    trigger = TriggerContext([GO], [], [3], page)

    async def read() -> object:
        trigger.enter()
        return dash.ctx.triggered_id

    assert asyncio.run(read()) is None
    assert trigger.key == ""


def test_match_in_a_yielded_id_is_made_the_runs_and_other_wildcards_are_refused_naming_the_key():
    trigger = TriggerContext([GO], [], [1], _card_context(5))
    resolved = trigger.resolved(stream_props([({"type": "out", "index": MATCH}, {"children": "x"}), ("plain", {"a": 1})]))
    assert resolved.pairs == (({"type": "out", "index": 5}, {"children": "x"}), ("plain", {"a": 1}))
    with pytest.raises(ValueError, match="has ALL for 'index'"):
        trigger.resolved(stream_props({"type": "out", "index": ALL}, {"children": "x"}))
    with pytest.raises(ValueError, match=r"MATCH for 'row'.*\['index'\]"):
        trigger.resolved(stream_props({"type": "out", "row": MATCH}, {"children": "x"}))


async def _gen(n):
    yield n


def test_a_match_cancel_or_reset_whose_keys_are_not_the_inputs_is_refused_when_registering():
    registry = EventCallbackRegistry()
    with pytest.raises(TypeError, match=r"cancel Input .* has MATCH \['row'\] but the callback's Inputs have MATCH \['index'\]"):
        registry.add(_gen, [GO], cancel=[(Input({"type": "stop", "row": MATCH}, "n_clicks"), None)])
    with pytest.raises(TypeError, match=r"have no MATCH"):
        registry.add(_gen, [Input("go", "n_clicks")], cancel=[(Input({"type": "stop", "index": MATCH}, "n_clicks"), None)])
    with pytest.raises(TypeError, match=r"reset_props id .* MATCH only for the keys the callback's Inputs MATCH \(none\)"):
        registry.add(_gen, [Input("go", "n_clicks")], reset_props=[({"type": "out", "index": MATCH}, {"children": ""})])
    registry.add(_gen, [GO], cancel=[(Input({"type": "stop", "index": MATCH}, "n_clicks"), None)],
                 reset_props=[({"type": "out", "index": MATCH}, {"children": ""})])  # matching keys: fine


async def test_two_cards_run_side_by_side_and_a_re_click_replaces_only_its_cards_run(serve_in_process):
    server = await serve_in_process("tests.apps.match_app:server", FLASH_WS_TEST_STEPS="3")
    cb = "tests.apps.match_app.count"
    async with server.client() as client:
        first = await client.start(cb, [1, _card_context(0)], run_key({"index": 0}))
        second = await client.start(cb, [1, _card_context(1)], run_key({"index": 1}))
        (pairs0, end0), (pairs1, end1) = await asyncio.wait_for(asyncio.gather(first.collect(), second.collect()), TIMEOUT)
        assert (end0.reason, end1.reason) == ("done", "done")
        assert pairs0[-1] == [{"type": "out", "index": 0}, {"children": "card 0: 3"}]  # ctx.triggered_id, MATCH id
        assert pairs1[-1] == [{"type": "out", "index": 1}, {"children": "card 1: 3"}]

        slow = await client.start(cb, [1, _card_context(0)], run_key({"index": 0}))
        other = await client.start(cb, [1, _card_context(1)], run_key({"index": 1}))
        again = await client.start(cb, [2, _card_context(0)], run_key({"index": 0}))
        ends = await asyncio.wait_for(asyncio.gather(slow.collect(), other.collect(), again.collect()), TIMEOUT)
    assert [end.reason for _pairs, end in ends] == ["replaced", "done", "done"]

"""The event_callback decorator refuses what it cannot run, naming the callback and the problem."""

from __future__ import annotations

import pytest
from dash import Input, Output, State

from flash_ws.callbacks import EventCallbackRegistry


async def agen(n):
    yield n


def sgen(n):
    yield n


def plain(n):
    return n


def test_async_and_sync_generators_are_accepted_with_inputs_then_states():
    registry = EventCallbackRegistry()
    a = registry.add(agen, [Input("a", "n_clicks"), State("b", "value")])
    s = registry.add(sgen, [Input("a", "n_clicks")], prevent_initial_call=False)
    assert a.is_async and not s.is_async
    assert (a.arity, a.prevent_initial_call, s.prevent_initial_call) == (2, True, False)
    assert a.cb_id == f"{__name__}.agen" and registry.get(a.cb_id) is a


def test_the_same_function_twice_gets_distinct_stable_ids():
    registry = EventCallbackRegistry()
    first = registry.add(agen, [Input("a", "n_clicks")])
    second = registry.add(agen, [Input("b", "n_clicks")])
    assert (first.cb_id, second.cb_id) == (f"{__name__}.agen", f"{__name__}.agen#2")


@pytest.mark.parametrize("func, dependencies, options, message", [
    (plain, [Input("a", "n_clicks")], {}, "must be a generator"),
    (agen, [Output("a", "children"), Input("a", "n_clicks")], {}, "event callbacks have no Output"),
    (agen, [State("a", "value")], {}, "needs at least one Input"),
    (agen, [Input("a", "n_clicks"), State("b", "value"), Input("c", "n_clicks")], {}, "every Input before the States"),
    (agen, ["a.n_clicks"], {}, "expected Input or State"),
    (agen, [Input("a", "n_clicks")], {"cancel": [Input("s", "n_clicks")]}, "cancel entries are (Input(id, prop), keep_value)"),
    (agen, [Input("a", "n_clicks")], {"reset_props": [("a", "disabled")]}, "props of 'a' must be a dict"),
    (agen, [Input("a", "n_clicks")], {"on_error": "oops"}, "on_error must be callable"),
    (agen, [Input("a", "n_clicks")], {"backpressure": "drop"}, "backpressure must be one of wait, latest"),
])
def test_mistakes_are_refused_at_decoration_naming_the_callback(func, dependencies, options, message):
    with pytest.raises((TypeError, ValueError)) as refused:
        EventCallbackRegistry().add(func, dependencies, **options)
    assert message in str(refused.value) and func.__name__ in str(refused.value)


def test_the_decorators_name_every_option_and_refuse_an_unknown_one():
    import inspect
    from dataclasses import fields
    from typing import get_type_hints

    from flash_ws import event_callback
    from flash_ws.app import Flash
    from flash_ws.callbacks import CallbackKeywords, CallbackOptions

    assert set(get_type_hints(CallbackKeywords)) == {each.name for each in fields(CallbackOptions)}
    for decorator in (event_callback, Flash.event_callback):  # editors see the names through Unpack
        assert "Unpack[CallbackKeywords]" in str(inspect.signature(decorator).parameters["options"].annotation)
    with pytest.raises(TypeError, match="cancle"):
        event_callback(Input("a", "n_clicks"), cancle=[])

"""stream_props: its three forms, validation, and Dash's serialisation of components and Patches."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import pytest
from dash import Patch, html

from flash_ws.stream import StreamProps, combine, stream_props


def test_the_three_forms_give_the_same_pairs():
    pairs = (("a", {"children": 1}), ({"type": "row", "index": 2}, {"children": 2}))
    assert stream_props("a", {"children": 1}).pairs == pairs[:1]
    assert stream_props(list(pairs)).pairs == pairs
    assert stream_props(batch=list(pairs)).pairs == pairs


def test_components_figures_and_patches_serialise_as_dash_does():
    patch = Patch()
    patch.append(3)
    text = stream_props("a", {"children": html.B("x"), "figure": go.Figure(go.Scatter(y=[1])), "data": patch}).to_json()
    [[cid, props]] = json.loads(text)
    assert cid == "a"
    assert props["children"] == {"type": "B", "namespace": "dash_html_components", "props": {"children": "x"}}
    assert props["figure"]["data"][0]["y"] == [1]
    assert props["data"]["__dash_patch_update"] == "__dash_patch_update"
    assert props["data"]["operations"][0]["operation"] == "Append"


@pytest.mark.parametrize("args, kwargs, message", [
    (("a",), {}, "needs props for component 'a'"),
    ((3, {"x": 1}), {}, "a component id is a string or a pattern-matching dict"),
    (("a", ["x"]), {}, "must be a dict"),
    (([("a",)],), {}, "expects (component_id, props) pairs"),
    (("a", {"x": 1}), {"batch": []}, "not several"),
])
def test_bad_calls_say_what_was_expected(args, kwargs, message):
    with pytest.raises(TypeError, match=".*") as refused:
        stream_props(*args, **kwargs)
    assert message in str(refused.value)


def test_a_list_of_results_is_one_batch_and_anything_else_is_not_a_result():
    joined = combine([stream_props("a", {"x": 1}), stream_props("b", {"y": 2})])
    assert isinstance(joined, StreamProps) and [p[0] for p in joined.pairs] == ["a", "b"]
    assert combine({"children": 1}) is None and combine([]) is None and combine("a") is None


PLAIN_VALUES = [
    {"children": "<script>alert('x')</script> / \u2028\u2029 é 😀"},
    {"extendData": [{"x": [[1, 2]], "y": [[0.1, 1e-300, 12345678901234567890]]}, [0]]},
    {"data": {1: "non-string key", "nested": [None, True, False, -0.0, 3.14159]}},
    {"value": ""},
]


@pytest.mark.parametrize("props", PLAIN_VALUES)
def test_plain_json_takes_the_short_cut_with_dashs_exact_output(props):
    from dash._utils import to_json

    result = stream_props({"type": "out", "index": 3}, props)
    assert result.to_json() == to_json([[{"type": "out", "index": 3}, props]])


def test_numpy_arrays_and_components_encode_as_dash_does():
    import numpy as np
    from dash._utils import to_json

    for props in ({"figure": {"data": [{"y": np.arange(5)}]}}, {"children": html.B("x")}):
        assert stream_props("out", props).to_json() == to_json([["out", props]])

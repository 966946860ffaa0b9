"""``stream_props``: what an event callback yields to update the page."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from dash._utils import to_json
from plotly.io import json as plotly_json

# What Dash's encoder (plotly's orjson engine) passes orjson, and the characters it escapes after.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_HTML_UNSAFE = (("<", "\\u003c"), (">", "\\u003e"), ("/", "\\u002f"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))

ComponentId = str | dict
Pair = tuple[ComponentId, dict]


@dataclass(frozen=True)
class StreamProps:
    """Property updates applied in one render: ``(component id, {prop: value})`` pairs."""

    pairs: tuple[Pair, ...]

    def to_json(self) -> str:
        """The pairs as JSON, exactly as Dash serialises callback outputs (``dash._utils.to_json``).

        Plain JSON values take a short cut, when Dash's encoder is orjson: orjson with Dash's
        options and escapes, without plotly's per-call module look-ups; anything else (a component,
        a figure, a value orjson refuses) goes through Dash's encoder."""
        if plotly_json.config.default_engine in ("auto", "orjson"):  # else Dash encodes with the json module
            try:
                text = orjson.dumps(self.pairs, option=_ORJSON_OPTIONS).decode()  # tuples as arrays, like lists
            except TypeError:
                return to_json(self._lists())
            for unsafe, escaped in _HTML_UNSAFE:
                if unsafe in text:
                    text = text.replace(unsafe, escaped)
            return text
        return to_json(self._lists())

    def _lists(self) -> list[list[Any]]:
        return [[cid, props] for cid, props in self.pairs]


def _check_pair(pair: Any) -> Pair:
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise TypeError(f"stream_props expects (component_id, props) pairs, got {pair!r:.80}")
    cid, props = pair
    if not isinstance(cid, (str, dict)):
        raise TypeError(f"a component id is a string or a pattern-matching dict, got {type(cid).__name__}: {cid!r:.80}")
    if not isinstance(props, dict) or not all(isinstance(k, str) for k in props):
        raise TypeError(f"props of {cid!r} must be a dict of property names to values, got {props!r:.80}")
    return cid, props


def stream_props(
    component_id: ComponentId | Sequence[Pair] | None = None,
    props: dict | None = None,
    *,
    batch: Iterable[Pair] | None = None,
) -> StreamProps:
    """Updates for the page, to ``yield`` from an event callback.

    - ``stream_props("out", {"children": "hi"})``: one component;
    - ``stream_props([("a", {...}), ("b", {...})])`` or ``stream_props(batch=[...])``: several
      components, applied together in one render.
    """
    if batch is not None:
        if component_id is not None or props is not None:
            raise TypeError("stream_props takes either (component_id, props), a list of pairs, or batch=, not several")
        pairs = list(batch)
    elif props is not None:  # one component: the common case, without building a list first
        return StreamProps((_check_pair((component_id, props)),))
    elif isinstance(component_id, list):
        pairs = component_id
    else:
        raise TypeError(f"stream_props needs props for component {component_id!r} (or a list of (id, props) pairs)")
    return StreamProps(tuple(_check_pair(p) for p in pairs))


def combine(item: Any) -> StreamProps | None:
    """A yielded value as one StreamProps (a list of them becomes one batch); None if it is not one."""
    if isinstance(item, StreamProps):
        return item
    if isinstance(item, (list, tuple)) and item and all(isinstance(i, StreamProps) for i in item):
        return StreamProps(tuple(pair for sp in item for pair in sp.pairs))
    return None

"""What a run knows of what triggered it, as Dash callbacks know it: ``dash.ctx`` and the run's MATCH
values.

The page sends its trigger context as the last value of a start (page_config.py): the prop ids that
triggered the trigger group's clientside callback (``t``), and the ids of its Inputs (``i``) and
States (``s``) as Dash's renderer resolved them, concrete for pattern-matching ones. It is client
input: anything malformed reads as absent, never as an error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from dash._callback_context import context_value
from dash._utils import AttributeDict
from dash.dependencies import Wildcard

from .stream import StreamProps


def run_key(match: dict[str, Any]) -> str:
    """A run's instance key (``Start.key``): its MATCH values as canonical JSON, "" without any
    (the page makes the same text: client/src/json.js ``canonicalJson``)."""
    return json.dumps(match, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if match else ""


def match_keys(dependencies: Sequence[Any]) -> tuple[int, tuple[str, ...]] | None:
    """The first of ``dependencies`` whose id has MATCH wildcards, and their keys (sorted); None without."""
    for index, dep in enumerate(dependencies):
        if isinstance(dep.component_id, dict):
            keys = sorted(k for k, v in dep.component_id.items() if isinstance(v, Wildcard) and v.value == "MATCH")
            if keys:
                return index, tuple(keys)
    return None


class TriggerContext:
    """``dash.ctx`` for one run of a callback with these ``inputs`` and ``states``, from the
    ``values`` the page sent and its trigger context ``page`` (None when the client sent none)."""

    def __init__(self, inputs: Sequence[Any], states: Sequence[Any], values: Sequence[Any], page: Any,
                 outputs_list: list[dict] | None = None) -> None:
        page = page if isinstance(page, dict) else {}
        n_inputs = len(inputs)
        inputs_list = _with_values(page.get("i"), inputs, values[:n_inputs])
        states_list = _with_values(page.get("s"), states, values[n_inputs:])
        triggered = [t for t in _list(page.get("t")) if isinstance(t, str)]
        by_prop = {_prop_id(entry): entry.get("value") for entry in _flat(inputs_list)}
        states_by_prop = {_prop_id(entry): entry.get("value") for entry in _flat(states_list)}
        self.match: dict[str, Any] = {}
        for declared, entry in zip((*inputs, *states), inputs_list + states_list, strict=False):
            if isinstance(declared.component_id, dict) and isinstance(entry, dict) and isinstance(entry.get("id"), dict):
                for key, value in declared.component_id.items():
                    concrete = entry["id"].get(key, value)
                    if isinstance(value, Wildcard) and value.value == "MATCH" and not isinstance(concrete, Wildcard):
                        self.match[key] = concrete
        self.dash_context = AttributeDict(
            updated_props={}, triggered_inputs=[{"prop_id": t, "value": by_prop.get(t)} for t in triggered],
            inputs_list=inputs_list, states_list=states_list, input_values=by_prop, state_values=states_by_prop,
            outputs_list=outputs_list or [],
        )

    @property
    def key(self) -> str:
        return run_key(self.match)

    def concrete(self, component_id: Any) -> Any:
        """The id with its MATCH wildcards replaced by this run's values."""
        if not isinstance(component_id, dict):
            return component_id
        return {k: self.match.get(k, v) if isinstance(v, Wildcard) else v for k, v in component_id.items()}

    def resolved(self, stream: StreamProps) -> StreamProps:
        """``stream`` with its MATCH wildcards made this run's values; ValueError for a wildcard
        it cannot resolve (no MATCH value for its key, or ALL / ALLSMALLER)."""
        if not any(isinstance(cid, dict) and any(isinstance(v, Wildcard) for v in cid.values()) for cid, _ in stream.pairs):
            return stream
        pairs = []
        for cid, props in stream.pairs:
            if isinstance(cid, dict):
                for key, value in cid.items():
                    if isinstance(value, Wildcard) and (value.value != "MATCH" or key not in self.match):
                        raise ValueError(f"stream_props id {_shown(cid)} has {value.value} for {key!r}; only MATCH is "
                                         f"resolved, for the keys this run's Inputs MATCH ({sorted(self.match) or 'none'})")
                cid = self.concrete(cid)
            pairs.append((cid, props))
        return StreamProps(tuple(pairs))

    def enter(self) -> None:
        """Make ``dash.ctx`` and ``dash.set_props`` see this run (in the current thread or task)."""
        context_value.set(self.dash_context)


def _shown(cid: dict) -> str:
    return "{" + ", ".join(f"{k!r}: {v.value if isinstance(v, Wildcard) else repr(v)}" for k, v in cid.items()) + "}"


def _prop_id(entry: dict) -> str:
    cid = entry.get("id")
    text = json.dumps(cid, sort_keys=True, separators=(",", ":"), default=_wire_form) if isinstance(cid, dict) else str(cid)
    return f"{text}.{entry.get('property')}"


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _wire_form(value: Any) -> Any:
    """A declared wildcard where the page sent no concrete id: Dash's wire form, ``["MATCH"]``."""
    if isinstance(value, Wildcard):
        return [value.value]
    raise TypeError(f"{type(value).__name__} is not JSON")


def _flat(entries: list) -> list[dict]:
    return [e for entry in entries for e in (entry if isinstance(entry, list) else [entry]) if isinstance(e, dict)]


def _with_values(described: Any, declared: Sequence[Any], values: Sequence[Any]) -> list:
    """Dash's ``inputs_list`` entries: the ids the page sent (concrete for wildcards) with the values."""
    described = described if isinstance(described, list) and len(described) == len(declared) else [None] * len(declared)
    out: list = []
    for dep, ids, value in zip(declared, described, values, strict=False):
        if isinstance(ids, list):  # an ALL / ALLSMALLER dependency: one entry per matching component
            seq = value if isinstance(value, list) else []
            out.append([{"id": i.get("id"), "property": dep.component_property, "value": v}
                        for i, v in zip(ids, seq, strict=False) if isinstance(i, dict)])
        else:
            cid = ids.get("id") if isinstance(ids, dict) else dep.component_id
            out.append({"id": cid, "property": dep.component_property, "value": value})
    return out

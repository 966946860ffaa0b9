"""Dash-style streaming callbacks (``Output``s and generators, as in Dash 4.5) run as flash_ws streams.

A :class:`DashStream` describes one such callback; :func:`as_event_callback` turns it into a
generator the flash_ws runner drives like any event callback: each ``yield`` has the shape of the
callback's return value (one value per ``Output``; a list/tuple, or a dict for grouped Outputs)
and becomes one ``stream_props`` update. ``no_update`` skips an Output, ``PreventUpdate`` ends the
stream quietly, ``dash.set_props`` between yields joins the next update, ``running=`` values are
set at the start and unset at the end (the client's reset unsets them on cancel and error), and
``on_error(exception)`` returns what to show.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dash import no_update
from dash._callback import NoUpdate
from dash._grouping import flatten_grouping
from dash._validate import validate_and_group_input_args
from dash.dependencies import ALL, ALLSMALLER, MATCH, Input, Output, State, Wildcard
from dash.exceptions import PreventUpdate

from .callbacks import CallbackOptions
from .stream import StreamProps
from .trigger_context import TriggerContext

WILDCARDS = {"MATCH": MATCH, "ALL": ALL, "ALLSMALLER": ALLSMALLER}


@dataclass(frozen=True)
class DashStream:
    """A Dash-style streaming callback: its generator and dependencies as Dash declares them."""

    func: Callable[..., Any]
    outputs: tuple[Output, ...]
    grouping: Any  # None for one Output, else Dash's index grouping (a list, or a dict for grouped Outputs)
    inputs: tuple[Input, ...]
    states: tuple[State, ...]
    inputs_state_indices: Any
    running: tuple[tuple[Output, Any, Any], ...] = ()
    cancel: tuple[Input, ...] = ()
    on_error: Callable[[Exception], Any] | None = None
    prevent_initial_call: bool = False

    @property
    def name(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    def options(self) -> CallbackOptions:
        """Its options as an event callback: a change of a ``cancel`` Input cancels a run, and the
        ``running=`` values after a run are its reset. ``on_error`` stays with the stream
        (``as_event_callback`` calls it: its value has the shape of the Outputs)."""
        off = running_props(self, 2)
        return CallbackOptions(cancel=tuple((cancel_input, None) for cancel_input in self.cancel),
                               reset_props=off.pairs if off is not None else (), prevent_initial_call=self.prevent_initial_call)

    def check(self) -> None:
        """Refuse what flash_ws cannot stream, naming the callback and the dependency."""
        if not (inspect.isasyncgenfunction(self.func) or inspect.isgeneratorfunction(self.func)):
            raise TypeError(f"streaming callback {self.name} must be a generator (a function with yield)")
        for output in self.outputs + tuple(r[0] for r in self.running):
            if _wildcards(output.component_id) - {"MATCH"}:
                raise TypeError(f"streaming callback {self.name}: {output} has ALL/ALLSMALLER; "
                                "flash_ws streams to one component per Output (MATCH is fine)")
        for output, _on, _off in self.running:
            if _wildcards(output.component_id):
                raise TypeError(f"streaming callback {self.name}: running= output {output} has a wildcard id; "
                                "use a fixed id")
        if not self.inputs:
            raise TypeError(f"streaming callback {self.name} needs at least one Input")


def _wildcards(component_id: Any) -> set[str]:
    if not isinstance(component_id, dict):
        return set()
    return {value.value for value in component_id.values() if isinstance(value, Wildcard)}


def parse_component_id(text: str) -> str | dict:
    """A component id from Dash's string form (dict ids are JSON; wildcards are ``["MATCH"]``)."""
    if not text.startswith("{"):
        return text
    parsed = json.loads(text)
    return {key: WILDCARDS[value[0]] if isinstance(value, list) and len(value) == 1 and value[0] in WILDCARDS else value
            for key, value in parsed.items()}


class RunContext(TriggerContext):
    """What one run knows of its trigger: Dash's callback context, and the concrete MATCH values."""

    def __init__(self, stream: DashStream, values: Sequence[Any], page: dict | None) -> None:
        super().__init__(stream.inputs, stream.states, values, page)
        self.outputs = [self.concrete(o.component_id) for o in stream.outputs]
        self.dash_context["outputs_list"] = [{"id": cid, "property": o.component_property}
                                             for cid, o in zip(self.outputs, stream.outputs, strict=False)]

    def take_set_props(self) -> list[tuple[Any, dict]]:
        updated, self.dash_context["updated_props"] = self.dash_context["updated_props"], {}
        return [(parse_component_id(cid) if isinstance(cid, str) else cid, dict(props)) for cid, props in updated.items()]


def updates_of(stream: DashStream, run: RunContext, value: Any, *, check_shape: bool = True) -> StreamProps | None:
    """One yielded (or on_error) value as a stream update; None when nothing changes."""
    if stream.grouping is None:
        flat = [value]
    else:
        if check_shape:
            _check_shape(stream, value)
        flat = flatten_grouping(value, stream.grouping)
    by_component: dict[str, tuple[Any, dict]] = {}
    for output, cid, item in zip(stream.outputs, run.outputs, flat, strict=False):
        if not NoUpdate.is_no_update(item):
            _merge(by_component, cid, {output.component_property: item})
    for cid, props in run.take_set_props():
        _merge(by_component, cid, props)
    if not by_component:
        return None
    return StreamProps(tuple(by_component.values()))


def _merge(into: dict[str, tuple[Any, dict]], cid: Any, props: dict) -> None:
    key = json.dumps(cid, sort_keys=True)
    into.setdefault(key, (cid, {}))[1].update(props)


def _check_shape(stream: DashStream, value: Any) -> None:
    grouping = stream.grouping
    if isinstance(grouping, dict):
        if not (isinstance(value, dict) and set(value) == set(grouping)):
            raise TypeError(f"streaming callback {stream.name} yielded {value!r:.80}; "
                            f"expected a dict with keys {sorted(grouping)}")
    elif not (isinstance(value, (list, tuple)) and len(value) == len(grouping)):
        raise TypeError(f"streaming callback {stream.name} has {len(grouping)} Outputs and yielded {value!r:.80}; "
                        f"yield a list or tuple of {len(grouping)} values")


def running_props(stream: DashStream, which: int) -> StreamProps | None:
    """The ``running=`` values: ``which`` is 1 while running, 2 after."""
    if not stream.running:
        return None
    by_component: dict[str, tuple[Any, dict]] = {}
    for entry in stream.running:
        _merge(by_component, entry[0].component_id, {entry[0].component_property: entry[which]})
    return StreamProps(tuple(by_component.values()))


def _call_args(stream: DashStream, values: Sequence[Any]) -> tuple[list, dict]:
    return validate_and_group_input_args(list(values), stream.inputs_state_indices)


def _shown_on_error(stream: DashStream, run: RunContext, exc: Exception) -> StreamProps | None:
    """What ``on_error`` returns for ``exc``, as an update; re-raises when there is no handler."""
    if stream.on_error is None:
        raise exc
    shown = stream.on_error(exc)
    if shown is None:
        return updates_of(stream, run, _no_updates(stream), check_shape=False)
    return updates_of(stream, run, shown)


def _no_updates(stream: DashStream) -> Any:
    if stream.grouping is None:
        return no_update
    return [no_update] * len(stream.outputs) if not isinstance(stream.grouping, dict) else \
        {key: no_update for key in stream.grouping}


def as_event_callback(stream: DashStream) -> Callable[..., Any]:
    """A generator taking the Input and State values, then the page's trigger context (see page_config)."""
    stream.check()
    on, off = running_props(stream, 1), running_props(stream, 2)

    if inspect.isasyncgenfunction(stream.func):
        async def streaming(*args: Any) -> Any:
            run = RunContext(stream, args[:-1], args[-1])
            if on is not None:
                yield on
            run.enter()
            func_args, func_kwargs = _call_args(stream, args[:-1])
            gen = stream.func(*func_args, **func_kwargs)
            try:
                while True:
                    run.enter()
                    try:
                        value = await gen.__anext__()
                    except (StopAsyncIteration, PreventUpdate):
                        break
                    except Exception as exc:
                        shown = _shown_on_error(stream, run, exc)
                        if shown is not None:
                            yield shown
                        break
                    update = updates_of(stream, run, value)
                    if update is not None:
                        yield update
            finally:
                await gen.aclose()
            if off is not None:
                yield off
    else:
        def streaming(*args: Any) -> Any:
            run = RunContext(stream, args[:-1], args[-1])
            if on is not None:
                yield on
            run.enter()
            func_args, func_kwargs = _call_args(stream, args[:-1])
            gen = stream.func(*func_args, **func_kwargs)
            try:
                while True:
                    run.enter()  # each step may run in another worker thread
                    try:
                        value = next(gen)
                    except (StopIteration, PreventUpdate):
                        break
                    except Exception as exc:
                        shown = _shown_on_error(stream, run, exc)
                        if shown is not None:
                            yield shown
                        break
                    update = updates_of(stream, run, value)
                    if update is not None:
                        yield update
            finally:
                gen.close()
            if off is not None:
                yield off

    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(streaming, attribute, getattr(stream.func, attribute, None))
    return streaming

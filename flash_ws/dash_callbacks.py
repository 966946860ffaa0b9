"""Where Dash-style streaming callbacks come from: ``flash_ws.callback`` and Dash's own registries.

- ``flash_ws.callback`` has ``dash.callback``'s signature. A generator function (``async def`` or
  plain ``def`` with ``yield``; Dash 4.5 refuses the latter) becomes a flash_ws stream, with Dash's
  ``cancel=[Input(...)]`` honoured; any other function is handed to ``dash.callback`` unchanged.
- :func:`take_from_dash` moves the generator callbacks registered with ``dash.callback`` /
  ``app.callback`` out of Dash's callback map and list (so Dash neither lists them for its renderer
  nor streams them itself) and returns them as :class:`DashStream` s.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import dash
from dash._grouping import flatten_grouping, grouping_len, make_grouping_by_index
from dash.dependencies import Input, Output, State, handle_grouped_callback_args

from .callbacks import GLOBAL_EVENT_CALLBACKS, EventCallbackRegistry
from .dash_streaming import DashStream, as_event_callback, parse_component_id


def add_stream(registry: EventCallbackRegistry, stream: DashStream) -> None:
    """Register a Dash-style stream as an event callback (its id is module.qualname of the function)."""
    registry.register(as_event_callback(stream), (*stream.inputs, *stream.states), stream.options(), context_arg=True)


def callback(*args: Any, running: Any = None, cancel: Any = None, on_error: Callable[[Exception], Any] | None = None,
             **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``dash.callback``, whose generator functions stream over flash_ws (sync generators too)."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        if not (inspect.isasyncgenfunction(func) or inspect.isgeneratorfunction(func)):
            return dash.callback(*args, running=running, cancel=cancel, on_error=on_error, **kwargs)(func)
        unknown = set(kwargs) - {"output", "inputs", "state", "prevent_initial_call"}
        if unknown:
            raise TypeError(f"streaming callback {func.__module__}.{func.__qualname__}: "
                            f"{', '.join(sorted(unknown))} not supported on a flash_ws stream")
        output, inputs, states, indices, prevent = handle_grouped_callback_args(args, kwargs)
        outputs, grouping = _flat_outputs(output)
        cancels = cancel_inputs(func, cancel)
        add_stream(GLOBAL_EVENT_CALLBACKS, DashStream(
            func, outputs, grouping, tuple(inputs), tuple(states), indices, _running(running), cancels,
            on_error, prevent_initial_call=prevent is True))
        from .needs_flash import check_current_app

        check_current_app()
        return func

    return decorator


def _flat_outputs(output: Any) -> tuple[tuple[Output, ...], Any]:
    if isinstance(output, Output):
        return (output,), None
    return tuple(flatten_grouping(output)), make_grouping_by_index(output, list(range(grouping_len(output))))


def _running(running: Any) -> tuple[tuple[Output, Any, Any], ...]:
    if not running:
        return ()
    entries = running if isinstance(running[0], (list, tuple)) else [running]
    for entry in entries:
        if not (isinstance(entry, (list, tuple)) and len(entry) == 3 and isinstance(entry[0], Output)):
            raise TypeError(f"running entries are (Output, value while running, value after), got {entry!r:.80}")
    return tuple((e[0], e[1], e[2]) for e in entries)


def _dependency(kind: type, spec: dict) -> Any:
    return kind(parse_component_id(spec["id"]), spec["property"])


def _closure_value(wrapper: Any, name: str) -> Any:
    """A variable Dash's callback wrapper closes over (``on_error``: Dash keeps it nowhere else)."""
    code, cells = getattr(wrapper, "__code__", None), getattr(wrapper, "__closure__", None) or ()
    if code is None or name not in code.co_freevars:
        return None
    return cells[code.co_freevars.index(name)].cell_contents


def check_stream_outputs(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """At registration: refuse a streaming callback whose Outputs flash_ws cannot stream to (ALL,
    ALLSMALLER), as ``DashStream.check`` would when the app is first served."""
    output, inputs, states, indices, _prevent = handle_grouped_callback_args(args, dict(kwargs))
    outputs, grouping = _flat_outputs(output)
    DashStream(func, outputs, grouping, tuple(inputs), tuple(states), indices).check()


def cancel_inputs(func: Callable[..., Any], cancel: Any) -> tuple[Input, ...]:
    """A stream's ``cancel=`` as Inputs; TypeError naming ``func`` for anything else."""
    cancels = cancel if isinstance(cancel, (list, tuple)) else [cancel] if cancel is not None else []
    for entry in cancels:
        if not isinstance(entry, Input):
            raise TypeError(f"streaming callback {func.__module__}.{func.__qualname__}: cancel takes Inputs, got {entry!r}")
    return tuple(cancels)


def take_from_dash(callback_map: dict[str, Any], callback_list: list[dict], app_on_error: Any = None,
                   cancels: dict[Callable[..., Any], tuple[Input, ...]] | None = None) -> list[DashStream]:
    """Remove the generator callbacks from Dash's registries; return them as streams (with the
    ``cancel=`` Inputs ``Flash.callback`` kept for their functions, which Dash drops). Every stream
    is checked before anything is removed: one flash_ws cannot stream (an ALL Output) is refused
    with a TypeError naming it, each time this is called, and the app keeps all of its callbacks."""
    streams: list[tuple[str, DashStream]] = []
    for cb_id, entry in list(callback_map.items()):
        wrapper = entry.get("callback")
        func = getattr(wrapper, "__wrapped__", None)
        if func is None or not (inspect.isasyncgenfunction(func) or inspect.isgeneratorfunction(func)):
            continue
        spec = next((s for s in callback_list if s.get("output") == cb_id), {})
        running = spec.get("running") or {}
        running_entries = tuple((Output(*_split_prop(key)), value, running.get("runningOff", {}).get(key))
                                for key, value in running.get("running", {}).items())
        output = entry["output"]
        outputs = (output,) if isinstance(output, Output) else tuple(output)
        grouping = None if isinstance(output, Output) else entry.get("outputs_indices")
        streams.append((cb_id, DashStream(
            func, outputs, grouping, tuple(i for i in entry["raw_inputs"] if isinstance(i, Input)),
            tuple(_dependency(State, s) for s in entry["state"]), entry["inputs_state_indices"], running_entries,
            (cancels or {}).get(func, ()), _closure_value(wrapper, "on_error") or app_on_error,
            prevent_initial_call=spec.get("prevent_initial_call") is True)))
    for _cb_id, stream in streams:
        stream.check()
    for cb_id, _stream in streams:
        del callback_map[cb_id]
        callback_list[:] = [s for s in callback_list if s.get("output") != cb_id]
    return [stream for _cb_id, stream in streams]


def _split_prop(key: str) -> tuple[Any, str]:
    cid, prop = key.rsplit(".", 1)
    return parse_component_id(cid), prop

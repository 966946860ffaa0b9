"""The ``event_callback`` decorator and the registry of event callbacks."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, TypedDict, Unpack

from dash.dependencies import Input, Output, State, Wildcard

from .keywords import check_keywords
from .stream import StreamProps, _check_pair
from .trigger_context import match_keys

OnError = Callable[[Exception], Any]
BACKPRESSURE_MODES = ("wait", "latest")
MAX_ID_LENGTH = 256  # the codec caps a start frame's callback id


class CallbackKeywords(TypedDict, total=False):
    """The keywords ``event_callback`` takes (their meaning: ``CallbackOptions``), named for editors and
    type checkers."""

    cancel: Sequence[tuple[Input, Any]]
    reset_props: Sequence[tuple[Any, dict]]
    on_error: OnError | None
    prevent_initial_call: bool
    backpressure: str


@dataclass(frozen=True, kw_only=True)
class CallbackOptions:
    """How a run of an event callback starts, is cancelled, reset and reported: the keywords of
    ``event_callback`` and ``Flash.event_callback``.

    - ``cancel``: ``(Input, keep_value)`` pairs: while a run is active, a change of the input to a
      value other than ``keep_value`` cancels it;
    - ``reset_props``: ``(id, props)`` pairs applied when a run is cancelled or fails;
    - ``on_error(exception)`` may return ``stream_props`` to show the error;
    - ``prevent_initial_call``: no run when the page first renders the Inputs (the default);
    - ``backpressure``: when the page falls behind (its replay buffer is full), ``"wait"`` (the
      default) makes the next ``yield`` wait for room, so every update arrives; ``"latest"`` never
      waits and keeps only the latest value of each component property meanwhile (for endless
      streams of whole values, e.g. a figure or a text; not for ``extendData``, whose skipped
      points would be lost).
    """

    cancel: Sequence[tuple[Input, Any]] = ()
    reset_props: Sequence[tuple[Any, dict]] = ()
    on_error: OnError | None = None
    prevent_initial_call: bool = True
    backpressure: str = "wait"  # one of BACKPRESSURE_MODES

    def checked(self, where: str) -> CallbackOptions:
        """These options with their pairs as tuples; TypeError or ValueError names ``where`` and the mistake."""
        cancel = []
        for entry in self.cancel:
            if not (isinstance(entry, (tuple, list)) and len(entry) == 2 and isinstance(entry[0], Input)):
                raise TypeError(f"{where}: cancel entries are (Input(id, prop), keep_value) pairs, got {entry!r}")
            cancel.append((entry[0], entry[1]))
        try:
            resets = tuple(_check_pair(p) for p in self.reset_props)
        except TypeError as exc:
            raise TypeError(f"{where}: reset_props: {exc}") from None
        if self.on_error is not None and not callable(self.on_error):
            raise TypeError(f"{where}: on_error must be callable, got {self.on_error!r}")
        if self.backpressure not in BACKPRESSURE_MODES:
            raise ValueError(f"{where}: backpressure must be one of {', '.join(BACKPRESSURE_MODES)}, got {self.backpressure!r}")
        return replace(self, cancel=tuple(cancel), reset_props=resets, prevent_initial_call=bool(self.prevent_initial_call))


@dataclass(frozen=True, kw_only=True)
class EventCallback(CallbackOptions):
    """One decorated generator, what triggers it, and its (checked) options."""

    cb_id: str
    func: Callable[..., Any]
    inputs: tuple[Input, ...]
    states: tuple[State, ...]
    context_arg: bool = False  # the generator takes the page's trigger context (Dash-style callbacks, page_config.py)

    @property
    def name(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    @property
    def is_async(self) -> bool:
        return inspect.isasyncgenfunction(self.func)

    @property
    def arity(self) -> int:
        return len(self.inputs) + len(self.states) + self.context_arg

    def arity_refusal(self, args: list[Any]) -> str | None:
        """Why ``args`` cannot be this callback's arguments (their count), or None. The page's
        trigger context may follow the values of an event callback (``split_context``)."""
        if len(args) == self.arity or (not self.context_arg and len(args) == self.arity + 1):
            return None
        return (f"start of {self.name!r} carries {len(args)} values, expected {self.arity} "
                f"({len(self.inputs)} Input, {len(self.states)} State)")

    def split_context(self, args: list[Any]) -> tuple[list[Any], Any]:
        """The generator's arguments, and the page's trigger context when it came apart from them
        (an event callback's; a Dash-style callback takes it as its last argument)."""
        if not self.context_arg and len(args) == self.arity + 1:
            return args[:-1], args[-1]
        return args, None

    def reset_stream(self) -> StreamProps:
        return StreamProps(tuple(self.reset_props))


class EventCallbackRegistry:
    """Event callbacks by id; ids are stable across processes (module.qualname, then #2, #3...).

    Ids are at most ``MAX_ID_LENGTH`` characters: a longer name is cut and ends with a hash of it.
    """

    def __init__(self) -> None:
        self._callbacks: dict[str, EventCallback] = {}

    def __contains__(self, cb_id: object) -> bool:
        return cb_id in self._callbacks

    def __iter__(self):
        return iter(self._callbacks.values())

    def __len__(self) -> int:
        return len(self._callbacks)

    def get(self, cb_id: str) -> EventCallback | None:
        return self._callbacks.get(cb_id)

    def add(self, func: Callable[..., Any], dependencies: Sequence[Any], *, context_arg: bool = False,
            **options: Any) -> EventCallback:
        """Register ``func``; ``options`` are the fields of ``CallbackOptions``."""
        return self.register(func, dependencies, CallbackOptions(**options), context_arg)

    def register(self, func: Callable[..., Any], dependencies: Sequence[Any], options: CallbackOptions,
                 context_arg: bool = False) -> EventCallback:
        """Register ``func`` with ``options``; TypeError or ValueError says what is wrong with them."""
        return self._keep(_build(self._free_id(func), func, dependencies, options, context_arg))

    def move_into(self, other: EventCallbackRegistry) -> None:
        """Hand every callback to ``other`` (an app's registry), keeping ids unique there."""
        for callback in self._callbacks.values():
            other._keep(replace(callback, cb_id=other._free_id(callback.func)))
        self._callbacks.clear()

    def _free_id(self, func: Callable[..., Any]) -> str:
        base = f"{func.__module__}.{func.__qualname__}"
        if len(base) > MAX_ID_LENGTH - 8:
            base = base[:MAX_ID_LENGTH - 30] + "~" + hashlib.sha256(base.encode()).hexdigest()[:16]
        cb_id, n = base, 1
        while cb_id in self._callbacks:
            n += 1
            cb_id = f"{base}#{n}"
        return cb_id

    def _keep(self, callback: EventCallback) -> EventCallback:
        self._callbacks[callback.cb_id] = callback
        return callback


GLOBAL_EVENT_CALLBACKS = EventCallbackRegistry()
OPTION_NAMES = tuple(f.name for f in fields(CallbackOptions))


def callback_options(call: str, options: Mapping[str, Any]) -> CallbackOptions:
    """``options`` as ``CallbackOptions``; an unknown keyword is refused naming ``call`` and the
    closest option."""
    check_keywords(call, options, OPTION_NAMES)
    return CallbackOptions(**options)


def _build(cb_id: str, func: Callable[..., Any], dependencies: Sequence[Any], options: CallbackOptions,
           context_arg: bool) -> EventCallback:
    where = f"event callback {func.__module__}.{func.__qualname__}"
    if not (inspect.isasyncgenfunction(func) or inspect.isgeneratorfunction(func)):
        raise TypeError(f"{where} must be a generator (async def with yield, or def with yield) that yields stream_props(...)")
    inputs = tuple(d for d in dependencies if isinstance(d, Input))
    states = tuple(d for d in dependencies if isinstance(d, State))
    for dep in dependencies:
        if isinstance(dep, Output):
            raise TypeError(f"{where}: event callbacks have no Output ({dep}); yield stream_props(id, props) instead")
        if not isinstance(dep, (Input, State)):
            raise TypeError(f"{where}: expected Input or State dependencies, got {dep!r}")
    if not inputs:
        raise TypeError(f"{where} needs at least one Input")
    if any(isinstance(d, Input) for d in dependencies[len(inputs):]):
        raise TypeError(f"{where}: list every Input before the States")
    checked = options.checked(where)
    _check_match(where, inputs, checked.cancel, checked.reset_props)
    return EventCallback(cb_id=cb_id, func=func, inputs=inputs, states=states, context_arg=bool(context_arg),
                         **{f.name: getattr(checked, f.name) for f in fields(CallbackOptions)})


def _check_match(where: str, inputs: Sequence[Input], cancel: Sequence[tuple[Input, Any]],
                 reset_props: Sequence[tuple[Any, dict]]) -> None:
    """A MATCH cancel Input stops the run of its own instance: its MATCH keys must be the Inputs';
    a reset id may have MATCH for those keys (the instance's value), and no other wildcard."""
    own = match_keys(inputs)
    for cid, _props in reset_props:
        wildcards = {k: v.value for k, v in cid.items() if isinstance(v, Wildcard)} if isinstance(cid, dict) else {}
        wrong = {k: v for k, v in wildcards.items() if v != "MATCH" or own is None or k not in own[1]}
        if wrong:
            raise TypeError(f"{where}: reset_props id {cid} has {', '.join(f'{v} for {k!r}' for k, v in wrong.items())}; "
                            f"a reset id may use MATCH only for the keys the callback's Inputs MATCH "
                            f"({list(own[1]) if own else 'none'})")
    for cancel_input, _keep in cancel:
        keys = match_keys([cancel_input])
        if keys is not None and (own is None or keys[1] != own[1]):
            theirs = f"MATCH {list(own[1])}" if own is not None else "no MATCH"
            raise TypeError(f"{where}: cancel Input {cancel_input} has MATCH {list(keys[1])} but the callback's Inputs have "
                            f"{theirs}; a MATCH cancel stops the run of the same instance, so its keys must be the same")


def event_callback(*dependencies: Any, **options: Unpack[CallbackKeywords]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a generator as an event callback that streams ``stream_props`` to the page.

    ``dependencies`` are ``Input`` then ``State`` objects; the generator receives their values in
    that order. ``options`` are the fields of ``CallbackOptions``: ``cancel``, ``reset_props``,
    ``on_error``, ``prevent_initial_call``, ``backpressure``.
    """
    given = callback_options("event_callback", options)

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        GLOBAL_EVENT_CALLBACKS.register(func, dependencies, given)
        from .needs_flash import check_current_app

        check_current_app()
        return func

    return decorator

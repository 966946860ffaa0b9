"""What the page needs to know about the event callbacks: trigger groups and reset props.

Dash gives two no-output clientside callbacks with the same Inputs the same callback id, so the
Inputs of all event callbacks and cancel entries are grouped: one clientside callback per distinct
Input list, with the union of the States of its members (docs/protocol.md, "Page config").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dash._utils import to_json
from dash.dependencies import Input, State, Wildcard

from .callbacks import EventCallback
from .server.settings import Settings
from .trigger_context import match_keys

Match = tuple[int, tuple[str, ...]] | None  # the group Input whose id has MATCH wildcards, and their keys


def _match_config(match: Match, context_index: int) -> dict[str, Any]:
    """Where the page finds a run's instance (docs/protocol.md, "Run identity"): the MATCH values
    of the id Dash's renderer resolved for one Input, in the trigger context it hands the group."""
    if match is None:
        return {}
    return {"match": {"context": context_index, "input": match[0], "keys": list(match[1])}}


@dataclass(frozen=True)
class StartAction:
    """Start ``cb`` with the group's values at ``args`` (indices into the group's Inputs then
    States), then the page's trigger context; ``initial``: on the initial call too; ``match``: its
    instance key comes from these MATCH values."""

    cb: str
    args: tuple[int, ...]
    initial: bool
    match: Match = None

    def config(self, context_index: int) -> dict[str, Any]:
        """The action as the page reads it (the context comes after every State of the group)."""
        return {"kind": "start", "cb": self.cb, "args": [*self.args, context_index], "initial": self.initial,
                **_match_config(self.match, context_index)}


@dataclass(frozen=True)
class CancelAction:
    """Cancel ``cb``'s active runs when the group's value at ``arg`` changes to anything but ``keep``
    (a JSON value): with ``match``, only the run of the instance whose cancel Input changed."""

    cb: str
    keep: Any
    arg: int = 0
    match: Match = None

    def config(self, context_index: int) -> dict[str, Any]:
        return {"kind": "cancel", "cb": self.cb, "arg": self.arg, "keep": self.keep, **_match_config(self.match, context_index)}


GroupAction = StartAction | CancelAction


@dataclass
class TriggerGroup:
    key: str
    inputs: list[Input]
    states: list[State] = field(default_factory=list)
    actions: list[GroupAction] = field(default_factory=list)

    def state_index(self, state: State) -> int:
        for index, known in enumerate(self.states):
            if str(known) == str(state):
                return len(self.inputs) + index
        self.states.append(state)
        return len(self.inputs) + len(self.states) - 1

    @property
    def prevent_initial_call(self) -> bool:
        return not any(isinstance(a, StartAction) and a.initial for a in self.actions)

    def config(self) -> list[dict[str, Any]]:
        """The group's actions as the page config carries them (docs/protocol.md, "Page config")."""
        context_index = len(self.inputs) + len(self.states)
        return [action.config(context_index) for action in self.actions]

    def clientside_function(self) -> str:
        # The values, then the trigger context: which inputs triggered, and the concrete ids of
        # wildcard inputs and states (for a run's instance and dash.ctx), without their values.
        values = ("Array.prototype.slice.call(arguments).concat([c?{t:c.triggered.map(function(x){return x.prop_id;}),"
                  "i:ids(c.inputs_list),s:ids(c.states_list)}:null])")
        return ("function(){var c=window.dash_clientside&&window.dash_clientside.callback_context;"
                "function ids(l){return (l||[]).map(function(e){return Array.isArray(e)?ids(e):{id:e.id,property:e.property};});}"
                f"window.flash_ws.fire({json.dumps(self.key)},{values},c?c.triggered:[]);}}")


def _group_for(groups: dict[str, TriggerGroup], inputs: Iterable[Input]) -> TriggerGroup:
    inputs = list(inputs)
    signature = ".".join(str(i) for i in inputs)
    group = groups.get(signature)
    if group is None:
        key = "g" + hashlib.sha256(signature.encode()).hexdigest()[:12]
        group = groups[signature] = TriggerGroup(key, inputs)
    return group


def build_groups(callbacks: Iterable[EventCallback]) -> list[TriggerGroup]:
    groups: dict[str, TriggerGroup] = {}
    callbacks = list(callbacks)
    for cb in callbacks:
        group = _group_for(groups, cb.inputs)
        args = (*range(len(cb.inputs)), *(group.state_index(s) for s in cb.states))
        group.actions.append(StartAction(cb.cb_id, args, not cb.prevent_initial_call, match_keys(cb.inputs)))
    for cb in callbacks:
        for cancel_input, keep in cb.cancel:
            _group_for(groups, [cancel_input]).actions.append(
                CancelAction(cb.cb_id, json.loads(to_json(keep)), match=match_keys([cancel_input])))
    return list(groups.values())


def page_config(callbacks: Iterable[EventCallback], groups: Iterable[TriggerGroup], base_url: str,
                settings: Settings) -> dict[str, Any]:
    """The ``flash_ws`` member of Dash's page config (``base_url`` ends with ``_flash_ws/``)."""
    return {
        "v": 1,
        "ws_url": base_url + "ws",
        "sse_url": base_url + "sse",
        "post_url": base_url + "post",
        "transport": settings.transport,
        "callbacks": {cb.cb_id: {"name": cb.name, "reset": _reset_config(cb)} for cb in callbacks},
        "groups": {g.key: g.config() for g in groups},
        "ack_interval_ms": settings.ack_interval_ms,
        "ack_every": settings.ack_every,
        "ack_bytes": max(1, settings.limits.replay_buffer_bytes // 4),  # a producer never waits for a timed ack
        "heartbeat_ms": int(settings.heartbeat_interval * 1000),
        "heartbeat_timeout_ms": int(settings.heartbeat_timeout * 1000),
        "resume_grace_ms": int(settings.resume_grace * 1000),  # past it without a welcome, the page ends its runs
        "ws_timeout_ms": int(settings.ws_timeout * 1000),
        "ws_retry_after_ms": int(settings.ws_retry_after * 1000),
        "stall_warning_ms": int(settings.stall_warning * 1000),
        **({"shared_url": base_url + "shared", "posts_url": base_url + "posts"} if settings.shared_event_stream else {}),
    }


def _reset_config(cb: EventCallback) -> list[Any]:
    """The callback's reset props as the page applies them; a MATCH in an id is Dash's ``["MATCH"]``,
    which the page makes the instance's value (client/src/instances.js)."""
    pairs = [[{k: [v.value] if isinstance(v, Wildcard) else v for k, v in cid.items()} if isinstance(cid, dict) else cid, props]
             for cid, props in cb.reset_props]
    return json.loads(to_json(pairs))

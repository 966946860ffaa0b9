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
from dash.dependencies import Input, State

from .callbacks import EventCallback
from .server.settings import Settings


CONTEXT = object()  # placeholder for the index of the trigger context in a start action's args


@dataclass
class TriggerGroup:
    key: str
    inputs: list[Input]
    states: list[State] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    sends_context: bool = False  # the page appends its trigger context after the States

    def state_index(self, state: State) -> int:
        for index, known in enumerate(self.states):
            if str(known) == str(state):
                return len(self.inputs) + index
        self.states.append(state)
        return len(self.inputs) + len(self.states) - 1

    @property
    def prevent_initial_call(self) -> bool:
        return not any(a.get("initial") for a in self.actions)

    def clientside_function(self) -> str:
        values = "Array.prototype.slice.call(arguments)"
        if self.sends_context:
            # Dash-style callbacks: which inputs triggered, and the concrete ids of wildcard inputs
            # and states (for MATCH outputs and dash.ctx), without their values (sent once already).
            values += ".concat([c?{t:c.triggered.map(function(x){return x.prop_id;}),i:ids(c.inputs_list),s:ids(c.states_list)}:null])"
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
        args: list[Any] = list(range(len(cb.inputs))) + [group.state_index(s) for s in cb.states]
        if cb.context_arg:
            group.sends_context = True
            args.append(CONTEXT)
        group.actions.append({"kind": "start", "cb": cb.cb_id, "args": args, "initial": not cb.prevent_initial_call})
    for cb in callbacks:
        for cancel_input, keep in cb.cancel:
            group = _group_for(groups, [cancel_input])
            group.actions.append({"kind": "cancel", "cb": cb.cb_id, "arg": 0, "keep": json.loads(to_json(keep))})
    for group in groups.values():  # the context comes after every State of the group
        context_index = len(group.inputs) + len(group.states)
        for action in group.actions:
            if action["kind"] == "start":
                action["args"] = [context_index if a is CONTEXT else a for a in action["args"]]
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
        "callbacks": {cb.cb_id: {"name": cb.name, "reset": json.loads(cb.reset_stream().to_json())} for cb in callbacks},
        "groups": {g.key: g.actions for g in groups},
        "ack_interval_ms": settings.ack_interval_ms,
        "ack_every": settings.ack_every,
        "heartbeat_ms": int(settings.heartbeat_interval * 1000),
        "heartbeat_timeout_ms": int(settings.heartbeat_timeout * 1000),
        "ws_timeout_ms": int(settings.ws_timeout * 1000),
        "ws_retry_after_ms": int(settings.ws_retry_after * 1000),
        "stall_warning_ms": int(settings.stall_warning * 1000),
        **({"shared_url": base_url + "shared", "posts_url": base_url + "posts"} if settings.shared_event_stream else {}),
    }

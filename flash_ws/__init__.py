"""flash_ws: Flash's event callbacks for Dash, over one multiplexed WebSocket per page.

    from flash_ws import Flash, event_callback, stream_props, Input, State

Names are resolved on first use, so ``import flash_ws.protocol`` (the sans-I/O core, which the
Python client and the tests use on their own) loads no Dash, web framework or server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_FROM_DASH = ("ALL", "ALLSMALLER", "MATCH", "Input", "Output", "Patch", "State", "clientside_callback", "ctx",
              "dash_table", "dcc", "html", "no_update")
_LAZY: dict[str, str] = {
    **{name: "dash" for name in _FROM_DASH},
    "Flash": "flash_ws.app",
    "event_callback": "flash_ws.callbacks",
    "callback": "flash_ws.dash_callbacks",
    "StreamProps": "flash_ws.stream",
    "stream_props": "flash_ws.stream",
}

__all__ = [
    "ALL", "ALLSMALLER", "MATCH", "Flash", "Input", "Output", "Patch", "State", "StreamProps",
    "__version__", "callback", "clientside_callback", "ctx", "dash_table", "dcc", "event_callback", "html",
    "no_update", "stream_props",
]

if TYPE_CHECKING:
    from dash import (
        ALL,
        ALLSMALLER,
        MATCH,
        Input,
        Output,
        Patch,
        State,
        clientside_callback,
        ctx,
        dash_table,
        dcc,
        html,
        no_update,
    )

    from .app import Flash
    from .callbacks import event_callback
    from .dash_callbacks import callback
    from .stream import StreamProps, stream_props


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flash_ws' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

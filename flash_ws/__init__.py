"""flash_ws: Flash's event callbacks for Dash, over one multiplexed WebSocket per page.

    from flash_ws import Flash, event_callback, stream_props, Input, State
"""

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

__version__ = "0.1.0"

__all__ = [
    "ALL", "ALLSMALLER", "MATCH", "Flash", "Input", "Output", "Patch", "State", "StreamProps",
    "__version__", "callback", "clientside_callback", "ctx", "dash_table", "dcc", "event_callback", "html",
    "no_update", "stream_props",
]

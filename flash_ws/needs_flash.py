"""flash_ws's callbacks (``event_callback``, ``flash_ws.callback``) stream only on a ``Flash`` app:
on a plain ``dash.Dash`` nothing would serve them and the page's buttons would do nothing. Refused
loudly, in whichever order the app and the callbacks are made: when a callback is registered
after a plain app was made, and when a plain app is made after callbacks were registered."""

from __future__ import annotations

import weakref
from typing import Any

import dash
from dash import hooks

from .callbacks import GLOBAL_EVENT_CALLBACKS

FLASH_APPS: weakref.WeakSet[Any] = weakref.WeakSet()  # Flash apps of this process (a plain one may sit beside them)


def refuse_plain_dash(app: Any) -> None:
    """Raise TypeError when ``app`` is a plain Dash app, flash_ws callbacks wait for a Flash, and
    this process has none (a plain Dash app beside a Flash one is left alone)."""
    from .app import Flash

    if app is None or isinstance(app, Flash) or not len(GLOBAL_EVENT_CALLBACKS) or len(FLASH_APPS):
        return
    names = sorted(callback.name for callback in GLOBAL_EVENT_CALLBACKS)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    raise TypeError(f"flash_ws callbacks ({shown}) stream only on a flash_ws.Flash app, and this app is a plain "
                     f"{type(app).__module__}.{type(app).__qualname__}: make it with `from flash_ws import Flash` and "
                     "`app = Flash(__name__, ...)` (it takes every Dash argument)")


def check_current_app() -> None:
    """After a registration: the process's Dash app, if one was made already."""
    refuse_plain_dash(dash._get_app.APP)


@hooks.setup()
def _on_new_app(app: Any) -> None:  # every Dash app made after flash_ws was imported
    refuse_plain_dash(app)

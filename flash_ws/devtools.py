"""The dev-tools view: with Dash's dev tools UI on (``app.run(debug=True)``), a flash_ws entry in
Dash's debug menu shows the page's transport and why it was chosen, the round-trip time, reconnects
and replays, and the active runs with their update counts (client/src/devtools.js draws it).
Without the dev tools UI nothing of it reaches the page."""

from __future__ import annotations

from typing import Any

# An entry of Dash's ``dev_tools`` page config, as ``dash.hooks.devtool`` makes them, but for
# this app only: window.flash_ws_devtools.FlashWsDevtools is defined by the flash_ws bundle.
DEVTOOL = {"namespace": "flash_ws_devtools", "type": "FlashWsDevtools", "props": {}, "position": "right"}


def add_devtools_view(config: dict[str, Any]) -> None:
    """Add the view to a page config that has Dash's dev tools UI (``dev_tools``) and flash_ws."""
    if "dev_tools" in config and "flash_ws" in config:
        config["dev_tools"] = [*config["dev_tools"], DEVTOOL]
        config["flash_ws"]["devtools"] = True

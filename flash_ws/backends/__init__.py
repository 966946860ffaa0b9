"""One adapter per Dash server backend: each translates its framework's requests, WebSockets and
responses to and from the framework-free core (``flash_ws.server``), and nothing else.

``install(app)`` adds the transport's routes (``ws``, ``sse``, ``post``, ``shared``, ``posts``,
``health``, ``metrics`` under ``<prefix>_flash_ws/``), the browser-key cookie on the app's pages and
the service's start and stop to ``app.server``, and sets ``app.asgi``, the ASGI app to serve (the
server itself on Quart and FastAPI; on Flask, a front that serves the transport and passes the rest
to the Flask app).
"""

from __future__ import annotations

import importlib
from typing import Any

ADAPTERS = {"quart": "flash_ws.backends.quart", "fastapi": "flash_ws.backends.fastapi", "flask": "flash_ws.backends.flask"}


def adapter_for(backend: str) -> Any:
    """The adapter module of a Dash backend name; ValueError names the supported ones."""
    if backend not in ADAPTERS:
        raise ValueError(f"Flash runs on Dash's {' and '.join(repr(b) for b in ADAPTERS)} backends; "
                         f"backend={backend!r} is not supported yet")
    return importlib.import_module(ADAPTERS[backend])

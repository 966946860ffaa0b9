"""Routes a test app adds to its server to show what happened server side (and that user routes work)."""

from __future__ import annotations

from collections import Counter

from quart import Quart, jsonify

EVENTS: Counter[str] = Counter()


def install(server: Quart) -> None:
    @server.route("/test/events")
    async def events():  # a user route on app.server: must keep working beside flash_ws
        return jsonify(dict(EVENTS))

"""The basic test app, plus what the budget and error-masking tests read or run: each session's
queued control bytes and the worker's pid (its RSS is read from /proc), a callback whose
exception text carries a secret, and debug from ``FLASH_WS_TEST_DEBUG``."""

import os

from flash_ws import Input, event_callback
from tests.apps import probe
from tests.apps.basic import app

server = app.server
app.flash_ws.debug = os.environ.get("FLASH_WS_TEST_DEBUG") == "1"  # as the lead's app.run(debug=True) sets it
SECRET_URL = "postgresql://app:S3cretPw@db"


@probe.route(app, "/test/control")
async def control():
    return {"pid": os.getpid(), "sessions": [
        {"sid": live.token.split(".", 1)[0], "control_bytes": live.core.queued_control_bytes(),
         "buffered_bytes": live.core.replay.bytes,
         "refused": live.core.refused_frames} for live in app.flash_ws.store]}


def note_error(exc: Exception) -> None:
    """on_error: records what it received; shows nothing on the page."""
    probe.EVENTS[f"on_error got {type(exc).__name__}"] += 1
    if "S3cretPw" in str(exc):
        probe.EVENTS["on_error saw the secret"] += 1


@event_callback(Input("go", "spellCheck"), on_error=note_error)
async def leaks(_):
    raise RuntimeError(f"could not connect to {SECRET_URL}")
    yield  # an event callback is a generator

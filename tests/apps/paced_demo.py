"""The demo app with its token answers paced at 12-20 tokens per second (10 s or so an answer,
instead of 1.5-5 s): long enough that two answers started by two clicks overlap on any machine, so
a test can see both stream at once however slowly the second click lands."""

from flash_ws.demo import tokens

tokens.MIN_DELAY, tokens.MAX_DELAY = 0.05, 0.08

from flash_ws.demo.app import app, server  # noqa: E402  (the pace is set before the app exists)

__all__ = ["app", "server"]

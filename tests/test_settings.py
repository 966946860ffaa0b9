"""One settings object owns every option's default and validation: ``Flash``'s keywords take their
defaults from ``Settings`` (and the protocol's ``Limits``, its ``limits``), and a bad
value is refused by the setting's name, whichever object checks it."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from flash_ws import Flash
from flash_ws.protocol import Limits
from flash_ws.server.settings import Settings


def test_a_flash_made_without_options_has_exactly_the_settings_defaults(monkeypatch) -> None:
    monkeypatch.delenv("FLASH_WS_REDIS_URL", raising=False)
    monkeypatch.delenv("FLASH_WS_METRICS", raising=False)
    monkeypatch.delenv("FLASH_WS_METRICS_TOKEN", raising=False)
    app = Flash(__name__)
    assert app.flash_ws_settings == Settings()


def test_every_keyword_default_is_read_from_the_settings_objects() -> None:
    """Each of Flash's own keywords that has a settings field defaults to that field's default (None
    means "read the environment": ``redis_url``, ``metrics``, ``metrics_token``)."""
    owners = {**{name: Limits for name in Limits.__dataclass_fields__},
              **{name: Settings for name in Settings.__dataclass_fields__ if name != "limits"}}
    checked = 0
    for name, parameter in inspect.signature(Flash.__init__).parameters.items():
        if name in owners and parameter.default is not None:
            field = owners[name].__dataclass_fields__[name]
            if field.default is not dataclasses.MISSING:
                assert parameter.default == field.default, name
                checked += 1
    assert checked >= 25


@pytest.mark.parametrize(("keyword", "value"), [
    ("max_active_runs", 0), ("replay_buffer_bytes", -1), ("resume_grace", -1.0), ("heartbeat_interval", 0.0),
    ("max_sessions", 0), ("post_body_timeout", 0.0), ("ws_compress_min_bytes", -1), ("shutdown_grace", -1.0),
    ("transport", "carrier-pigeon"), ("max_starts_per_second", 0.0), ("start_burst", 0), ("replay_memory_per_address", 0),
    ("stalled_session_timeout", 0.0),
])
def test_a_bad_value_is_refused_naming_its_setting(keyword: str, value: object) -> None:
    with pytest.raises(ValueError, match=keyword):
        Flash(__name__, **{keyword: value})


async def test_the_json_log_format_applies_when_the_app_starts_serving_not_when_it_is_made() -> None:
    import logging

    from flash_ws.logs import JsonFormatter
    from tests.asgi import AsgiClient

    logger = logging.getLogger("flash_ws")
    saved = (list(logger.handlers), logger.level, logger.propagate)

    def json_handlers() -> int:
        return sum(isinstance(handler.formatter, JsonFormatter) for handler in logger.handlers)

    logger.handlers = [handler for handler in logger.handlers if not isinstance(handler.formatter, JsonFormatter)]
    try:
        app = Flash(__name__, log_format="json")
        assert json_handlers() == 0  # made, not serving: logging is as the process configured it
        client = AsgiClient(app.asgi)
        await client.start()
        try:
            assert json_handlers() == 1
        finally:
            await client.stop()
    finally:
        logger.handlers, logger.level, logger.propagate = saved
